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

        ``source`` names a caller other than Stripe's webhook (success page, reconciliation). The
        action is built once; the store may ask once for a new one (the session's own order id, the
        session's line items): one more script run, with an action built by a pure function.
        """
        action = stripe_events.event_action(check_envelope(event), self.catalog, source=source)
        if isinstance(action, (stripe_events.RefundEvent, stripe_events.DisputeEvent)):
            # A refund or dispute names only the payment: its order, and the customer the sale counted for.
            action = stripe_events.for_order(action, *self.store.order_and_customer_for_payment(action.payment_intent))
        result = self._apply(action)
        if result["status"] in ("session_conflict", "need_items"):
            # The store changed nothing and asks once for a better action: the session's own order id
            # (its order id belonged to another session) and, when the event named no readable items,
            # the session's line items. The new action cannot be asked about again.
            if result["status"] == "session_conflict":
                action = stripe_events.under_own_session(action)
            if action.need_items:
                action = self._with_line_items(action)
            result = self._apply(action)
        log.info(
            "%s %s type=%s session=%s order=%s outcome=%s%s",
            source or "stripe event",
            action.event.event_id,
            action.event.event_type,
            getattr(action, "session_id", None) or "-",
            result.get("order_id") or "-",
            result["status"],
            f" ({action.reason})" if isinstance(action, stripe_events.Ignored) else "",
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

    def _apply(self, action: stripe_events.Action) -> dict:
        now = self.clock()
        return self.store.apply_event(action, int(now * 1000), time.strftime("%Y%m%d", time.gmtime(now)))

    def _with_line_items(self, action: stripe_events.SessionEvent) -> stripe_events.SessionEvent:
        """Way 3 and 4: the session's line items from Stripe, or the order goes to review saying why."""
        if not self.gateway.configured:
            why = "the line items could not be read from Stripe because STRIPE_SECRET_KEY is not set"
            return stripe_events.with_line_items(action, self.catalog, None, why)
        try:
            line_items = self.gateway.session_line_items(action.session_id)
        except PaymentProviderError as e:
            if e.details.get("retryable"):
                raise
            why = f"the line items could not be read from Stripe: {e.message}"
            return stripe_events.with_line_items(action, self.catalog, None, why)
        return stripe_events.with_line_items(action, self.catalog, line_items, None)
