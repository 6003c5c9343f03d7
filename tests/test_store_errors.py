"""The store's wrappers turn each script refusal into a typed error carrying what the answer needs."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from shop.errors import (
    ChapterAlreadyInitialized,
    ChapterNotInitialized,
    CheckoutRefused,
    Conflict,
    NotFound,
    NotRefundable,
    OrderNotFound,
    RestockTooMany,
    StatusMoveRefused,
    StockBelowZero,
)

ROOT = Path(__file__).resolve().parent.parent
ITEM = {"sku": "balm-tee/M", "chapter": "chapter-i", "name": "Balm Tee", "size": "M", "unit_amount": 4500}


def hold(shop, order_id: str, quantity: int):
    return shop.store.checkout_hold(
        {
            "order_id": order_id,
            "items": [{**ITEM, "quantity": quantity}],
            "hold_until": 10**13,
            "amount_expected": 4500 * quantity,
            "currency": "eur",
            "chapters": ["chapter-i"],
            "shopper_max_units": 100,
            "address_max_units": 100,
            "address_per_minute": 100,
            "email": None,
            "product_limits": {},
        },
        None,
        1_700_000_000_000,
        chapter_names={"chapter-i": "Chapter I"},
    )


def test_a_short_cart_is_a_checkout_refusal_naming_each_sku_and_what_is_left(shop):
    shop.inventory.initialize("chapter-i", {"balm-tee/M": 1})
    with pytest.raises(CheckoutRefused) as caught:
        hold(shop, "ord_short1", 2)
    assert isinstance(caught.value, Conflict) and caught.value.reason == "short"
    assert caught.value.message == "not enough stock for: balm-tee/M (1 left); change the cart and try again"
    assert caught.value.details == {"skus": [{"sku": "balm-tee/M", "requested": 2, "available": 1}]}


def test_a_hold_that_fits_answers_the_hold(shop):
    shop.inventory.initialize("chapter-i", {"balm-tee/M": 2})
    assert hold(shop, "ord_fits1", 2) == {"ok": True, "replaced": None}


def test_stock_changes_refused_by_the_script_are_typed(shop):
    request = {"mode": "adjust", "chapter": "chapter-i", "changes": [["balm-tee/M", -1]], "skus": ["balm-tee/M"]}
    with pytest.raises(ChapterNotInitialized) as caught:
        shop.store.change_stock({**request, "actor": "owner", "note": "", "ref": ""}, 1, chapter_name="Chapter I")
    assert caught.value.message == "Chapter I is not initialized yet; initialize it first"
    assert caught.value.chapter == "chapter-i"
    shop.inventory.initialize("chapter-i", {"balm-tee/M": 0})
    with pytest.raises(StockBelowZero) as below:
        shop.store.change_stock({**request, "actor": "owner", "note": "", "ref": ""}, 1, chapter_name="Chapter I")
    assert below.value.details["skus"] == [{"sku": "balm-tee/M", "on_hand": 0, "delta": -1}]
    with pytest.raises(ChapterAlreadyInitialized):
        shop.inventory.initialize("chapter-i", {"balm-tee/M": 3})


def test_order_scripts_refusals_are_typed(shop):
    with pytest.raises(OrderNotFound) as caught:
        shop.store.request_refund("ord_nobody", restock=False, note="", now_ms=1)
    assert isinstance(caught.value, NotFound) and caught.value.message == "no order 'ord_nobody'"
    with pytest.raises(OrderNotFound):
        shop.store.restock_order("ord_nobody", {"order_id": "ord_nobody", "lines": [], "actor": "o", "note": ""}, 1)
    shop.inventory.initialize("chapter-i", {"balm-tee/M": 2})
    hold(shop, "ord_pending1", 1)
    with pytest.raises(NotRefundable) as refused:
        shop.store.request_refund("ord_pending1", restock=False, note="", now_ms=1)
    assert refused.value.message == "order ord_pending1 is pending: only paid, shipped or delivered orders are refunded"
    with pytest.raises(StatusMoveRefused) as moved:
        shop.orders.set_status("ord_pending1", "shipped")
    assert moved.value.message == "order ord_pending1 is pending; it can become shipped only from paid"
    assert moved.value.current == "pending"


def test_restock_of_more_than_sold_names_what_is_left():
    error = RestockTooMany([{"sku": "balm-tee/M", "left": 1}])
    assert error.message == "more units than the order sold and has not restocked yet (balm-tee/M: 1 left to restock)"


def test_domain_code_reads_no_script_error_answers():
    """Only the store's wrappers read a script's {"error": ...}; the domain catches typed errors."""
    domain = ("inventory", "orders", "checkout", "refunds", "fulfillment", "reconcile", "line")
    for path in (ROOT / "shop" / f"{name}.py" for name in domain):
        text = path.read_text() if path.exists() else ""
        assert not re.search(r"""\.get\(["']error["']\)""", text), path.name
        assert not re.search(r"""\[["']error["']\]""", text), path.name
