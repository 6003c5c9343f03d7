"""Start a Stripe Checkout with stock held for it, and end it when the shopper cancels.

The hold and the pending order are written in one script before Stripe is
asked for a session; if Stripe refuses or cannot be reached, the hold is
released in the same request, so no stock stays locked by a session that
never existed.
"""

from __future__ import annotations

import logging
import re
import time

from shop import releases
from shop.catalog import Catalog
from shop.config import Settings
from shop.errors import (
    BadRequest,
    Conflict,
    LinePassRequired,
    NotConfigured,
    NotFound,
    PaymentProviderError,
    StoreError,
    StoreUnavailable,
)
from shop.orders import check_order_id, new_order_id

log = logging.getLogger("shop.checkout")

MAX_QUANTITY = 10
MAX_LINES = 50
GRACE_SECONDS = 120  # Stripe refuses expires_at under 30 minutes from when it receives the call.
CHECKOUT_CLOSED = "Checkout is closed for a moment. Please try again later."
_IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")


def parse_cart(body, catalog: Catalog) -> dict[str, int]:
    """``{"items": [{"sku", "quantity"}]}`` -> {sku: quantity}, or BadRequest saying what is wrong."""
    if not isinstance(body, dict) or not isinstance(body.get("items"), list):
        raise BadRequest('send {"items": [{"sku": "balm-tee/M", "quantity": 1}]}')
    items = body["items"]
    if not items:
        raise BadRequest("the cart is empty: add at least one item")
    if len(items) > MAX_LINES:
        raise BadRequest(f"a cart holds at most {MAX_LINES} lines")
    lines: dict[str, int] = {}
    for n, line in enumerate(items, 1):
        if not isinstance(line, dict):
            raise BadRequest(f"item {n} must be an object with sku and quantity")
        sku, qty = line.get("sku"), line.get("quantity")
        if catalog.item(sku) is None:
            raise BadRequest(f"item {n}: unknown sku {sku!r}; reload the shop to see what is on sale")
        if isinstance(qty, bool) or not isinstance(qty, int) or not 1 <= qty <= MAX_QUANTITY:
            raise BadRequest(f"item {n} ({sku}): quantity must be a whole number from 1 to {MAX_QUANTITY}")
        lines[sku] = lines.get(sku, 0) + qty
        if lines[sku] > MAX_QUANTITY:
            raise BadRequest(f"{sku}: at most {MAX_QUANTITY} of one size per order")
    return lines


def check_idempotency_key(value: str | None) -> str | None:
    if value is not None and not _IDEMPOTENCY_KEY.match(value):
        raise BadRequest("Idempotency-Key must be 1 to 255 visible ASCII characters")
    return value


def customer_email(given, required: bool) -> str | None:
    """The cart's email, checked when given or needed (a product with a per-customer limit needs one)."""
    if given is not None and (not isinstance(given, str) or len(given) > 254):
        raise BadRequest("email must be your email address (like name@example.com), at most 254 characters")
    return releases.check_email(given) if required or given else None


