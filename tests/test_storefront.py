"""Storefront pages: chapters, products with live sizes, cart, 404s.

On redis only: these check HTML; the stock numbers behind it run on every backend in the owner API
and checkout suites.
"""

from __future__ import annotations

import json
import re

import pytest


def page(client, path):
    response = client.get(path)
    return response.status_code, response.get_data(as_text=True)


def size_label(html, sku):
    match = re.search(r'<label class="size size-(\w+)">\s*<input[^>]*value="' + re.escape(sku) + r'"([^>]*)>', html)
    return match.group(1), "disabled" in match.group(2)


def test_home_lists_both_chapters_with_products(client):
    status, html = page(client, "/")
    assert status == 200
    assert "Chapter I" in html and "Chapter II" in html
    assert "Balm Tee" in html and "Wool Coat" in html and "€45.00" in html


def test_chapter_page(client):
    status, html = page(client, "/chapters/chapter-ii")
    assert status == 200 and "Field Trouser" in html and "Balm Tee" not in html.split("<main")[1]


def test_uninitialized_chapter_is_coming_soon_and_not_buyable(client):
    status, html = page(client, "/products/wool-coat")
    assert status == 200
    assert size_label(html, "wool-coat/M") == ("soon", True)
    assert "Coming soon" in html


def test_sizes_show_live_availability(client, shop):
    shop.inventory.initialize("chapter-i", {"balm-tee/S": 0, "balm-tee/M": 3, "balm-tee/L": 40})
    shop.store.checkout_hold(
        {
            "order_id": "ord_heldone",
            "items": [
                {
                    "sku": "balm-tee/M",
                    "chapter": "chapter-i",
                    "name": "Balm Tee",
                    "size": "M",
                    "quantity": 1,
                    "unit_amount": 4500,
                }
            ],
            "hold_until": 10**13,
            "amount_expected": 4500,
            "currency": "eur",
        },
        None,
        1,
    )
    _, html = page(client, "/products/balm-tee")
    assert size_label(html, "balm-tee/S") == ("sold_out", True)
    assert size_label(html, "balm-tee/M") == ("low", False)
    assert "only 2 left" in html  # 3 on hand, 1 held by an open checkout
    assert size_label(html, "balm-tee/L") == ("in_stock", False)
    assert "Add to cart" in html


def test_all_sizes_sold_out(client, shop):
    shop.inventory.initialize("chapter-i", {})
    _, html = page(client, "/products/balm-tee")
    assert "Sold out" in html and "disabled>\n        \n          Sold out" not in html


@pytest.mark.parametrize("path", ["/products/nope", "/chapters/chapter-ix", "/line/chapter-ix", "/nothing-here"])
def test_unknown_pages_are_readable_404s(client, path):
    status, html = page(client, path)
    assert status == 404 and "Back to the shop" in html and "Traceback" not in html


def test_cart_page_embeds_catalog_prices(client):
    status, html = page(client, "/cart")
    assert status == 200
    data = json.loads(
        re.search(r'<script type="application/json" id="cart-catalog">(.*?)</script>', html, re.S).group(1)
    )
    assert data["currency"] == "eur"
    assert data["items"]["balm-tee/M"] == {"name": "Balm Tee", "size": "M", "price": 4500, "product": "balm-tee"}
    assert "<script>" not in html  # no inline executable script


def test_success_page_without_session_id_is_400(client):
    status, html = page(client, "/checkout/success")
    assert status == 400 and "session_id" in html
