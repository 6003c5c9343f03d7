"""Verified Stripe events -> plain actions for the store.

Nothing here trusts the shape of the event beyond its signature: every field
read is type-checked, and text is bounded, so a signed but nonsensical event
becomes an ``ignored`` answer or a ``needs_review`` order, never a crash.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

from shop.catalog import Catalog
from shop.config import key_mode
from shop.orders import ORDER_ID

SESSION_EVENTS = {
    "checkout.session.completed": None,  # fulfil or await, by payment_status
    "checkout.session.async_payment_succeeded": "fulfil",
    "checkout.session.async_payment_failed": "fail",
    "checkout.session.expired": "expire",
}
REFUND_EVENTS = ("charge.refunded", "refund.created", "refund.updated")
DISPUTE_EVENTS = ("charge.dispute.created", "charge.dispute.updated", "charge.dispute.closed")
HANDLED_EVENTS = (*SESSION_EVENTS, *REFUND_EVENTS, *DISPUTE_EVENTS)

MAX_LINE_QTY = 999
_TEXT_LIMIT = 300
# ASCII digits only: \d would read "٣" (Arabic-Indic three) as 3. A sign or a huge number is read here
# and named as a bad quantity after.
_ITEM = re.compile(r"^(?P<sku>[^*]+?)\s*(?:\*\s*(?P<qty>[+-]?[0-9]{1,12}))?$")


def _text(value: Any, limit: int = _TEXT_LIMIT) -> str | None:
    if isinstance(value, str) and value.strip():
        # JSON may carry half of a surrogate pair ("\ud83d"), which no store can keep: it becomes "?".
        return value.strip()[:limit].encode("utf-8", "replace").decode()
    return None


def _dict(value: Any) -> dict:
    return value if isinstance(value, dict) else {}


def _amount(value: Any) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 10**12:
        return value
    return None


def _id(value: Any) -> str | None:
    """A Stripe object id, given as a string or as the expanded object."""
    if isinstance(value, dict):
        value = value.get("id")
    if isinstance(value, str) and re.match(r"^[A-Za-z0-9_]{1,255}$", value):
        return value
    return None


def read_metadata_items(text: Any, catalog: Catalog) -> tuple[dict[str, int] | None, str | None]:
    """``balm-tee/M*2, wool-coat/L`` -> ({sku: qty}, None), or (None, what is wrong with it, in the owner's words).

    Comma-separated ``sku*qty`` (``*qty`` optional: 1), spaces trimmed, a repeated SKU summed, each
    quantity and each sum 1..999. Every problem of the text is named, not only the first.
    """
    if text is None or (isinstance(text, str) and not text.strip()):
        return None, "metadata.items is missing"
    if not isinstance(text, str):
        return None, "metadata.items is not text"
    if len(text) > 500:
        return None, f"metadata.items is {len(text)} characters long (at most 500)"
    lines: dict[str, int] = {}
    unknown: list[str] = []
    problems: list[str] = []
    for n, part in enumerate(text.split(","), 1):
        part = part.strip()
        match = _ITEM.match(part)
        if not part:
            problems.append(f"entry {n} is empty")
            continue
        if not match:
            problems.append(f"entry {n} {_quote(part)} is not sku*quantity (e.g. balm-tee/M*2)")
            continue
        sku, qty = match["sku"].strip(), int(match["qty"] or 1)
        if sku not in catalog.items:
            if _quote(sku) not in unknown:
                unknown.append(_quote(sku))
            continue
        if not 1 <= qty <= MAX_LINE_QTY:
            problems.append(f"{sku}: quantity {qty} is not a whole number from 1 to {MAX_LINE_QTY}")
            continue
        lines[sku] = lines.get(sku, 0) + qty
    for sku, qty in lines.items():
        if qty > MAX_LINE_QTY:
            problems.append(f"{sku}: {qty} units in all, more than {MAX_LINE_QTY}")
    if unknown:
        problems.insert(0, f"unknown SKU{'s' if len(unknown) > 1 else ''} {', '.join(unknown)} (not in the catalog)")
    if problems:
        return None, "metadata.items " + _quote(text) + ": " + "; ".join(problems)
    return lines, None


def parse_metadata_items(text: Any, catalog: Catalog) -> dict[str, int] | None:
    """``balm-tee/M*2, wool-coat/L`` -> {sku: qty}; None if it does not parse or names an unknown SKU."""
    return read_metadata_items(text, catalog)[0]


def _quote(text: str, limit: int = 60) -> str:
    """Text from a payment, bounded and quoted, for a message to the owner."""
    text = text if len(text) <= limit else text[: limit - 1] + "\u2026"
    return "'" + text.encode("utf-8", "replace").decode() + "'"


def read_line_items(line_items: list[dict], catalog: Catalog) -> tuple[dict[str, int] | None, str | None]:
    """Way 3: SKUs from the session's line items (``sku``, or ``product`` + ``size``, in metadata).

    Returns ({sku: qty}, None), or (None, what is wrong, naming the line items that are not this shop's).
    """
    lines: dict[str, int] = {}
    problems: list[str] = []
    for n, line in enumerate(line_items, 1):
        price = _dict(line.get("price"))
        product = _dict(price.get("product"))
        sku = None
        for metadata in (_dict(price.get("metadata")), _dict(product.get("metadata"))):
            sku = metadata.get("sku") or (
                f"{metadata['product']}/{metadata.get('size') or 'OS'}"
                if isinstance(metadata.get("product"), str)
                else None
            )
            if sku:
                break
        qty = line.get("quantity")
        label = _quote(_text(line.get("description")) or _text(product.get("name")) or f"line {n}", 40)
        if not isinstance(sku, str):
            problems.append(f"line item {label} carries no sku (price or product metadata)")
        elif sku not in catalog.items:
            problems.append(f"line item {label} names the unknown SKU {_quote(sku)}")
        elif isinstance(qty, bool) or not isinstance(qty, int) or not 1 <= qty <= MAX_LINE_QTY:
            problems.append(f"line item {label} ({sku}) has quantity {qty!r}, not 1 to {MAX_LINE_QTY}")
        else:
            lines[sku] = lines.get(sku, 0) + qty
    if not line_items:
        return None, "the session has no line items"
    if problems:
        return None, "; ".join(problems[:5]) + (f"; and {len(problems) - 5} more" if len(problems) > 5 else "")
    return lines, None


def line_item_skus(line_items: list[dict], catalog: Catalog) -> dict[str, int] | None:
    """Way 3: SKUs from the session's line items, or None when any line is not one of this shop's."""
    return read_line_items(line_items, catalog)[0]


def derived_order_id(session_id: str) -> str:
    """The order id of a session this shop did not start (Payment Link, Dashboard)."""
    return "ord_s" + hashlib.sha256(session_id.encode()).hexdigest()[:24]


def _our_order_id(value: Any) -> str | None:
    return value if isinstance(value, str) and value.startswith("ord_") and ORDER_ID.match(value) else None


def _shipping(session: dict) -> dict | None:
    details = _dict(_dict(session.get("collected_information")).get("shipping_details")) or _dict(
        session.get("shipping_details")
    )
    address = _dict(details.get("address"))
    if not details:
        return None
    return {
        "name": _text(details.get("name")),
        "address": {k: _text(address.get(k)) for k in ("line1", "line2", "city", "postal_code", "state", "country")},
    }


def session_action(event_type: str, session: dict, catalog: Catalog) -> dict:
    """What a checkout.session.* event asks of its order."""
    session_id = _id(session.get("id"))
    if session_id is None:
        return {"kind": "ignore", "reason": "the event has no session id"}
    kind = SESSION_EVENTS[event_type]
    if kind is None:
        payment_status = session.get("payment_status")
        kind = "fulfil" if payment_status in ("paid", "no_payment_required") else "await"
    metadata = _dict(session.get("metadata"))
    order_id = _our_order_id(metadata.get("order_id")) or _our_order_id(session.get("client_reference_id"))
    lines, items_problem = read_metadata_items(metadata.get("items"), catalog)
    items = catalog.order_items(lines) if lines else None
    customer = _dict(session.get("customer_details"))
    derived = derived_order_id(session_id)
    return {
        "kind": kind,
        "order_id": order_id or derived,
        "derived_order_id": derived,
        "session_id": session_id,
        "payment_intent": _id(session.get("payment_intent")),
        "items": items,
        "need_items": lines is None,
        "items_problem": items_problem,
        # Way 2 names its items but not their prices: what the catalog asks for them, to compare with
        # what was paid. (An order this shop started keeps its own expected amount from the checkout.)
        "amount_expected": sum(i["quantity"] * i["unit_amount"] for i in items) if items else None,
        "expected_currency": catalog.currency,
        "amount_subtotal": _amount(session.get("amount_subtotal")),
        "amount_total": _amount(session.get("amount_total")),
        "currency": _text(session.get("currency"), 3).lower() if _text(session.get("currency"), 3) else None,
        "customer": {
            k: v
            for k, v in (
                ("email", _text(customer.get("email") or session.get("customer_email"))),
                ("name", _text(customer.get("name"))),
            )
            if v
        }
        or None,
        "shipping": _shipping(session),
    }


def refund_action(event_type: str, obj: dict) -> dict:
    """What a charge.refunded / refund.* event says: the payment and how much is refunded."""
    payment_intent = _id(obj.get("payment_intent"))
    if payment_intent is None:
        return {"kind": "ignore", "reason": "the event names no payment intent"}
    if event_type == "charge.refunded":
        refund = {"charge_refunded": _amount(obj.get("amount_refunded")) or 0}
    else:
        refund = {
            "refund_id": _id(obj.get("id")),
            "amount": _amount(obj.get("amount")) or 0,
            "counts": obj.get("status") in ("succeeded", "pending", "requires_action"),
        }
        if refund["refund_id"] is None:
            return {"kind": "ignore", "reason": "the refund has no id"}
    return {"kind": "refund", "payment_intent": payment_intent, "refund": refund}


def dispute_action(event_type: str, obj: dict) -> dict:
    """A customer disputed a payment with their bank: flag the order; record the outcome when it closes."""
    payment_intent = _id(obj.get("payment_intent"))
    dispute_id = _id(obj.get("id"))
    if payment_intent is None or dispute_id is None:
        return {"kind": "ignore", "reason": "the dispute names no payment intent"}
    return {
        "kind": "dispute",
        "payment_intent": payment_intent,
        "dispute": {
            "id": dispute_id,
            "status": _text(obj.get("status"), 40) or "unknown",
            "reason": _text(obj.get("reason"), 60) or "unknown",
            "amount": _amount(obj.get("amount")) or 0,
            "closed": event_type == "charge.dispute.closed",
        },
    }


def event_action(event: dict, catalog: Catalog) -> dict:
    """The action for a verified event (``kind`` ``ignore`` for anything not handled)."""
    event_type = event["type"]
    obj = _dict(_dict(event.get("data")).get("object"))
    if event_type in SESSION_EVENTS:
        action = session_action(event_type, obj, catalog)
    elif event_type in REFUND_EVENTS:
        action = refund_action(event_type, obj)
    elif event_type in DISPUTE_EVENTS:
        action = dispute_action(event_type, obj)
    else:
        action = {"kind": "ignore", "reason": "event type not handled"}
    action.update(event_id=event["id"], event_type=event_type, livemode=event.get("livemode") is True)
    return action


def livemode_mismatch(event: dict, secret_key: str | None) -> dict | None:
    """The event's mode and the key's when they differ (a test endpoint wired to a live shop, or the reverse).

    No key, a key of no known shape, or an event whose ``livemode`` is not a boolean: not judged (None).
    """
    key = key_mode(secret_key)
    live = event.get("livemode")
    if key is None or not isinstance(live, bool) or (key == "live") == live:
        return None
    return {
        "event_id": event["id"],
        "event_type": event["type"],
        "livemode": "true" if live else "false",
        "event_mode": "live" if live else "test",
        "key_mode": key,
    }
