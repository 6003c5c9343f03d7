"""Orders: reading them, the owner's status changes, and the order's JSON shape (moves: shop/lifecycle.py)."""

from __future__ import annotations

import json
import re
import secrets
import time
from datetime import UTC, datetime

from shop import lifecycle
from shop.errors import BadRequest, Conflict, NotFound

# The lifecycle's names, kept here for the views that read them with the order's shape.
STATUSES = list(lifecycle.STATUSES)
OWNER_TRANSITIONS = lifecycle.OWNER_MOVES

ORDER_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_LIST_FIELDS = ("items", "flags", "oversold", "event_ids", "history")
_OBJECT_FIELDS = ("customer", "shipping")
_INT_FIELDS = ("amount_total", "amount_subtotal", "amount_expected", "amount_refunded")

FLAG_HELP = {
    "oversold": "More units were sold than stock covered. Restock or contact the customer.",
    "amount_mismatch": "Stripe charged a different subtotal than the catalog price. Compare the expected and the "
    "paid amounts on the order before shipping.",
    "currency_mismatch": "Stripe charged another currency than the shop's. Check the Payment Link or price in "
    "Stripe, and the order, before shipping.",
    "untracked_chapter": "Items of a chapter whose stock is not initialized: no stock was taken. Initialize the chapter.",
    "needs_review": "What was bought could not be read from the payment (the order says why). Look it up in Stripe "
    "and fix the order by hand.",
    "outside_release": "Paid while its chapter was not on sale (before opens_at or after closes_at), e.g. through "
    "a Payment Link. Ship it, or refund it below.",
    "over_limit": "This customer now has more of a one-per-customer (limited) piece than the limit allows, "
    "counting their earlier paid orders. Refund it below, or ship it if you allow it.",
    "disputed": "The customer disputed the payment with their bank. Answer it in Stripe Dashboard > Payments > "
    "Disputes before the deadline; hold the parcel if it has not left yet.",
}


def new_order_id() -> str:
    """A fresh, time-ordered, unguessable order id."""
    return f"ord_{int(time.time() * 1000):x}{secrets.token_hex(6)}"


def check_order_id(order_id: str) -> str:
    if not isinstance(order_id, str) or not ORDER_ID.match(order_id):
        raise NotFound(f"no order {order_id!r}: order ids are letters, digits, '_' and '-'")
    return order_id


def check_status(status: str | None) -> str | None:
    if status is not None and status not in STATUSES:
        raise BadRequest(f"unknown status {status!r}; use one of: {', '.join(STATUSES)}")
    return status


