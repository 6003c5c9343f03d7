"""Find paid sessions and undelivered events with no order, and fulfil them through the webhook's function.

Stripe keeps events for 30 days; a wrong secret for a day or a deploy that answered 500 leaves paid
sessions without orders. Reconciliation asks Stripe's API what happened and applies it through
Fulfillment, so it is idempotent with late webhook deliveries (whichever comes first fulfils).
"""

from __future__ import annotations

import time

from shop.lifecycle import COMPLETED
from shop.stripe_events import HANDLED_EVENTS


def reconcile(shop, since_seconds: int, *, apply: bool = False, clock=time.time) -> dict:
    """What Stripe knows and the store does not, in the window; applied when ``apply``.

    Returns: {"sessions": [{"session_id", "order_id", "status", "amount_total", "currency", "result"}],
              "events": [{"event_id", "type", "result"}], "applied": n}.
    """
    since = int(clock()) - since_seconds
    sessions, events, applied = [], [], 0
    for session in shop.gateway.completed_sessions(since):
        order_id = shop.store.order_for_session(session["id"])
        record = shop.store.get_order(order_id) if order_id else None
        if record and record.get("status") in COMPLETED:
            continue
        row = {
            "session_id": session["id"],
            "order_id": order_id,
            "status": record.get("status") if record else None,
            "payment_status": session.get("payment_status"),
            "amount_total": session.get("amount_total"),
            "currency": session.get("currency"),
            "result": "missing",
        }
        if apply:
            result = shop.fulfillment.fulfil_session(session, source="reconcile")
            row["result"], row["order_id"] = result["status"], result.get("order_id")
            applied += result["status"] == "applied"
        sessions.append(row)
    for event in shop.gateway.undelivered_events(list(HANDLED_EVENTS), since):
        if shop.store.event_seen(event["id"]):
            continue
        row = {"event_id": event["id"], "type": event.get("type"), "result": "not applied"}
        if apply:
            result = shop.fulfillment.handle(event, source="reconcile")
            row["result"] = result["status"]
            applied += result["status"] == "applied"
        events.append(row)
    return {"sessions": sessions, "events": events, "applied": applied}


def parse_window(text: str) -> int:
    """``72h``, ``3d``, ``90m`` -> seconds (at most Stripe's 30 days of events)."""
    units = {"m": 60, "h": 3600, "d": 86400}
    text = (text or "").strip().lower()
    if len(text) < 2 or text[-1] not in units or not text[:-1].isdigit():
        raise ValueError(f"{text!r}: write a window such as 72h, 3d or 90m")
    return min(int(text[:-1]) * units[text[-1]], 30 * 86400)
