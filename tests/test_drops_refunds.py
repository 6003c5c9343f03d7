"""Refunds from Owner Mode and the owner API, through the Stripe stand-in (which checks Stripe's refund schema).

The order moves only when Stripe's refund event arrives, once; units go back on sale only if asked.
"""

from __future__ import annotations

import re

import pytest

from tests.stripe_factory import event, fixture
from tests.test_owner_mode import login

pytestmark = pytest.mark.backends()  # the restock happens in the webhook's script: on every store

URL = "/api/owner/orders/{}/refund"


@pytest.fixture
def app(make_app, stub):
    app = make_app(STRIPE_SECRET_KEY="sk_test_stand_in", STRIPE_API_BASE=stub.base, PUBLIC_URL="http://127.0.0.1:5000")
    app.extensions["shop"].inventory.initialize("chapter-ii", {"wool-coat/M": 5, "ridge-knit/M": 5})
    return app


def on_hand(shop, sku):
    return next(r for c in shop.inventory.snapshot() for r in c["skus"] if r["sku"] == sku)["on_hand"]


def paid_order(app, stub, deliver):
    """A coat and a knit bought through our own checkout and paid: 32000 + 16000."""
    browser = app.test_client()
    browser.get("/")
    started = browser.post(
        "/api/checkout",
        json={
            "items": [{"sku": "wool-coat/M", "quantity": 1}, {"sku": "ridge-knit/M", "quantity": 1}],
            "email": "ada@example.com",
        },
    ).get_json()
    paid = stub.complete(started["session_id"], customer_details={"email": "ada@example.com", "name": "Ada"})
    assert deliver(event("checkout.session.completed", paid)).get_json()["order_status"] == "paid"
    return started["order_id"], paid["payment_intent"]


def charge_refunded(payment_intent, amount_refunded, amount=48000):
    obj = fixture("charge")
    obj.update(payment_intent=payment_intent, amount=amount, amount_refunded=amount_refunded)
    obj["refunded"] = amount_refunded >= amount
    return event("charge.refunded", obj)


def test_full_refund_with_restock_moves_the_order_and_the_stock_once(app, shop, stub, deliver, client, owner_headers):
    order_id, pi = paid_order(app, stub, deliver)
    assert on_hand(shop, "wool-coat/M") == 4
    answer = client.post(URL.format(order_id), json={"amount": None, "restock": True}, headers=owner_headers)
    assert answer.status_code == 200, answer.get_json()
    refund = answer.get_json()
    assert refund["object"] == "refund" and refund["amount"] == 48000 and refund["payment_intent"] == pi
    assert refund["metadata"] == {"order_id": order_id, "restock": "true", "actor": "owner"}
    _, path, params = [r for r in stub.requests if r[1] == "/v1/refunds"][-1]
    assert params == {"payment_intent": pi, "metadata": {"order_id": order_id, "restock": "true", "actor": "owner"}}
    # nothing moves until Stripe says so
    assert shop.orders.get(order_id)["status"] == "paid" and on_hand(shop, "wool-coat/M") == 4
    first = deliver(charge_refunded(pi, 48000)).get_json()
    assert first["status"] == "applied" and first["order_status"] == "refunded"
    assert (on_hand(shop, "wool-coat/M"), on_hand(shop, "ridge-knit/M")) == (5, 5)
    assert deliver(charge_refunded(pi, 48000)).get_json()["status"] == "duplicate"
    assert (on_hand(shop, "wool-coat/M"), on_hand(shop, "ridge-knit/M")) == (5, 5)
    restocks = shop.inventory.ledger(reason="refund_restock")[0]
    assert sorted((e["sku"], e["delta"], e["ref"]) for e in restocks) == [
        ("ridge-knit/M", 1, order_id),
        ("wool-coat/M", 1, order_id),
    ]
    assert shop.orders.get(order_id)["restocked"] == {"wool-coat/M": 1, "ridge-knit/M": 1}


def test_partial_refund_without_restock_leaves_the_stock(app, shop, stub, deliver, client, owner_headers):
    order_id, pi = paid_order(app, stub, deliver)
    answer = client.post(URL.format(order_id), json={"amount": 16000, "restock": False}, headers=owner_headers)
    assert answer.status_code == 200 and answer.get_json()["amount"] == 16000
    assert deliver(charge_refunded(pi, 16000)).get_json()["order_status"] == "partially_refunded"
    order = shop.orders.get(order_id)
    assert order["amount_refunded"] == 16000 and order["restocked"] == {}
    assert on_hand(shop, "wool-coat/M") == 4 and not shop.inventory.ledger(reason="refund_restock")[0]


