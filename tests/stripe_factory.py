"""Stripe events for tests, built from Stripe's own example objects and signed for real."""

from __future__ import annotations

import copy
import json
import secrets
import time
from pathlib import Path

import stripe

FIXTURES = Path(__file__).parent / "fixtures" / "stripe"
_CATALOG_PRICE = object()  # checkout_session's default subtotal: what the sample catalog asks for the items
WEBHOOK_SECRET = "whsec_test_" + "a" * 32
OTHER_SECRET = "whsec_test_" + "b" * 32
# Where checkout_session's shopper ships to (Stripe sends null for a line2 and state not given).
ADDRESS = {
    "line1": "12 Analytical Row",
    "line2": None,
    "city": "London",
    "postal_code": "N1 7AA",
    "state": None,
    "country": "GB",
}


def fixture(name: str) -> dict:
    return json.loads((FIXTURES / f"{name}.json").read_text())


def new_id(prefix: str) -> str:
    return f"{prefix}_test_{secrets.token_hex(12)}"


def checkout_session(
    *,
    items: str | None = None,
    order_id: str | None = None,
    payment_status: str = "paid",
    amount_subtotal: int | None | object = _CATALOG_PRICE,
    currency: str = "eur",
    session_id: str | None = None,
    email: str = "ada@example.com",
    name: str = "Ada Lovelace",
    **fields,
) -> dict:
    """A completed Checkout Session: Stripe's example with the fields a case needs.

    Unless told otherwise, the subtotal is what the sample catalog asks for ``items`` (as a correctly priced
    Payment Link charges), or 9000 when the items are not the catalog's.
    """
    if amount_subtotal is _CATALOG_PRICE:
        amount_subtotal = catalog_price(items)
    session = fixture("checkout.session")
    session.update(
        id=session_id or new_id("cs"),
        status="complete" if payment_status != "unpaid" else "complete",
        payment_status=payment_status,
        amount_subtotal=amount_subtotal,
        amount_total=amount_subtotal,
        currency=currency,
        payment_intent=new_id("pi"),
        metadata={},
    )
    if items is not None:
        session["metadata"]["items"] = items
    if order_id is not None:
        session["metadata"]["order_id"] = order_id
        session["client_reference_id"] = order_id
    session["customer_details"].update(email=email, name=name)
    session["collected_information"]["shipping_details"] = {"name": name, "address": dict(ADDRESS)}
    session.update(fields)
    return session


def event(event_type: str, obj: dict, *, event_id: str | None = None, livemode: bool = False) -> dict:
    """A Stripe event envelope (Stripe's example event) around ``obj``."""
    envelope = fixture("event")
    envelope.update(
        id=event_id or new_id("evt"),
        type=event_type,
        created=int(time.time()),
        livemode=livemode,
        api_version="2026-08-27.preview",
        data={"object": copy.deepcopy(obj)},
    )
    return envelope


def sign(payload: str | bytes, secret: str = WEBHOOK_SECRET, timestamp: int | None = None) -> str:
    """The Stripe-Signature header Stripe would send, made by the stripe library itself."""
    text = payload.decode() if isinstance(payload, bytes) else payload
    return stripe.WebhookSignature.generate_signature_header(text, secret, timestamp=timestamp)


def signed(evt: dict, secret: str = WEBHOOK_SECRET, timestamp: int | None = None) -> tuple[bytes, dict]:
    """Body and headers of one delivery of ``evt``."""
    body = json.dumps(evt).encode()
    return body, {"Stripe-Signature": sign(body, secret, timestamp), "Content-Type": "application/json"}


def catalog_price(items: str | None) -> int:
    """The sample catalog's price of a metadata.items text; 9000 when it does not name the catalog's items."""
    from shop.catalog import Catalog
    from shop.config import ROOT
    from shop.stripe_events import read_metadata_items

    catalog = Catalog.load(ROOT / "catalog.json")
    lines, _ = read_metadata_items(items, catalog)
    return sum(catalog.items[sku].price * qty for sku, qty in lines.items()) if lines else 9000
