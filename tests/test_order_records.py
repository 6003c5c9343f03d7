"""An order's stored hash -> the order the owner and the API see (SPEC section 6), no store needed.

The records are written the way the store's scripts write them: numbers come back from Redis as text,
Lua's cjson writes an empty list as {}, and each history entry's time is the script's ``now_ms``.
"""

from __future__ import annotations

import json

import pytest

from shop.catalog import Catalog
from shop.config import ROOT
from shop.orders import iso, new_order_id, order_json
from shop.stripe_events import event_action
from tests.stripe_factory import checkout_session, event

CREATED_MS = 1_700_000_000_123  # 2023-11-14T22:13:20.123Z
BALM_M = {"sku": "balm-tee/M", "chapter": "chapter-i", "name": "Balm Tee", "size": "M", "unit_amount": 4500}


def pending_record(**fields) -> dict:
    """A pending order as checkout_hold.lua stores it."""
    return {
        "id": "ord_18bcfe5680b1a2b3c4d5e6",
        "status": "pending",
        "items": json.dumps([{**BALM_M, "quantity": 2, "stock_tracked": True}]),
        "amount_expected": "9000",
        "currency": "eur",
        "hold_until": str(CREATED_MS + 32 * 60_000),
        "created_at": str(CREATED_MS),
        "updated_at": str(CREATED_MS),
        "flags": "[]",
        "oversold": "[]",
        "event_ids": "[]",
        "history": json.dumps([{"at": str(CREATED_MS), "status": "pending", "actor": "shopper", "note": "x"}]),
        **fields,
    }


def test_a_pending_order_shows_its_items_expected_amount_and_times_with_nothing_paid_yet():
    order = order_json(pending_record())
    assert order == {
        "id": "ord_18bcfe5680b1a2b3c4d5e6",
        "status": "pending",
        "items": [{**BALM_M, "quantity": 2, "stock_tracked": True}],
        "amount_total": 9000,  # nothing paid yet: what the items cost
        "amount_subtotal": None,
        "amount_expected": 9000,
        "amount_refunded": 0,
        "currency": "eur",
        "expected_currency": "eur",
        "customer": {"email": None, "name": None},
        "shipping": None,
        "tracking": None,
        "stripe": {"session_id": None, "payment_intent": None, "event_ids": []},
        "oversold": [],
        "flags": [],
        "review_reason": None,
        "history": [{"at": "2023-11-14T22:13:20.123Z", "status": "pending", "actor": "shopper", "note": "x"}],
        "restocked": {},
        "dispute": None,
        "created_at": "2023-11-14T22:13:20.123Z",
        "updated_at": "2023-11-14T22:13:20.123Z",
    }


def test_a_paid_order_shows_what_stripe_charged_who_paid_where_it_ships_and_what_happened_since():
    customer = {"email": "ada@example.com", "name": "Ada Lovelace"}
    shipping = {"name": "Ada Lovelace", "address": {"line1": "12 Analytical Row", "city": "London", "country": "GB"}}
    record = pending_record(
        status="partially_refunded",
        amount_total="9500",
        amount_subtotal="9000",
        amount_refunded="4500",
        paid_currency="gbp",
        customer=json.dumps(customer),
        shipping=json.dumps(shipping),
        tracking="1Z999",
        session_id="cs_test_1",
        payment_intent="pi_1",
        event_ids=json.dumps(["evt_1", "evt_2"]),
        flags=json.dumps(["currency_mismatch", "disputed"]),
        oversold=json.dumps([{"sku": "balm-tee/M", "quantity": 1}]),
        restocked=json.dumps({"balm-tee/M": 1}),
        dispute=json.dumps({"id": "dp_1", "status": "won", "reason": "fraudulent", "amount": 9500, "closed": True}),
        updated_at=str(CREATED_MS + 86_400_000),
    )
    order = order_json(record)
    assert (order["amount_total"], order["amount_subtotal"], order["amount_expected"]) == (9500, 9000, 9000)
    assert order["amount_refunded"] == 4500
    # Stripe charged pounds; the items and the expected amount stay in the shop's euros.
    assert (order["currency"], order["expected_currency"]) == ("gbp", "eur")
    assert order["customer"] == customer and order["shipping"] == shipping
    assert order["tracking"] == "1Z999"
    assert order["stripe"] == {"session_id": "cs_test_1", "payment_intent": "pi_1", "event_ids": ["evt_1", "evt_2"]}
    assert order["flags"] == ["currency_mismatch", "disputed"]
    assert order["oversold"] == [{"sku": "balm-tee/M", "quantity": 1}]
    assert order["restocked"] == {"balm-tee/M": 1}
    assert order["dispute"]["status"] == "won"
    assert (order["created_at"], order["updated_at"]) == ("2023-11-14T22:13:20.123Z", "2023-11-15T22:13:20.123Z")


