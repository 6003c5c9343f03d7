"""Verified Stripe events -> typed, frozen actions for the store.

``event_action`` builds one action per event; a retry (a conflicting session, missing items) builds
a new one with a pure function below, never changing the first.


Nothing here trusts the shape of the event beyond its signature: every field
read is type-checked, and text is bounded, so a signed but nonsensical event
becomes an ``ignored`` answer or a ``needs_review`` order, never a crash.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from types import MappingProxyType
from typing import Any, ClassVar

from shop.catalog import Catalog
from shop.config import key_mode
from shop.orders import ORDER_ID
from shop.releases import normalize_email

# Each session event's move in shop/lifecycle.py.
SESSION_EVENTS = {
    "checkout.session.completed": None,  # paid or unpaid, by payment_status
    "checkout.session.async_payment_succeeded": "paid",
    "checkout.session.async_payment_failed": "failed",
    "checkout.session.expired": "expired",
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


@dataclass(frozen=True)
class Envelope:
    """What every action carries of its event, and who delivered it."""

    event_id: str
    event_type: str
    livemode: bool
    source: str | None = None  # None: Stripe's webhook; "success_page" or "reconcile" otherwise
    paid_at: int | None = None  # ms the event was created at Stripe (a retry days later is judged by then)
    limits: Mapping[str, int] | None = None  # the catalog's per-customer limits (product -> units), None: none

    def fields(self) -> dict:
        return {
            "event_id": self.event_id,
            "event_type": self.event_type,
            "livemode": self.livemode,
            "source": self.source,
            "paid_at": self.paid_at,
            "limits": dict(self.limits) if self.limits else None,
        }


@dataclass(frozen=True)
class SessionEvent:
    """A checkout.session.* event: ``kind`` is its move in shop/lifecycle.py (paid, unpaid, failed, expired)."""

    kind: str
    event: Envelope
    order_id: str
    derived_order_id: str  # the order id of a session this shop did not start
    session_id: str
    payment_intent: str | None
    items: tuple[dict, ...] | None  # None: not known yet (need_items) or not readable (review_reason)
    need_items: bool  # True: with no order yet, the store answers need_items instead of creating one
    items_problem: str | None  # what was wrong with metadata.items (for the review reason)
    amount_expected: int | None  # the catalog's price of ``items``
    expected_currency: str | None
    amount_subtotal: int | None
    amount_total: int | None
    currency: str | None
    customer: Mapping[str, str] | None  # {"email", "name"}
    shipping: Mapping | None
    review_reason: str | None = None  # why the order needs the owner (when items stay None)

    @property
    def email(self) -> str | None:
        return (self.customer or {}).get("email")

    @property
    def limit_email(self) -> str | None:
        """The customer a per-customer limit counts (normalized email), or None."""
        return normalize_email(self.email)

    def for_script(self) -> dict:
        out = {**self.event.fields(), **{f.name: getattr(self, f.name) for f in fields(self) if f.name != "event"}}
        out["items"] = list(self.items) if self.items is not None else None
        out["limit_email"] = self.limit_email
        for python_only in ("derived_order_id", "items_problem"):
            del out[python_only]
        return out


@dataclass(frozen=True)
class RefundEvent:
    """charge.refunded / refund.*: how much of a payment is refunded. ``order_id`` is found by the payment."""

    kind: ClassVar[str] = "refund"
    event: Envelope
    payment_intent: str
    refund: Mapping  # {charge_refunded} or {refund_id, amount, counts}
    order_id: str | None = None
    limit_email: str | None = None  # the customer the sale's limited units counted for

    def for_script(self) -> dict:
        # The payment and the kind stay in Python: the order was found by the payment (for_order), and the
        # kind chose the script.
        return {
            **self.event.fields(),
            "refund": dict(self.refund),
            "order_id": self.order_id,
            "limit_email": self.limit_email,
        }


@dataclass(frozen=True)
class DisputeEvent:
    """charge.dispute.*: a customer disputed a payment with their bank. ``order_id`` is found by the payment."""

    kind: ClassVar[str] = "dispute"
    event: Envelope
    payment_intent: str
    dispute: Mapping  # {id, status, reason, amount, closed}
    order_id: str | None = None
    limit_email: str | None = None

    def for_script(self) -> dict:
        return {**self.event.fields(), "dispute": dict(self.dispute), "order_id": self.order_id}


@dataclass(frozen=True)
class Ignored:
    """An event this shop does not act on, and why (for the log)."""

    kind: ClassVar[str] = "ignore"
    event: Envelope
    reason: str

    def for_script(self) -> dict:
        return self.event.fields()  # an ignored event has no order: the script only marks and counts it


Action = SessionEvent | RefundEvent | DisputeEvent | Ignored


def session_action(envelope: Envelope, session: dict, catalog: Catalog) -> SessionEvent | Ignored:
    """What a checkout.session.* event asks of its order."""
    session_id = _id(session.get("id"))
    if session_id is None:
        return Ignored(envelope, "the event has no session id")
    kind = SESSION_EVENTS[envelope.event_type]
    if kind is None:
        payment_status = session.get("payment_status")
        kind = "paid" if payment_status in ("paid", "no_payment_required") else "unpaid"
    metadata = _dict(session.get("metadata"))
    order_id = _our_order_id(metadata.get("order_id")) or _our_order_id(session.get("client_reference_id"))
    lines, items_problem = read_metadata_items(metadata.get("items"), catalog)
    items = tuple(catalog.order_items(lines)) if lines else None
    customer = _dict(session.get("customer_details"))
    derived = derived_order_id(session_id)
    currency = _text(session.get("currency"), 3)
    return SessionEvent(
        kind=kind,
        event=envelope,
        order_id=order_id or derived,
        derived_order_id=derived,
        session_id=session_id,
        payment_intent=_id(session.get("payment_intent")),
        items=items,
        need_items=lines is None,
        items_problem=items_problem,
        # Way 2 names its items but not their prices: what the catalog asks for them, to compare with
        # what was paid. (An order this shop started keeps its own expected amount from the checkout.)
        amount_expected=_price(items),
        expected_currency=catalog.currency,
        amount_subtotal=_amount(session.get("amount_subtotal")),
        amount_total=_amount(session.get("amount_total")),
        currency=currency.lower() if currency else None,
        customer={
            k: v
            for k, v in (
                ("email", _text(customer.get("email") or session.get("customer_email"))),
                ("name", _text(customer.get("name"))),
            )
            if v
        }
        or None,
        shipping=_shipping(session),
    )


def _price(items: tuple[dict, ...] | None) -> int | None:
    return sum(i["quantity"] * i["unit_amount"] for i in items) if items else None


def refund_action(envelope: Envelope, obj: dict) -> RefundEvent | Ignored:
    """What a charge.refunded / refund.* event says: the payment and how much is refunded."""
    payment_intent = _id(obj.get("payment_intent"))
    if payment_intent is None:
        return Ignored(envelope, "the event names no payment intent")
    if envelope.event_type == "charge.refunded":
        return RefundEvent(envelope, payment_intent, {"charge_refunded": _amount(obj.get("amount_refunded")) or 0})
    refund_id = _id(obj.get("id"))
    if refund_id is None:
        return Ignored(envelope, "the refund has no id")
    refund = {
        "refund_id": refund_id,
        "amount": _amount(obj.get("amount")) or 0,
        "counts": obj.get("status") in ("succeeded", "pending", "requires_action"),
    }
    return RefundEvent(envelope, payment_intent, refund)


def dispute_action(envelope: Envelope, obj: dict) -> DisputeEvent | Ignored:
    """A customer disputed a payment with their bank: flag the order; record the outcome when it closes."""
    payment_intent = _id(obj.get("payment_intent"))
    dispute_id = _id(obj.get("id"))
    if payment_intent is None or dispute_id is None:
        return Ignored(envelope, "the dispute names no payment intent")
    dispute = {
        "id": dispute_id,
        "status": _text(obj.get("status"), 40) or "unknown",
        "reason": _text(obj.get("reason"), 60) or "unknown",
        "amount": _amount(obj.get("amount")) or 0,
        "closed": envelope.event_type == "charge.dispute.closed",
    }
    return DisputeEvent(envelope, payment_intent, dispute)


def event_action(event: dict, catalog: Catalog, source: str | None = None) -> Action:
    """The one action for a verified event (``Ignored`` for anything not handled), built once.

    ``source`` names a caller other than Stripe's webhook (success page, reconciliation).
    """
    event_type = event["type"]
    created = event.get("created")
    envelope = Envelope(
        event_id=event["id"],
        event_type=event_type,
        livemode=event.get("livemode") is True,
        source=source,
        paid_at=created * 1000 if isinstance(created, int) and not isinstance(created, bool) and created > 0 else None,
        limits=MappingProxyType(dict(catalog.limits)) if catalog.limits else None,
    )
    obj = _dict(_dict(event.get("data")).get("object"))
    if event_type in SESSION_EVENTS:
        return session_action(envelope, obj, catalog)
    if event_type in REFUND_EVENTS:
        return refund_action(envelope, obj)
    if event_type in DISPUTE_EVENTS:
        return dispute_action(envelope, obj)
    return Ignored(envelope, "event type not handled")


# -- the new action of an explicit retry (pure: the first action is never changed) ----------------


def for_order(action: RefundEvent | DisputeEvent, order_id: str | None, limit_email: str | None):
    """A refund or dispute addressed to the order its payment paid for; Ignored when no order has it."""
    if order_id is None:
        return Ignored(action.event, "no order has this payment")
    return replace(action, order_id=order_id, limit_email=limit_email)


def under_own_session(action: SessionEvent) -> SessionEvent:
    """The store answered session_conflict (the order id belongs to another session): the session's own id."""
    return replace(action, order_id=action.derived_order_id)


def with_line_items(action: SessionEvent, catalog: Catalog, line_items: list[dict] | None, why_not: str | None):
    """The store answered need_items: the action again with the session's line items (way 3), or, when
    there are none to use, with the review reason that names what was wrong with both ways (way 4).

    ``line_items`` None: they could not be read from Stripe, ``why_not`` says why.
    """
    way_2 = action.items_problem or "metadata.items is missing"
    if line_items is None:
        return replace(action, need_items=False, review_reason=f"{way_2}; {why_not}")
    lines, line_problem = read_line_items(line_items, catalog)
    if not lines:
        return replace(action, need_items=False, review_reason=f"{way_2}; {line_problem}")
    items = tuple(catalog.order_items(lines))
    # Way 3 is priced by Stripe too: compare what was paid with the catalog, as for way 2.
    return replace(action, need_items=False, items=items, amount_expected=_price(items))


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
