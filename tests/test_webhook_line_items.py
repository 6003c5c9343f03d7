"""Way 3 of SPEC section 4: what was bought, from the session's line items on Stripe's API."""

from __future__ import annotations

import pytest

from tests.stripe_factory import checkout_session, event, fixture

pytestmark = pytest.mark.backends()


@pytest.fixture
def app(make_app, stub):
    app = make_app(STRIPE_SECRET_KEY="sk_test_stand_in", STRIPE_API_BASE=stub.base, STRIPE_TIMEOUT_SECONDS=10)
    app.extensions["shop"].inventory.initialize("chapter-ii", {"wool-coat/M": 4, "ridge-knit/S": 2})
    return app


def line(stub_price_metadata=None, product_metadata=None, quantity=1):
    item = fixture("checkout.session.line_item.item")
    item["quantity"] = quantity
    item["price"] = {
        **item["price"],
        "metadata": stub_price_metadata or {},
        "product": {"id": "prod_1", "object": "product", "metadata": product_metadata or {}},
    }
    return item


def session_on_stripe(stub, lines):
    session = checkout_session(items=None)
    stub.sessions[session["id"]] = session
    stub.line_items[session["id"]] = lines
    return session


def stock(shop, sku):
    return next(r for c in shop.inventory.snapshot() for r in c["skus"] if r["sku"] == sku)["on_hand"]


def test_sku_in_price_metadata(deliver, shop, stub):
    session = session_on_stripe(stub, [line({"sku": "wool-coat/M"}, quantity=2)])
    answer = deliver(event("checkout.session.completed", session)).get_json()
    assert answer["order_status"] == "paid"
    assert stock(shop, "wool-coat/M") == 2
    assert any(path.endswith(f"/{session['id']}/line_items") for _, path, _ in stub.requests)


def test_product_and_size_in_product_metadata(deliver, shop, stub):
    session = session_on_stripe(
        stub, [line(product_metadata={"product": "ridge-knit", "size": "S"}), line({"sku": "wool-coat/M"})]
    )
    answer = deliver(event("checkout.session.completed", session)).get_json()
    assert answer["order_status"] == "paid"
    assert stock(shop, "ridge-knit/S") == 1 and stock(shop, "wool-coat/M") == 3


def test_unknown_line_items_need_review(deliver, shop, stub, client, owner_headers):
    session = session_on_stripe(stub, [line({"sku": "mystery/XL"})])
    answer = deliver(event("checkout.session.completed", session)).get_json()
    assert answer["order_status"] == "needs_review"
    order = client.get(f"/api/owner/orders/{answer['order_id']}", headers=owner_headers).get_json()
    assert "unknown SKU 'mystery/XL'" in order["review_reason"]
    # Later events for the session are duplicates; the owner resolves it.
    assert deliver(event("checkout.session.async_payment_succeeded", session)).get_json()["status"] == "duplicate"


def test_stripe_unreachable_answers_5xx_so_stripe_retries(deliver, shop, stub):
    session = session_on_stripe(stub, [line({"sku": "wool-coat/M"})])
    stub.fail_with = "500"
    failed = deliver(event("checkout.session.completed", session))
    assert failed.status_code >= 500
    assert stock(shop, "wool-coat/M") == 4
    stub.fail_with = None
    assert deliver(event("checkout.session.completed", session)).get_json()["order_status"] == "paid"
    assert stock(shop, "wool-coat/M") == 3


def test_unknown_session_on_stripe_needs_review(deliver, stub):
    session = checkout_session(items=None)  # Stripe answers 404 for it
    answer = deliver(event("checkout.session.completed", session)).get_json()
    assert answer["order_status"] == "needs_review"


def test_metadata_items_win_over_line_items(deliver, shop, stub):
    session = session_on_stripe(stub, [line({"sku": "wool-coat/M"})])
    session["metadata"]["items"] = "ridge-knit/S*2"
    deliver(event("checkout.session.completed", session))
    assert stock(shop, "ridge-knit/S") == 0 and stock(shop, "wool-coat/M") == 4
    assert not stub.requests
