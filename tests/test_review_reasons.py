"""A needs_review order says what was wrong: the unknown SKU, the bad quantity, the entry that does not parse.

The parser is tested on its own (no store); the webhook test reads the reason off the order.
"""

from __future__ import annotations

import pytest

from shop.catalog import Catalog
from shop.config import ROOT
from shop.stripe_events import read_line_items, read_metadata_items
from tests.stripe_factory import checkout_session, event

CATALOG = Catalog.load(ROOT / "catalog.json")


@pytest.mark.parametrize(
    ("text", "lines"),
    [
        ("balm-tee/M*2", {"balm-tee/M": 2}),
        (" balm-tee/M * 2 ,balm-tee/M, wool-coat/L ", {"balm-tee/M": 3, "wool-coat/L": 1}),
        ("tide-tote/OS*999", {"tide-tote/OS": 999}),
    ],
)
def test_readable_items(text, lines):
    assert read_metadata_items(text, CATALOG) == (lines, None)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (None, "metadata.items is missing"),
        ("   ", "metadata.items is missing"),
        (42, "metadata.items is not text"),
        ("balm-tee/XXL", "metadata.items 'balm-tee/XXL': unknown SKU 'balm-tee/XXL' (not in the catalog)"),
        (
            "balm-tee/M*2,balm-tee/XXL*1,nope/S",
            "metadata.items 'balm-tee/M*2,balm-tee/XXL*1,nope/S': unknown SKUs 'balm-tee/XXL', 'nope/S' "
            "(not in the catalog)",
        ),
        ("balm-tee/M*0", "balm-tee/M: quantity 0 is not a whole number from 1 to 999"),
        ("balm-tee/M*1000", "balm-tee/M: quantity 1000 is not a whole number from 1 to 999"),
        ("balm-tee/M*600,balm-tee/M*600", "balm-tee/M: 1200 units in all, more than 999"),
        ("balm-tee/M*-1", "balm-tee/M: quantity -1 is not a whole number from 1 to 999"),
        ("balm-tee/M*99999", "balm-tee/M: quantity 99999 is not a whole number from 1 to 999"),
        ("balm-tee/M*2.5", "entry 1 'balm-tee/M*2.5' is not sku*quantity (e.g. balm-tee/M*2)"),
        ("balm-tee/M**2", "entry 1 'balm-tee/M**2' is not sku*quantity"),
        ("balm-tee/M*2,,", "entry 2 is empty; entry 3 is empty"),
        ("x" * 501, "metadata.items is 501 characters long (at most 500)"),
    ],
)
def test_unreadable_items_say_what_is_wrong(text, reason):
    lines, problem = read_metadata_items(text, CATALOG)
    assert lines is None
    assert reason in problem


def test_unknown_sku_and_bad_quantity_are_both_named():
    _, problem = read_metadata_items("balm-tee/XXL*2, wool-coat/M*0", CATALOG)
    assert problem == (
        "metadata.items 'balm-tee/XXL*2, wool-coat/M*0': unknown SKU 'balm-tee/XXL' (not in the catalog); "
        "wool-coat/M: quantity 0 is not a whole number from 1 to 999"
    )


def test_line_items_name_what_is_not_the_shops():
    lines = [
        {"description": "Balm Tee", "quantity": 1, "price": {"metadata": {"sku": "balm-tee/M"}}},
        {"description": "Gift card", "quantity": 1, "price": {"metadata": {}, "product": {"metadata": {}}}},
        {"description": "Old tee", "quantity": 1, "price": {"metadata": {"sku": "balm-tee/XXL"}}},
    ]
    found, problem = read_line_items(lines, CATALOG)
    assert found is None
    assert problem == (
        "line item 'Gift card' carries no sku (price or product metadata); "
        "line item 'Old tee' names the unknown SKU 'balm-tee/XXL'"
    )
    assert read_line_items(lines[:1], CATALOG) == ({"balm-tee/M": 1}, None)


@pytest.mark.backends()
def test_webhook_review_reason_names_the_unknown_sku(deliver, shop, client, owner_headers):
    shop.inventory.initialize("chapter-i", {"balm-tee/M": 5})
    answer = deliver(event("checkout.session.completed", checkout_session(items="balm-tee/XXL*2"))).get_json()
    assert (answer["status"], answer["order_status"]) == ("applied", "needs_review")
    order = client.get(f"/api/owner/orders/{answer['order_id']}", headers=owner_headers).get_json()
    assert order["review_reason"] == (
        "metadata.items 'balm-tee/XXL*2': unknown SKU 'balm-tee/XXL' (not in the catalog); the line items "
        "could not be read from Stripe because STRIPE_SECRET_KEY is not set"
    )
    assert order["items"] == [] and shop.inventory.availability(["balm-tee/M"])["balm-tee/M"] == 5


def test_webhook_review_reason_names_the_bad_quantity_and_the_line_items(make_app, stub, deliver_to):
    app = make_app(STRIPE_SECRET_KEY="sk_test_stand_in", STRIPE_API_BASE=stub.base)
    session = checkout_session(items="balm-tee/M*1000")
    stub.sessions[session["id"]] = session
    stub.line_items[session["id"]] = [{"description": "Balm Tee M", "quantity": 1000, "price": {"metadata": {}}}]
    answer = deliver_to(app.test_client(), event("checkout.session.completed", session)).get_json()
    order = app.extensions["shop"].orders.get(answer["order_id"])
    assert order["status"] == "needs_review"
    assert order["review_reason"] == (
        "metadata.items 'balm-tee/M*1000': balm-tee/M: quantity 1000 is not a whole number from 1 to 999; "
        "line item 'Balm Tee M' carries no sku (price or product metadata)"
    )