class Checkout:
    def __init__(self, store, catalog: Catalog, gateway, settings: Settings, clock=time.time):
        self.store = store
        self.catalog = catalog
        self.gateway = gateway
        self.settings = settings
        # CHECKOUT_HOLD_MINUTES (30 or more) plus GRACE_SECONDS.
        self.hold_seconds = settings.checkout_hold_minutes * 60 + GRACE_SECONDS
        self.clock = clock
        self.line = None  # shop.line.Line: the 403 of a checkout without a pass names the shopper's position

    def start(
        self,
        body,
        *,
        base_url: str,
        idempotency_key: str | None = None,
        shopper_id: str | None = None,
        address: str = "unknown",
        passes: dict[str, str] | None = None,
    ) -> dict:
        """Judge the drop limits, hold the cart's stock, store the pending order, open a Checkout Session.

        ``shopper_id`` is the signed shopper cookie's id (None: a new shopper), ``address`` the client
        address every per-address limit counts. The shopper's earlier open checkout is released in the
        same script and its Stripe session expired afterwards.

        Returns: {"url", "order_id", "session_id"}.
        ``passes``: chapter -> the state of the shopper's line pass for it ('ok', 'expired', 'other_shopper');
        only 'ok' lets a cart through a chapter's running line.

        Raises: BadRequest (cart, email), Conflict (window, limits, stock), TooManyRequests (starts per
        address), Forbidden (a line runs and no valid pass: with the shopper's position), PaymentProviderError.
        """
        lines = parse_cart(body, self.catalog)
        check_idempotency_key(idempotency_key)
        product_limits = self.cart_limits(lines)
        email = customer_email(body.get("email"), bool(product_limits))
        if not self.gateway.configured:
            # The shopper cannot fix this; the owner reads the log (and Owner Mode's health page).
            log.error("checkout refused: STRIPE_SECRET_KEY is not set; set it to the shop's secret API key (sk_...)")
            raise NotConfigured(CHECKOUT_CLOSED)
        now = self.clock()
        order_id = new_order_id()
        hold_until = int(now) + self.hold_seconds
        items = self.catalog.order_items(lines)
        # A key is the shopper's own: another shopper's equal key is another checkout. Without a shopper
        # cookie (a script) the key is scoped to the client address, so a retry still gets its first answer.
        scope = f"shopper:{shopper_id}" if shopper_id else f"address:{address}"
        scoped_key = f"{scope}|{idempotency_key}" if idempotency_key else None
        request = self._hold_request(order_id, items, hold_until, email, product_limits, passes)
        held = self._hold(request, scoped_key, now, shopper_id, address, passes)
        if held.get("replay_of"):
            return self._replay(held["replay_of"])
        base = (self.settings.public_url or base_url).rstrip("/")
        params = self._session_params(order_id, items, email, hold_until, base)
        session = self._open_session(order_id, params, scoped_key, held.get("replaced"))
        log.info("checkout %s: session %s, hold until %s", order_id, session["id"], hold_until)
        if held.get("replaced"):
            self._end_replaced(held["replaced"], order_id)
        return {"url": session["url"], "order_id": order_id, "session_id": session["id"]}

    def _hold_request(
        self, order_id: str, items: list[dict], hold_until: int, email, product_limits: dict, passes
    ) -> dict:
        """What the hold script judges: the cart, its price, and every drop limit it enforces atomically."""
        limits = self.settings.limits
        return {
            "order_id": order_id,
            "items": items,
            "hold_until": hold_until * 1000,
            "amount_expected": sum(i["quantity"] * i["unit_amount"] for i in items),
            "currency": self.catalog.currency,
            "chapters": sorted({i["chapter"] for i in items}),
            "shopper_max_units": limits.shopper_max_held_units,
            "address_max_units": limits.address_max_held_units,
            "address_per_minute": limits.address_checkouts_per_minute,
            "email": email,
            "product_limits": product_limits,
            "passes": sorted(c for c, state in (passes or {}).items() if state == "ok"),
        }

    def _hold(self, request: dict, scoped_key: str | None, now: float, shopper_id, address: str, passes) -> dict:
        """Run the hold script on ``request``: the held cart, a replayed one (``replay_of``) or a refusal."""
        try:
            return self.store.checkout_hold(
                request,
                scoped_key,
                int(now * 1000),
                shopper_id=shopper_id,
                address=address,
                chapter_names={c: self.catalog.chapter(c).name for c in request["chapters"]},
                product_names={p: self.catalog.product(p).name for p in request["product_limits"]},
            )
        except LinePassRequired as e:
            # The 403 names the shopper's place in the chapter's line (a read of the line, after the refusal).
            raise self.line.refusal(e.chapter, shopper_id, (passes or {}).get(e.chapter, "missing")) from None

    def _session_params(self, order_id: str, items: list[dict], email, hold_until: int, base: str) -> dict:
        """The Checkout Session Stripe is asked for: prices from the catalog, ending when the hold ends."""
        return {
            "mode": "payment",
            "line_items": [
                {
                    "quantity": i["quantity"],
                    "price_data": {
                        "currency": self.catalog.currency,
                        "unit_amount": i["unit_amount"],
                        "product_data": {"name": f"{i['name']} ({i['size']})", "metadata": {"sku": i["sku"]}},
                    },
                }
                for i in items
            ],
            "metadata": {"order_id": order_id},
            "client_reference_id": order_id,
            **({"customer_email": email} if email else {}),
            "expires_at": hold_until,
            "shipping_address_collection": {"allowed_countries": list(self.settings.shipping_countries)},
            "success_url": f"{base}/checkout/success?session_id={{CHECKOUT_SESSION_ID}}",
            "cancel_url": f"{base}/checkout/cancel?order_id={order_id}",
        }

    def _open_session(self, order_id: str, params: dict, scoped_key: str | None, replaced: str | None) -> dict:
        """Ask Stripe for the session and note it on the order; undo the hold if either side fails.

        ``replaced`` is the shopper's earlier checkout whose holds went with this hold: its session must not
        stay payable whether this one opens or not.
        """
        try:
            session = self.gateway.create_checkout_session(params, idempotency_key=f"checkout-{order_id}")
        except PaymentProviderError as e:
            self.store.checkout_release(
                order_id,
                actor="system",
                note=f"Stripe did not start the checkout: {e.message}",
                idempotency_key=scoped_key,
                now_ms=int(self.clock() * 1000),
            )
            log.warning("checkout %s: hold released, Stripe did not start the session: %s", order_id, e.message)
            if replaced:
                self._end_replaced(replaced, order_id)
            raise PaymentProviderError(
                "the payment page could not be opened, so nothing was reserved or charged; please try again in a moment"
            ) from e
        try:
            self.store.checkout_attach(order_id, session["id"], session["url"])
        except StoreError as e:
            self._undo_session(order_id, session["id"], scoped_key, e)
            if replaced:
                self._end_replaced(replaced, order_id)
            raise StoreUnavailable(
                "your checkout could not be saved, so nothing was reserved or charged; please try again in a moment"
            ) from e
        return session

    def _undo_session(self, order_id: str, session_id: str, idempotency_key: str | None, fault: StoreError) -> None:
        """The store failed after Stripe opened the session: the shopper never gets its address, so close it.

        Expire the session on Stripe first (nobody can pay it any more), then try to release the hold. If the
        store is still down the hold lapses by itself at its end, and the ``checkout.session.expired`` event
        Stripe sends for the expired session releases it as soon as the store answers again.
        """
        expired = "expired"
        try:
            if self.gateway.expire_session(session_id) is None:
                expired = "was no longer open"
        except PaymentProviderError as e:
            expired = f"could NOT be expired ({e.message}); it lapses by itself at its expires_at"
        try:
            self.store.checkout_release(
                order_id,
                actor="system",
                note=f"the store failed before the session was saved: {fault.message}"[:300],
                idempotency_key=idempotency_key,
                now_ms=int(self.clock() * 1000),
            )
            released = "hold released"
        except StoreError as e:
            released = f"hold NOT released ({e.message}); it lapses at its end or when Stripe's expired event arrives"
        log.error(
            "checkout %s: the store failed after Stripe opened session %s (%s); the session %s; %s",
            order_id,
            session_id,
            fault.message,
            expired,
            released,
        )

    def cart_limits(self, lines: dict[str, int]) -> dict[str, int]:
        """Product id -> per-customer limit, for the cart's products that carry one."""
        limits = self.catalog.limits
        products = {self.catalog.items[sku].product for sku in lines}
        return {p: limits[p] for p in sorted(products) if p in limits}

    def _end_replaced(self, old_order_id: str, new_order_id: str) -> None:
        """The shopper's earlier checkout, whose holds the new one released: expire its Stripe session, mark it expired.

        A failure here leaves the new checkout standing: the old session lapses at its own expires_at.
        """
        try:
            record = self.store.get_order(old_order_id) or {}
            if record.get("session_id"):
                self.gateway.expire_session(record["session_id"])
            self.store.checkout_release(
                old_order_id,
                actor="shopper",
                note=f"replaced by checkout {new_order_id}",
                idempotency_key=None,
                now_ms=int(self.clock() * 1000),
            )
        except (PaymentProviderError, StoreError) as e:
            log.warning(
                "checkout %s: could not expire the shopper's earlier checkout %s (%s); its session lapses by itself",
                new_order_id,
                old_order_id,
                e.message,
            )

    def _replay(self, order_id: str) -> dict:
        """The answer the first submit with this Idempotency-Key got."""
        record = self.store.get_order(order_id) or {}
        if record.get("checkout_url") and record.get("session_id"):
            return {"url": record["checkout_url"], "order_id": order_id, "session_id": record["session_id"]}
        raise Conflict("a checkout with this Idempotency-Key is still starting; try again in a moment")

    def cancel(self, order_id: str) -> dict:
        """The shopper came back from Stripe without paying: expire the session, release the hold.

        Stripe decides: a session that is no longer open (paid meanwhile) is left alone.
        """
        record = self.store.get_order(check_order_id(order_id))
        if record is None:
            raise NotFound(f"no checkout {order_id!r}")
        if record.get("status") != "pending":
            return {"order_id": order_id, "released": False, "status": record.get("status")}
        session_id = record.get("session_id")
        if session_id and self.gateway.expire_session(session_id) is None:
            return {"order_id": order_id, "released": False, "status": record.get("status")}
        result = self.store.checkout_release(
            order_id, actor="shopper", note="checkout cancelled", idempotency_key=None, now_ms=int(self.clock() * 1000)
        )
        return {"order_id": order_id, "released": result.get("status") == "released", "status": "expired"}