def test_lists_lua_wrote_as_empty_objects_are_empty_lists():
    record = pending_record(items="{}", flags="{}", oversold="{}", event_ids="{}", history="{}")
    order = order_json(record)
    assert order["items"] == [] and order["flags"] == [] and order["oversold"] == [] and order["history"] == []
    assert order["stripe"]["event_ids"] == []


def test_an_order_started_from_a_session_without_readable_items_has_no_amounts_to_expect():
    # _session.lua's start_order: no items, no amount_expected, and currency '' when the session named none.
    record = {
        "id": "ord_sabc",
        "status": "needs_review",
        "items": "{}",
        "currency": "",
        "created_at": str(CREATED_MS),
        "history": "[]",
        "event_ids": json.dumps(["evt_1"]),
        "flags": json.dumps(["needs_review"]),
        "oversold": "[]",
        "review_reason": "metadata.items is missing; the session has no line items",
        "updated_at": str(CREATED_MS),
    }
    order = order_json(record)
    assert (order["amount_total"], order["amount_expected"], order["amount_refunded"]) == (None, None, 0)
    assert (order["currency"], order["expected_currency"]) == (None, None)
    assert order["review_reason"] == "metadata.items is missing; the session has no line items"


def test_an_item_no_hold_or_sale_marked_yet_is_shown_as_not_stock_tracked():
    # An unpaid Payment Link session (awaiting_payment): its items come from the event, no stock was touched.
    record = pending_record(
        status="awaiting_payment", items=json.dumps([{**BALM_M, "quantity": 1}]), amount_expected="4500"
    )
    assert order_json(record)["items"] == [{**BALM_M, "quantity": 1, "stock_tracked": False}]


@pytest.mark.parametrize(
    ("ms", "text"),
    [
        (CREATED_MS, "2023-11-14T22:13:20.123Z"),
        (str(CREATED_MS), "2023-11-14T22:13:20.123Z"),
        ("1700000000123.0", "2023-11-14T22:13:20.123Z"),  # a Lua number written as a float
        (0, "1970-01-01T00:00:00.000Z"),
        (None, None),
        ("", None),
    ],
)
def test_times_are_iso_8601_utc_to_the_millisecond(ms, text):
    assert iso(ms) == text


def test_new_order_ids_are_ours_unguessable_and_in_the_order_they_were_made(monkeypatch):
    made = []
    for ms in [*range(1_700_000_000_000, 1_700_000_000_032), 1_700_000_001_000, 1_800_000_000_000]:
        monkeypatch.setattr("shop.orders.time.time", lambda ms=ms: ms / 1000)
        made.append(new_order_id())
    assert made == sorted(made)  # one millisecond apart is enough
    # The webhook knows each for an order this shop started (not one of a Payment Link's sessions).
    catalog = Catalog.load(ROOT / "catalog.json")
    for order_id in made:
        session = checkout_session(items="balm-tee/M", order_id=order_id)
        assert event_action(event("checkout.session.completed", session), catalog).order_id == order_id
    same_moment = {new_order_id() for _ in range(50)}
    assert len(same_moment) == 50  # the random part tells apart ids made in the same millisecond
