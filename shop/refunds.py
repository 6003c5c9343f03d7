"""The owner refunds an order through Stripe (SPEC section 6).

The order is not changed here: it moves when Stripe's refund event arrives (charge.refunded or
refund.*), exactly once, in the webhook's script. Restocking is the owner's choice at the click:
it is remembered on the order before Stripe is asked, and the refund event's script puts the
units back (ledger ``refund_restock``) in the same atomic step that marks the order refunded, so
a refund the owner did not ask to restock never moves stock, and one they did restocks once.
"""

from __future__ import annotations

import contextlib
import logging
import re
import secrets
import time

from shop.errors import BadRequest, Conflict, NotFound, NotRefundable, OrderNotFound, PaymentProviderError
from shop.orders import check_order_id, order_json

log = logging.getLogger("shop.refunds")

_KEY = re.compile(r"^[A-Za-z0-9_-]{8,100}$")


def new_refund_key() -> str:
    """One key per refund form shown (or per API request without one): a double click is one refund."""
    return secrets.token_urlsafe(18)


class Refunds:
    def __init__(self, store, gateway, clock=time.time):
        self.store = store
        self.gateway = gateway
        self.clock = clock

    def refund(self, order_id: str, amount, restock, *, key: str | None = None, actor: str = "owner") -> dict:
        """Ask Stripe to refund ``amount`` minor units (None: all that is left); answers Stripe's refund."""
        if amount is not None and (isinstance(amount, bool) or not isinstance(amount, int) or amount < 1):
            raise BadRequest("amount must be a whole number of minor units (cents) of 1 or more, or null for all")
        if not isinstance(restock, bool):
            raise BadRequest("restock must be true (put the units back on sale) or false")
        if key is not None and not _KEY.match(key):
            raise BadRequest("the refund key must be 8 to 100 letters, digits, '-' or '_'")
        record = self.store.get_order(check_order_id(order_id))
        if record is None:
            raise NotFound(f"no order {order_id!r}")
        order = order_json(record)
        payment_intent = order["stripe"]["payment_intent"]
        if not payment_intent:
            raise Conflict(f"order {order_id} has no Stripe payment to refund (status {order['status']})")
        left = (order["amount_total"] or 0) - (order.get("amount_refunded") or 0)
        if amount is not None and amount > left:
            raise BadRequest(f"at most {left} (minor units) of order {order_id} is left to refund")
        words = "all that is left" if amount is None else f"{amount}"
        self.store.request_refund(
            order_id,
            restock=restock,
            note=f"refund of {words} asked{' with restock' if restock else ''}",
            now_ms=int(self.clock() * 1000),
        )
        metadata = {"order_id": order_id, "restock": "true" if restock else "false", "actor": actor}
        try:
            refund = self.gateway.create_refund(
                payment_intent, amount, metadata, idempotency_key=f"refund-{order_id}-{key or new_refund_key()}"
            )
        except PaymentProviderError as e:
            if restock:  # nothing was refunded: a later refund from the Dashboard must not restock
                # An order that is no longer refundable has no restock to undo either.
                with contextlib.suppress(NotRefundable, OrderNotFound):
                    self.store.request_refund(
                        order_id,
                        restock=False,
                        note="refund failed: " + e.message[:200],
                        now_ms=int(self.clock() * 1000),
                    )
            if not e.details.get("retryable"):
                raise Conflict(f"{e.message}; nothing was refunded") from e
            raise
        log.info(
            "order %s: refund %s of %s asked by %s (restock %s)", order_id, refund.get("id"), words, actor, restock
        )
        return refund
