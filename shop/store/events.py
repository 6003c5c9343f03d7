"""The Stripe event scripts' wrappers: one script per kind of event, each with only its own keys.

Each ``event_*.lua`` names its KEYS and ARGV as locals at its top; ``event_keys`` builds the same
list here, by name (tests/test_event_scripts.py checks one against the other).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from shop.lifecycle import STRIPE_MOVES
from shop.store import keys

if TYPE_CHECKING:
    from shop.stripe_events import Action

EVENT_MARK_TTL = 35 * 86400  # Stripe retries for 3 days and keeps events for 30.

# The script of each kind of action.
SCRIPT_OF_KIND = {
    "paid": "event_paid",
    "unpaid": "event_unpaid",
    "failed": "event_failed_or_expired",
    "expired": "event_failed_or_expired",
    "refund": "event_refund",
    "dispute": "event_dispute",
    "ignore": "event_ignored",
}
SCRIPTS = tuple(dict.fromkeys(SCRIPT_OF_KIND.values()))
_SESSION_SCRIPTS = ("event_paid", "event_unpaid", "event_failed_or_expired")


def _statuses(script: str) -> list[str]:
    """The statuses the moves of a script start from or end in: the status indexes it is given."""
    moves = [STRIPE_MOVES[k] for k, s in SCRIPT_OF_KIND.items() if s == script and k in STRIPE_MOVES]
    return list(dict.fromkeys(s for m in moves for s in (*m.source, *m.target)))


def event_keys(script: str, action: Action, day: str) -> list[tuple[str, list[str]]]:
    """The script's KEYS, in its header's order, as (name, keys) groups; an optional key's group may be empty."""
    counted = [
        ("mark", [keys.event(action.event.event_id)]),
        ("last", [keys.WEBHOOK]),
        ("total", [keys.STATS_TOTAL]),
        ("today", [keys.stats_day(day)]),
    ]
    if script == "event_ignored":
        return counted
    order = [("order_key", [keys.order(action.order_id)]), ("attention", [keys.ATTENTION])]
    if script == "event_dispute":
        return counted + order
    groups = [("stock", list(keys.STOCK_KEYS)), *counted, *order]
    if script in _SESSION_SCRIPTS:
        groups += [("sessions", [keys.SESSION_ORDERS]), ("payments", [keys.PAYMENT_ORDERS]), ("orders", [keys.ORDERS])]
    if script == "event_paid":
        groups.append(("releases", [keys.RELEASES]))
    groups.append(("indexes", [keys.status_index(s) for s in _statuses(script)]))
    if script in _SESSION_SCRIPTS:
        groups.append(("customer_orders", [keys.customer_orders(action.email)] if action.email else []))
    if script in ("event_paid", "event_refund"):
        groups.append(("customer_paid", [keys.customer_paid(action.limit_email)] if action.limit_email else []))
    return groups


def event_call(action: Action, day: str) -> tuple[str, list[str], dict]:
    """The script, KEYS and JSON argument of one action.

    Returns (script name, KEYS, the action as the script reads it: None fields left out, plus the
    statuses its move starts from (shop/lifecycle.py) and the mark's lifetime).
    """
    script = SCRIPT_OF_KIND[action.kind]
    event_keys_ = [k for _, group in event_keys(script, action, day) for k in group]
    argument = {k: v for k, v in action.for_script().items() if v is not None}
    argument["mark_ttl"] = EVENT_MARK_TTL
    if action.kind in STRIPE_MOVES:
        argument["from"] = list(STRIPE_MOVES[action.kind].source)
    return script, event_keys_, argument
