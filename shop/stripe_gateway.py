"""Every call this shop makes to Stripe's API, in one small module.

Tests point ``STRIPE_API_BASE`` at a local stand-in; nothing else changes.
The stripe library is imported by the first call that needs it (it costs more than
Flask itself at a cold start, and most requests never call Stripe): only ``_stripe()``
imports it, and only ``_call`` names its errors. No module-level ``stripe`` name exists,
not even for type checking, so a method that names ``stripe.X`` without the import is an
undefined name ruff refuses (tests/test_stripe_gateway.py holds it).
"""

from __future__ import annotations

from typing import Any

from shop.errors import PaymentProviderError

_TIMEOUT_SECONDS = 10


class StripeGateway:
    def __init__(self, api_key: str | None, api_base: str | None = None, timeout: float = _TIMEOUT_SECONDS):
        self.api_key = api_key
        self.api_base = api_base
        self.timeout = timeout
        self._client: Any = None  # stripe.StripeClient, made on first use

    @property
    def configured(self) -> bool:
        return bool(self.api_key)

    def client(self) -> Any:
        """The StripeClient (made on first use)."""
        if not self.api_key:
            raise PaymentProviderError("STRIPE_SECRET_KEY is not set; set it to the shop's secret API key (sk_...)")
        if self._client is None:
            stripe = _stripe()
            options = {"base_addresses": {"api": self.api_base}} if self.api_base else {}
            self._client = stripe.StripeClient(
                self.api_key,
                max_network_retries=1,
                http_client=stripe.new_default_http_client(timeout=self.timeout),
                **options,
            )
        return self._client

    def create_checkout_session(self, params: dict, idempotency_key: str) -> dict:
        """Create a Checkout Session; the key makes a retried call return the same session."""
        sessions = self.client().v1.checkout.sessions
        return _call(
            lambda: sessions.create(params, {"idempotency_key": idempotency_key}).to_dict(),
            "Stripe could not start the checkout",
        )

    def expire_session(self, session_id: str) -> dict | None:
        """Expire an open session (the shopper cancelled); None if it is no longer open."""
        sessions = self.client().v1.checkout.sessions
        # Refused: already complete or expired, nothing to cancel.
        return _call(
            lambda: sessions.expire(session_id).to_dict(), f"Stripe could not expire {session_id}", refused=None
        )

    def create_refund(self, payment_intent: str, amount: int | None, metadata: dict, idempotency_key: str) -> dict:
        """Refund a payment, all of it (``amount`` None) or part; the key makes a repeated click one refund."""
        params = {"payment_intent": payment_intent, "metadata": metadata}
        if amount is not None:
            params["amount"] = amount
        refunds = self.client().v1.refunds
        return _call(
            lambda: refunds.create(params, {"idempotency_key": idempotency_key}).to_dict(),
            f"Stripe could not refund {payment_intent}",
            refused="Stripe refused the refund: {reason}",
        )

    def retrieve_session(self, session_id: str) -> dict:
        sessions = self.client().v1.checkout.sessions
        return _call(
            lambda: sessions.retrieve(session_id).to_dict(),
            f"Stripe could not be asked about {session_id}",
            refused=f"Stripe has no checkout {session_id}",
        )

    def _list(self, fetch, params: dict, what: str) -> list[dict]:
        """Every object of a Stripe list (``fetch(params)`` gets one page), following starting_after."""

        def every_page() -> list[dict]:
            found: list[dict] = []
            page_params = {**params, "limit": 100}
            while True:
                page = fetch(page_params).to_dict()
                data = page.get("data") or []
                found.extend(data)
                if not page.get("has_more") or not data:
                    return found
                page_params = {**page_params, "starting_after": data[-1]["id"]}

        return _call(every_page, f"Stripe could not list {what}")

    def completed_sessions(self, created_gte: int) -> list[dict]:
        """Checkout Sessions completed since a time (unix seconds)."""
        return self._list(
            self.client().v1.checkout.sessions.list,
            {"status": "complete", "created": {"gte": created_gte}},
            "Checkout Sessions",
        )

    def undelivered_events(self, types: list[str], created_gte: int) -> list[dict]:
        """Events of these types that Stripe could not deliver to a webhook endpoint."""
        return self._list(
            self.client().v1.events.list,
            {"types": types, "delivery_success": False, "created": {"gte": created_gte}},
            "events",
        )

    def webhook_endpoints(self) -> list[dict]:
        return self._list(self.client().v1.webhook_endpoints.list, {}, "webhook endpoints")

    def session_line_items(self, session_id: str) -> list[dict]:
        """All line items of a Checkout Session, with price and product expanded."""
        line_items = self.client().v1.checkout.sessions.line_items
        return self._list(
            lambda params: line_items.list(session_id, params),
            {"expand": ["data.price.product"]},
            f"the line items of {session_id}",
        )


_RAISE = object()


def _stripe():
    """The stripe module, imported on first use: the one place this module imports it."""
    import stripe

    return stripe


def _call(call, failed: str, *, refused: Any = _RAISE):
    """Run one Stripe call; every Stripe error becomes a PaymentProviderError saying what failed.

    Args:
        call: the call, without arguments.
        failed: what could not be done, e.g. "Stripe could not refund pi_..."; Stripe's reason follows it.
        refused: what a refusal of the request itself (InvalidRequestError) means: left out, a failure like
            any other; a text, a PaymentProviderError that is not retryable, with that message (``{reason}``
            stands for Stripe's); None, an answer of None.
    Raises:
        PaymentProviderError: ``retryable`` True for connection trouble, Stripe's 429 and 5xx.
    """
    stripe = _stripe()
    try:
        return call()
    except stripe.InvalidRequestError as e:
        if refused is None:
            return None
        if isinstance(refused, str):
            raise PaymentProviderError(refused.replace("{reason}", str(e.user_message or e)), retryable=False) from e
        raise PaymentProviderError(f"{failed}: {e.user_message or e}", retryable=_retryable(e)) from e
    except stripe.StripeError as e:
        raise PaymentProviderError(f"{failed}: {e.user_message or e}", retryable=_retryable(e)) from e


def _retryable(error) -> bool:
    """Connection trouble and Stripe's own 5xx/429 pass; a bad key or unknown session does not."""
    stripe = _stripe()

    if isinstance(error, (stripe.APIConnectionError, stripe.RateLimitError)):
        return True
    return (error.http_status or 500) >= 500
