"""Way 3 of SPEC section 4: what was bought, from the session's line items on Stripe's API."""

from __future__ import annotations

import pytest

from shop.stripe_events import derived_order_id
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


def count_store_calls(shop, monkeypatch) -> list[str]:
    """The store commands the app sends from now on, by kind (evalsha, call, pipeline, script_load)."""
    backend, sent = shop.store.backend, []
    for name in ("evalsha", "script_load", "call", "pipeline"):
        real = getattr(backend, name)
        monkeypatch.setattr(
            backend, name, lambda *a, _real=real, _name=name, **k: (sent.append(_name), _real(*a, **k))[1]
        )
    return sent


def test_an_order_id_reused_by_another_session_becomes_that_sessions_own_order(deliver, shop, stub, monkeypatch):
    first = checkout_session(items="wool-coat/M", order_id="ord_reused01")
    assert deliver(event("checkout.session.completed", first)).get_json()["order_id"] == "ord_reused01"
    second = checkout_session(items="wool-coat/M*2", order_id="ord_reused01")
    sent = count_store_calls(shop, monkeypatch)
    answer = deliver(event("checkout.session.completed", second)).get_json()
    assert answer == {"status": "applied", "order_id": derived_order_id(second["id"]), "order_status": "paid"}
    assert sent == ["evalsha", "evalsha"]  # the conflict, then the session's own order
    assert stock(shop, "wool-coat/M") == 1
    assert [i["quantity"] for i in shop.orders.get("ord_reused01")["items"]] == [1]
    assert not stub.requests  # the items were readable: Stripe was not asked


def test_a_reused_order_id_without_readable_items_is_one_retry_with_the_line_items(deliver, shop, stub, monkeypatch):
    deliver(event("checkout.session.completed", checkout_session(items="wool-coat/M", order_id="ord_reused02")))
    second = session_on_stripe(stub, [line({"sku": "ridge-knit/S"}, quantity=2)])
    second["metadata"]["order_id"] = second["client_reference_id"] = "ord_reused02"
    sent = count_store_calls(shop, monkeypatch)
    answer = deliver(event("checkout.session.completed", second)).get_json()
    assert answer == {"status": "applied", "order_id": derived_order_id(second["id"]), "order_status": "paid"}
    assert sent == ["evalsha", "evalsha"]  # one retry, with the session's own id and its line items together
    assert stock(shop, "ridge-knit/S") == 0
    order = shop.orders.get(derived_order_id(second["id"]))
    assert [(i["sku"], i["quantity"]) for i in order["items"]] == [("ridge-knit/S", 2)]
