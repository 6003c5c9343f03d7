"""Every call this shop makes to Stripe's API, in one small module.

Tests point ``STRIPE_API_BASE`` at a local stand-in; nothing else changes.
The stripe library is imported by the first call that needs it (it costs more than
Flask itself at a cold start, and most requests never call Stripe).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from shop.errors import PaymentProviderError

if TYPE_CHECKING:
    import stripe

_TIMEOUT_SECONDS = 10


class StripeGateway:
    def __init__(self, api_key: str | None, api_base: str | None = None, timeout: float = _TIMEOUT_SECONDS):
        self.api_key = api_key
        self.api_base = api_base
        self.timeout = timeout
        self._client: stripe.StripeClient | None = None

    @property
    def configured(self) -> bool:
        return bool(self.api_key)

    def client(self) -> stripe.StripeClient:
        if not self.api_key:
            raise PaymentProviderError("STRIPE_SECRET_KEY is not set; set it to the shop's secret API key (sk_...)")
        if self._client is None:
            import stripe

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
        import stripe

        try:
            session = self.client().v1.checkout.sessions.create(params, {"idempotency_key": idempotency_key})
        except stripe.StripeError as e:
            raise PaymentProviderError(
                f"Stripe could not start the checkout: {e.user_message or e}", retryable=_retryable(e)
            ) from e
        return session.to_dict()

    def expire_session(self, session_id: str) -> dict | None:
        """Expire an open session (the shopper cancelled); None if it is no longer open."""
        import stripe

        try:
            return self.client().v1.checkout.sessions.expire(session_id).to_dict()
        except stripe.InvalidRequestError:
            return None  # already complete or expired: nothing to cancel
        except stripe.StripeError as e:
            raise PaymentProviderError(
                f"Stripe could not expire {session_id}: {e.user_message or e}", retryable=_retryable(e)
            ) from e

    def create_refund(self, payment_intent: str, amount: int | None, metadata: dict, idempotency_key: str) -> dict:
        """Refund a payment, all of it (``amount`` None) or part; the key makes a repeated click one refund."""
        import stripe

        params = {"payment_intent": payment_intent, "metadata": metadata}
        if amount is not None:
            params["amount"] = amount
        try:
            refund = self.client().v1.refunds.create(params, {"idempotency_key": idempotency_key})
        except stripe.InvalidRequestError as e:
            raise PaymentProviderError(f"Stripe refused the refund: {e.user_message or e}", retryable=False) from e
        except stripe.StripeError as e:
            raise PaymentProviderError(
                f"Stripe could not refund {payment_intent}: {e.user_message or e}", retryable=_retryable(e)
            ) from e
        return refund.to_dict()

    def retrieve_session(self, session_id: str) -> dict:
        import stripe

        try:
            return self.client().v1.checkout.sessions.retrieve(session_id).to_dict()
        except stripe.InvalidRequestError as e:
            raise PaymentProviderError(f"Stripe has no checkout {session_id}", retryable=False) from e
        except stripe.StripeError as e:
            raise PaymentProviderError(
                f"Stripe could not be asked about {session_id}: {e.user_message or e}", retryable=_retryable(e)
            ) from e

    def _list(self, fetch, params: dict, what: str) -> list[dict]:
        """Every object of a Stripe list (``fetch(params)`` gets one page), following starting_after."""
        found: list[dict] = []
        params = {**params, "limit": 100}
        import stripe

        try:
            while True:
                page = fetch(params).to_dict()
                data = page.get("data") or []
                found.extend(data)
                if not page.get("has_more") or not data:
                    return found
                params = {**params, "starting_after": data[-1]["id"]}
        except stripe.StripeError as e:
            raise PaymentProviderError(
                f"Stripe could not list {what}: {e.user_message or e}", retryable=_retryable(e)
            ) from e

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


def _retryable(error: stripe.StripeError) -> bool:
    """Connection trouble and Stripe's own 5xx/429 pass; a bad key or unknown session does not."""
    import stripe

    if isinstance(error, (stripe.APIConnectionError, stripe.RateLimitError)):
        return True
    return (error.http_status or 500) >= 500
