"""Turn verified Stripe events into orders and stock moves.

One function serves the webhook, the success page and reconciliation, so
whichever sees a paid session first fulfils it and the others are no-ops.
"""

from __future__ import annotations

import logging
import re
import time

from shop import stripe_events
from shop.catalog import Catalog
from shop.errors import BadRequest, PaymentProviderError

log = logging.getLogger("shop.webhook")

_EVENT_ID = re.compile(r"^[A-Za-z0-9_:.-]{1,255}$")
_EVENT_TYPE = re.compile(r"^[A-Za-z0-9_.-]{1,100}$")  # checkout.session.completed, v2.core.event_destination.ping


def check_envelope(event) -> dict:
    """A verified body must still be an event: an object with a string id and type."""
    if not isinstance(event, dict):
        raise BadRequest("the body is JSON but not a Stripe event object; send the event exactly as Stripe signed it")
    event_id, event_type = event.get("id"), event.get("type")
    if not isinstance(event_id, str) or not _EVENT_ID.match(event_id):
        raise BadRequest("the event has no usable id (evt_...); send the event exactly as Stripe signed it")
    if not isinstance(event_type, str) or not _EVENT_TYPE.match(event_type):
        raise BadRequest("the event has no usable type; send the event exactly as Stripe signed it")
    return event


class Fulfillment:
    def __init__(self, store, catalog: Catalog, gateway, clock=time.time):
        self.store = store
        self.catalog = catalog
        self.gateway = gateway
        self.clock = clock

    def handle(self, event: dict, source: str | None = None) -> dict:
        """Apply one verified event; the answer says applied, duplicate or ignored.

        ``source`` names a caller other than Stripe's webhook (success page, reconciliation).
        """
        action = stripe_events.event_action(check_envelope(event), self.catalog)
        items_problem = action.pop("items_problem", None)  # for the review reason; the store never needs it
        if source:
            action["source"] = source
        if self.catalog.limits:
            action["limits"] = self.catalog.limits  # per-customer limits: an over-limit sale is flagged
        created = event.get("created")
        if isinstance(created, int) and not isinstance(created, bool) and created > 0:
            action["paid_at"] = created * 1000  # when Stripe saw it happen: a retry days later is judged by then
        if action["kind"] in ("refund", "dispute"):
            action["order_id"], action["limit_email"] = self.store.order_and_customer_for_payment(
                action["payment_intent"]
            )
            if action["order_id"] is None:
                action = {**action, "kind": "ignore", "reason": "no order has this payment"}
        result = self._apply(action)
        if result["status"] == "session_conflict":
            action["order_id"] = action["derived_order_id"]
            result = self._apply(action)
        if result["status"] == "need_items":
            self._resolve_items(action, items_problem)
            result = self._apply(action)
        log.info(
            "%s %s type=%s session=%s order=%s outcome=%s%s",
            source or "stripe event",
            action["event_id"],
            action["event_type"],
            action.get("session_id") or "-",
            result.get("order_id") or "-",
            result["status"],
            f" ({action['reason']})" if action.get("reason") else "",
        )
        return result

    def fulfil_session(self, session: dict, source: str) -> dict:
        """Apply a Checkout Session read from Stripe's API as its completed event would be.

        Whichever comes first, this or the webhook, fulfils; the other is a duplicate.
        """
        status = session.get("payment_status") if isinstance(session.get("payment_status"), str) else "unknown"
        event = {
            "id": f"{source}:{session.get('id')}:{status}",
            "type": "checkout.session.completed",
            "livemode": session.get("livemode") is True,
            "data": {"object": session},
        }
        return self.handle(event, source=source)

    def _apply(self, action: dict) -> dict:
        now = self.clock()
        return self.store.apply_event(action, int(now * 1000), time.strftime("%Y%m%d", time.gmtime(now)))

    def _resolve_items(self, action: dict, items_problem: str | None) -> None:
        """Way 3 and 4: the session's line items from Stripe, or the order goes to review saying why.

        ``items_problem`` is what was wrong with metadata.items (way 2); the review reason names it,
        and what was wrong with the line items, so the owner can fix the order without guessing.
        """
        action["need_items"] = False
        way_2 = items_problem or "metadata.items is missing"
        if not self.gateway.configured:
            action["review_reason"] = (
                f"{way_2}; the line items could not be read from Stripe because STRIPE_SECRET_KEY is not set"
            )
            return
        try:
            line_items = self.gateway.session_line_items(action["session_id"])
        except PaymentProviderError as e:
            if e.details.get("retryable"):
                raise
            action["review_reason"] = f"{way_2}; the line items could not be read from Stripe: {e.message}"
            return
        lines, line_problem = stripe_events.read_line_items(line_items, self.catalog)
        if lines:
            action["items"] = self.catalog.order_items(lines)
            # Way 3 is priced by Stripe too: compare what was paid with the catalog, as for way 2.
            action["amount_expected"] = sum(i["quantity"] * i["unit_amount"] for i in action["items"])
        else:
            action["review_reason"] = f"{way_2}; {line_problem}"