def test_a_repeated_key_is_one_refund(app, shop, stub, deliver, client, owner_headers):
    order_id, _ = paid_order(app, stub, deliver)
    headers = {**owner_headers, "Idempotency-Key": "click-4f1b2c3d"}
    first = client.post(URL.format(order_id), json={"amount": 1000, "restock": False}, headers=headers).get_json()
    again = client.post(URL.format(order_id), json={"amount": 1000, "restock": False}, headers=headers).get_json()
    assert first["id"] == again["id"] and len(stub.refunds) == 1


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        ({"amount": 0, "restock": False}, 400, "whole number of minor units"),
        ({"amount": "10", "restock": False}, 400, "whole number of minor units"),
        ({"amount": 48001, "restock": False}, 400, "at most 48000"),
        ({"amount": None, "restock": "yes"}, 400, "restock must be true"),
        ({"amount": None, "restock": False, "reason": "x"}, 400, "unknown field"),
    ],
)
def test_bad_refunds_are_refused_before_stripe(app, stub, deliver, client, owner_headers, body, status, words):
    order_id, _ = paid_order(app, stub, deliver)
    answer = client.post(URL.format(order_id), json=body, headers=owner_headers)
    assert answer.status_code == status and words in answer.get_json()["error"]
    assert not stub.refunds


def test_a_refund_stripe_refuses_is_a_409_that_says_so(app, shop, stub, deliver, client, owner_headers):
    order_id, pi = paid_order(app, stub, deliver)
    assert (
        client.post(URL.format(order_id), json={"amount": None, "restock": False}, headers=owner_headers).status_code
        == 200
    )
    # All 48000 are refunded: Stripe refuses a second refund of the rest, which is the owner's to see, not a 5xx.
    again = client.post(URL.format(order_id), json={"amount": 100, "restock": False}, headers=owner_headers)
    assert again.status_code == 409
    error = again.get_json()["error"]
    assert error.startswith("Stripe refused the refund: Refund amount (100) is greater")
    assert error.endswith("nothing was refunded")
    assert len(stub.refunds) == 1


def test_an_order_that_is_not_paid_cannot_be_refunded(app, shop, stub, client, owner_headers):
    browser = app.test_client()
    started = browser.post("/api/checkout", json={"items": [{"sku": "ridge-knit/M", "quantity": 1}]}).get_json()
    answer = client.post(
        URL.format(started["order_id"]), json={"amount": None, "restock": False}, headers=owner_headers
    )
    assert answer.status_code == 409 and "no Stripe payment" in answer.get_json()["error"]
    assert (
        client.post(URL.format("ord_nope"), json={"amount": None, "restock": False}, headers=owner_headers).status_code
        == 404
    )
    assert client.post(URL.format(started["order_id"]), json={"amount": None, "restock": False}).status_code == 401
    assert not stub.refunds


def test_refund_from_the_order_page(app, shop, stub, deliver, client):
    order_id, pi = paid_order(app, stub, deliver)
    token = login(client)
    page = client.get(f"/owner/orders/{order_id}").get_data(as_text=True)
    assert "data-refund-form" in page
    key = re.search(r'name="refund_key" value="([^"]+)"', page).group(1)
    form = {"csrf_token": token, "refund_key": key, "amount": "160.00", "restock": "1"}
    done = client.post(f"/owner/orders/{order_id}/refund", data=form)
    assert done.status_code == 302
    client.post(f"/owner/orders/{order_id}/refund", data=form)  # a double click: the same key
    assert len(stub.refunds) == 1
    (refund,) = stub.refunds.values()
    assert (refund["amount"], refund["metadata"]["restock"]) == (16000, "true")
    assert "Stripe created refund" in client.get(f"/owner/orders/{order_id}").get_data(as_text=True)
    deliver(charge_refunded(pi, 16000))
    assert shop.orders.get(order_id)["status"] == "partially_refunded"
    assert on_hand(shop, "wool-coat/M") == 5  # asked: the order's units are back on sale
    without_csrf = client.post(f"/owner/orders/{order_id}/refund", data={"amount": "1"})
    assert without_csrf.status_code in (400, 403) and len(stub.refunds) == 1
    bad_amount = client.post(
        f"/owner/orders/{order_id}/refund", data={**form, "refund_key": "k" * 20, "amount": "1,234"}
    )
    assert bad_amount.status_code == 302 and len(stub.refunds) == 1  # back to the page with the reason
    assert "write it like 45 or 45.50" in client.get(f"/owner/orders/{order_id}").get_data(as_text=True)


def coat(app, email="Ada+again@example.com"):
    browser = app.test_client()
    browser.get("/")
    return browser.post("/api/checkout", json={"items": [{"sku": "wool-coat/M", "quantity": 1}], "email": email})


def test_a_full_refund_lets_the_customer_buy_the_piece_again(app, stub, deliver, client, owner_headers):
    order_id, pi = paid_order(app, stub, deliver)
    assert coat(app).status_code == 409  # one per customer: the coat is paid for
    client.post(URL.format(order_id), json={"amount": 16000, "restock": False}, headers=owner_headers)
    deliver(charge_refunded(pi, 16000))
    assert coat(app).status_code == 409  # a partial refund: the coat is still theirs
    client.post(URL.format(order_id), json={"amount": None, "restock": False}, headers=owner_headers)
    assert deliver(charge_refunded(pi, 48000)).get_json()["order_status"] == "refunded"
    again = coat(app)
    assert again.status_code == 201, again.get_json()