def iso(ms: str | int | None) -> str | None:
    if ms in (None, ""):
        return None
    return (
        datetime.fromtimestamp(int(float(ms)) / 1000, tz=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    )


def _as_list(value):
    # Lua's cjson writes an empty table as {}: lists are always arrays here.
    return value if isinstance(value, list) else []


def order_json(record: dict) -> dict:
    """The order as the API shows it (SPEC section 6), from its stored hash."""
    decoded = {}
    for name in _LIST_FIELDS:
        decoded[name] = _as_list(json.loads(record.get(name) or "[]"))
    for name in _OBJECT_FIELDS:
        value = json.loads(record.get(name) or "null")
        decoded[name] = value if isinstance(value, dict) and value else None
    amounts = {name: int(float(record[name])) if record.get(name) not in (None, "") else None for name in _INT_FIELDS}
    restocked = json.loads(record.get("restocked") or "{}")
    dispute = json.loads(record.get("dispute") or "null")
    customer = decoded["customer"] or {}
    for event in decoded["history"]:
        event["at"] = iso(event.get("at"))
    for item in decoded["items"]:
        item.setdefault("stock_tracked", False)  # set by a hold or a sale: none yet (awaiting payment, failed)
    expected = amounts["amount_expected"]
    if expected is None:
        expected = sum(i.get("unit_amount", 0) * i.get("quantity", 0) for i in decoded["items"]) or None
    return {
        "id": record.get("id"),
        "status": record.get("status"),
        "items": decoded["items"],
        "amount_total": amounts["amount_total"] if amounts["amount_total"] is not None else expected,
        "amount_subtotal": amounts["amount_subtotal"],
        "amount_expected": expected,
        "amount_refunded": amounts["amount_refunded"] or 0,
        # `currency` is what Stripe charged in (amount_total, amount_subtotal, amount_refunded); the items and
        # amount_expected are in `expected_currency`, the shop's. They differ only on a currency_mismatch.
        "currency": record.get("paid_currency") or record.get("currency") or None,
        "expected_currency": record.get("currency") or None,
        "customer": {"email": customer.get("email"), "name": customer.get("name")},
        "shipping": decoded["shipping"],
        "tracking": record.get("tracking") or None,
        "stripe": {
            "session_id": record.get("session_id") or None,
            "payment_intent": record.get("payment_intent") or None,
            "event_ids": decoded["event_ids"],
        },
        "oversold": decoded["oversold"],
        "flags": decoded["flags"],
        "review_reason": record.get("review_reason") or None,
        "history": decoded["history"],
        "restocked": restocked if isinstance(restocked, dict) else {},
        "dispute": dispute if isinstance(dispute, dict) else None,
        "created_at": iso(record.get("created_at")),
        "updated_at": iso(record.get("updated_at") or record.get("created_at")),
    }


class Orders:
    """Reading orders and the owner's status changes."""

    def __init__(self, store, clock=time.time):
        self.store = store
        self.clock = clock

    def get(self, order_id: str) -> dict:
        record = self.store.get_order(check_order_id(order_id))
        if record is None:
            raise NotFound(f"no order {order_id!r}")
        return order_json(record)

    def page(
        self, *, status: str | None = None, limit: int = 50, cursor: str | None = None
    ) -> tuple[list[dict], str | None]:
        check_status(status)
        records, next_cursor = self.store.list_orders(status=status, limit=limit, cursor=cursor)
        return [order_json(r) for r in records], next_cursor

    def set_status(
        self, order_id: str, status: str, *, tracking: str | None = None, actor: str = "owner", note: str | None = None
    ) -> dict:
        check_order_id(order_id)
        if status not in STATUSES:
            raise BadRequest(f"unknown status {status!r}; the owner can set: {', '.join(OWNER_TRANSITIONS)}")
        if status not in OWNER_TRANSITIONS:
            raise Conflict(
                f"status {status!r} is set by Stripe events, not by hand; the owner can set: {', '.join(OWNER_TRANSITIONS)}"
            )
        if tracking is not None and (not isinstance(tracking, str) or len(tracking) > 200):
            raise BadRequest("tracking must be text of at most 200 characters")
        if note is not None and (not isinstance(note, str) or len(note) > 500):
            raise BadRequest("note must be text of at most 500 characters")
        self.store.set_order_status(
            order_id,
            {
                "status": status,
                "allowed_from": OWNER_TRANSITIONS[status],
                "tracking": tracking,
                "actor": actor,
                "note": note,
            },
            int(self.clock() * 1000),
        )
        return self.get(order_id)

    def attention(self, *, limit: int = 20, cursor: str | None = None) -> tuple[list[dict], str | None]:
        """Orders with a flag the owner should look at (oversold, needs review, amount mismatch, ...), newest first."""
        records, next_cursor = self.store.list_orders(status="attention", limit=limit, cursor=cursor)
        return [order_json(r) for r in records], next_cursor

    def search(self, query: str, *, limit: int = 50) -> list[dict]:
        """An order id, a Checkout Session id (cs_...) or a customer's email."""
        query = (query or "").strip()
        if not query or len(query) > 254:
            return []
        if "@" in query:
            records, _ = self.store.list_orders(status=None, limit=limit, cursor=None, email=query)
            return [order_json(r) for r in records]
        order_id = self.store.order_for_session(query) if query.startswith("cs_") else query
        if not order_id or not ORDER_ID.match(order_id):
            return []
        record = self.store.get_order(order_id)
        return [order_json(record)] if record else []

    def all(self, *, status: str | None = None, batch: int = 200):
        """Every order, newest first, a page at a time (for a streamed export)."""
        cursor = None
        while True:
            page, cursor = self.page(status=status, limit=batch, cursor=cursor)
            yield from page
            if cursor is None:
                return

    def restock(self, order_id: str, lines: dict[str, int], catalog, *, actor: str = "owner") -> dict:
        """Put refunded units back on the shelf; each unit at most once (ledger `refund_restock`)."""
        check_order_id(order_id)
        request_lines = []
        for sku, qty in lines.items():
            item = catalog.item(sku)
            if item is None or isinstance(qty, bool) or not isinstance(qty, int) or qty < 1:
                raise BadRequest(f"restock {sku!r}: give a SKU of the order and a whole number of units, 1 or more")
            request_lines.append([sku, item.chapter, qty])
        if not request_lines:
            raise BadRequest("choose at least one unit to restock")
        self.store.restock_order(
            order_id,
            {"order_id": order_id, "lines": request_lines, "actor": actor, "note": "restocked after refund"},
            int(self.clock() * 1000),
        )
        return self.get(order_id)
