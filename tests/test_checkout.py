"""POST /api/checkout, holds, the success and cancel pages, against the Stripe stand-in."""

from __future__ import annotations

import time

import pytest

from tests.clock import shop_clock
from tests.stripe_factory import event

pytestmark = pytest.mark.backends()

URL = "/api/checkout"


@pytest.fixture
def shop_app(make_stripe_app):
    """An app on the Stripe stand-in; the first one stocks Chapter I (``stock=False`` for another on the same store)."""

    def make(stock=True, **overrides):
        app = make_stripe_app(**overrides)
        if stock:
            app.extensions["shop"].inventory.initialize(
                "chapter-i", {"balm-tee/M": 3, "balm-tee/L": 1, "tide-tote/OS": 5}
            )
        return app

    return make


@pytest.fixture
def app(shop_app):
    return shop_app()


def avail(shop, sku):
    return shop.inventory.availability([sku])[sku]


def test_checkout_holds_stock_and_creates_a_valid_session(client, shop, stub):
    before = int(time.time())
    response = client.post(
        URL, json={"items": [{"sku": "balm-tee/M", "quantity": 2}, {"sku": "tide-tote/OS", "quantity": 1}]}
    )
    assert response.status_code == 201, response.get_json()
    answer = response.get_json()
    assert set(answer) == {"url", "order_id", "session_id"}
    assert answer["url"] == stub.sessions[answer["session_id"]]["url"]
    assert avail(shop, "balm-tee/M") == 1
    order = shop.orders.get(answer["order_id"])
    assert order["status"] == "pending" and order["amount_total"] == 2 * 4500 + 3500
    _, path, params = [r for r in stub.requests if r[1] == "/v1/checkout/sessions"][-1]
    assert params["metadata"] == {"order_id": answer["order_id"]}
    assert params["client_reference_id"] == answer["order_id"]
    assert params["line_items"][0]["price_data"]["unit_amount"] == "4500"
    assert params["line_items"][0]["price_data"]["product_data"]["metadata"] == {"sku": "balm-tee/M"}
    assert before + 32 * 60 <= int(params["expires_at"]) <= int(time.time()) + 32 * 60  # hold: 30 min + 2 of grace
    assert params["success_url"].endswith("/checkout/success?session_id={CHECKOUT_SESSION_ID}")
    assert "GB" in params["shipping_address_collection"]["allowed_countries"]


QTY = "item 1 (balm-tee/M): quantity must be a whole number from 1 to 10"
SHAPE = 'send {"items": [{"sku": "balm-tee/M", "quantity": 1}]}'


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"items": []}, "the cart is empty: add at least one item"),
        (
            {"items": [{"sku": "nope/M", "quantity": 1}]},
            "item 1: unknown sku 'nope/M'; reload the shop to see what is on sale",
        ),
        ({"items": [{"sku": "balm-tee/M", "quantity": 0}]}, QTY),
        ({"items": [{"sku": "balm-tee/M", "quantity": 11}]}, QTY),
        ({"items": [{"sku": "balm-tee/M", "quantity": "2"}]}, QTY),
        ({"items": [{"sku": "balm-tee/M", "quantity": True}]}, QTY),
        ({"items": "balm-tee/M"}, SHAPE),
        ([], SHAPE),
        ({"cart": []}, SHAPE),
        (
            {"items": [{"sku": "balm-tee/M", "quantity": 6}, {"sku": "balm-tee/M", "quantity": 5}]},
            "balm-tee/M: at most 10 of one size per order",
        ),
        ({"items": ["balm-tee/M"]}, "item 1 must be an object with sku and quantity"),
    ],
)
def test_bad_carts_are_400_and_hold_nothing(client, shop, stub, body, message):
    response = client.post(URL, json=body)
    assert response.status_code == 400
    assert response.get_json()["error"] == message
    assert avail(shop, "balm-tee/M") == 3
    assert not stub.requests


def test_oversized_and_malformed_bodies_are_400(client, stub):
    huge = client.post(URL, data=b"{" * 70000, content_type="application/json")
    assert huge.status_code == 400
    assert huge.get_json()["error"] == "the cart is too large (over 64 KiB); send only sku and quantity per line"
    garbled = client.post(URL, data=b"not json", content_type="application/json")
    assert garbled.status_code == 400
    assert garbled.get_json()["error"] == 'send the cart as JSON: {"items": [{"sku": "balm-tee/M", "quantity": 1}]}'
    assert not stub.requests


def test_short_stock_is_409_naming_each_sku(client, shop, stub):
    response = client.post(
        URL,
        json={
            "items": [
                {"sku": "balm-tee/L", "quantity": 2},
                {"sku": "field-trouser/30", "quantity": 1},
                {"sku": "balm-tee/M", "quantity": 1},
            ]
        },
    )
    assert response.status_code == 409
    assert response.get_json()["skus"] == [
        {"sku": "balm-tee/L", "requested": 2, "available": 1},
        {"sku": "field-trouser/30", "requested": 1, "available": 0},
    ]
    assert avail(shop, "balm-tee/M") == 3  # all or nothing
    assert not stub.requests


def stripe_failure_releases_the_hold(shop_app, stub, failure):
    # Cut a hanging Stripe off soon (the client tries twice); the stand-in hangs longer than both tries.
    app = shop_app(STRIPE_TIMEOUT_SECONDS=0.5)
    shop, client = app.extensions["shop"], app.test_client()
    stub.fail_with, stub.hang_seconds = failure, 5
    response = client.post(URL, json={"items": [{"sku": "balm-tee/M", "quantity": 3}]})
    assert response.status_code == 502
    assert "nothing was reserved" in response.get_json()["error"]
    assert avail(shop, "balm-tee/M") == 3
    stub.fail_with = None
    retry = shop_app(stock=False).test_client()  # the usual timeout: a slow machine must not fail the retry
    assert retry.post(URL, json={"items": [{"sku": "balm-tee/M", "quantity": 3}]}).status_code == 201


def test_stripe_error_releases_the_hold(shop_app, stub):
    stripe_failure_releases_the_hold(shop_app, stub, "500")


@pytest.mark.backends("redis", "cluster")  # the store's part is the one above; a hang costs two timeouts
def test_stripe_hanging_releases_the_hold(shop_app, stub):
    stripe_failure_releases_the_hold(shop_app, stub, "hang")


def test_idempotency_key_returns_the_first_answer(client, shop, stub):
    headers = {"Idempotency-Key": "cart-123"}
    first = client.post(URL, json={"items": [{"sku": "balm-tee/M", "quantity": 1}]}, headers=headers)
    second = client.post(URL, json={"items": [{"sku": "balm-tee/M", "quantity": 1}]}, headers=headers)
    assert first.status_code == second.status_code == 201
    assert first.get_json() == second.get_json()
    assert avail(shop, "balm-tee/M") == 2


def test_holds_lapse_by_themselves_and_late_payment_is_oversold(client, shop, stub, deliver_to):
    clock = shop_clock(shop)
    first = client.post(URL, json={"items": [{"sku": "balm-tee/L", "quantity": 1}]}).get_json()
    assert avail(shop, "balm-tee/L") == 0
    clock.advance(32 * 60 - 1)
    assert avail(shop, "balm-tee/L") == 0  # held to the end
    clock.advance(2)
    assert avail(shop, "balm-tee/L") == 1  # no event needed
    second = client.post(URL, json={"items": [{"sku": "balm-tee/L", "quantity": 1}]}).get_json()
    paid_second = stub.complete(second["session_id"])
    assert deliver_to(client, event("checkout.session.completed", paid_second)).get_json()["status"] == "applied"
    paid_first = stub.complete(first["session_id"])
    late = deliver_to(client, event("checkout.session.completed", paid_first)).get_json()
    assert late["status"] == "applied" and late["order_status"] == "paid"
    order = shop.orders.get(first["order_id"])
    assert order["oversold"] == [{"sku": "balm-tee/L", "quantity": 1}]
    assert shop.inventory.snapshot(["chapter-i"])[0]["skus"][4]["on_hand"] == 0


def test_success_page_fulfils_and_webhook_is_then_duplicate(client, shop, stub, deliver_to):
    started = client.post(URL, json={"items": [{"sku": "balm-tee/M", "quantity": 2}]}).get_json()
    paid = stub.complete(started["session_id"])
    page = client.get(f"/checkout/success?session_id={started['session_id']}")
    assert page.status_code == 200
    assert started["order_id"] in page.get_data(as_text=True)
    assert "Grace Hopper" in page.get_data(as_text=True)
    assert deliver_to(client, event("checkout.session.completed", paid)).get_json()["status"] == "duplicate"
    order = shop.orders.get(started["order_id"])
    assert order["status"] == "paid"
    assert shop.inventory.snapshot(["chapter-i"])[0]["skus"][1]["on_hand"] == 1


def test_amount_mismatch_is_flagged(client, shop, stub, deliver_to):
    started = client.post(URL, json={"items": [{"sku": "balm-tee/M", "quantity": 1}]}).get_json()
    paid = stub.complete(started["session_id"], amount_subtotal=100)
    deliver_to(client, event("checkout.session.completed", paid))
    order = shop.orders.get(started["order_id"])
    assert order["status"] == "paid" and "amount_mismatch" in order["flags"]
    assert order["amount_expected"] == 4500 and order["amount_subtotal"] == 100


def test_cancel_expires_session_and_releases_hold(client, shop, stub):
    started = client.post(URL, json={"items": [{"sku": "balm-tee/M", "quantity": 2}]}).get_json()
    page = client.get(f"/checkout/cancel?order_id={started['order_id']}")
    assert page.status_code == 200
    assert "the sizes you picked are back on sale" in page.get_data(as_text=True)
    assert stub.sessions[started["session_id"]]["status"] == "expired"
    assert avail(shop, "balm-tee/M") == 3
    assert shop.orders.get(started["order_id"])["status"] == "expired"


def test_expired_event_releases_hold(client, shop, stub, deliver_to):
    started = client.post(URL, json={"items": [{"sku": "balm-tee/M", "quantity": 2}]}).get_json()
    session = dict(stub.sessions[started["session_id"]], status="expired")
    assert deliver_to(client, event("checkout.session.expired", session)).get_json()["status"] == "applied"
    assert avail(shop, "balm-tee/M") == 3


def test_webhook_and_success_page_racing_fulfil_once(app, shop, stub):
    """Many deliveries and success-page loads of one paid session at once: one fulfilment."""
    import threading

    from tests.stripe_factory import signed

    client = app.test_client()
    started = client.post(URL, json={"items": [{"sku": "balm-tee/M", "quantity": 2}]}).get_json()
    paid = stub.complete(started["session_id"])
    answers, pages, barrier = [], [], threading.Barrier(12)

    def webhook():
        body, headers = signed(event("checkout.session.completed", paid))
        barrier.wait(timeout=10)
        answers.append(app.test_client().post("/api/webhooks/stripe", data=body, headers=headers).get_json()["status"])

    def success_page():
        barrier.wait(timeout=10)
        page = app.test_client().get(f"/checkout/success?session_id={started['session_id']}")
        pages.append((page.status_code, started["order_id"] in page.get_data(as_text=True)))

    threads = [threading.Thread(target=webhook) for _ in range(6)] + [
        threading.Thread(target=success_page) for _ in range(6)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    order = shop.orders.get(started["order_id"])
    commits = [e for e in shop.inventory.ledger(reason="order_commit")[0] if e["ref"] == started["order_id"]]
    assert order["status"] == "paid"
    assert len(commits) == 1 and commits[0]["delta"] == -2
    assert shop.inventory.snapshot(["chapter-i"])[0]["skus"][1]["on_hand"] == 1
    assert answers.count("applied") <= 1 and len(answers) == 6
    assert pages == [(200, True)] * 6  # every shopper's page names the order, whoever fulfilled it


def test_delayed_payment_keeps_its_hold_past_the_hold_end_until_it_fails(client, shop, stub, deliver_to):
    clock = shop_clock(shop)
    started = client.post(URL, json={"items": [{"sku": "balm-tee/M", "quantity": 2}]}).get_json()
    unpaid = stub.complete(started["session_id"], payment_status="unpaid")  # SEPA: the bank has not paid yet
    assert (
        deliver_to(client, event("checkout.session.completed", unpaid)).get_json()["order_status"] == "awaiting_payment"
    )
    page = client.get(f"/checkout/success?session_id={started['session_id']}").get_data(as_text=True)
    assert "Payment processing" in page
    clock.advance(7 * 86400)  # a week past the hold's end: an awaiting_payment order keeps its units
    assert avail(shop, "balm-tee/M") == 1
    failed = deliver_to(client, event("checkout.session.async_payment_failed", unpaid)).get_json()
    assert failed["order_status"] == "payment_failed"
    assert avail(shop, "balm-tee/M") == 3
    reasons = [e["reason"] for e in shop.inventory.ledger(sku="balm-tee/M")[0]]
    assert reasons == ["release", "hold", "initialize"]


def test_delayed_payment_that_succeeds_is_sold_once(client, shop, stub, deliver_to):
    started = client.post(URL, json={"items": [{"sku": "balm-tee/M", "quantity": 2}]}).get_json()
    unpaid = stub.complete(started["session_id"], payment_status="unpaid")
    deliver_to(client, event("checkout.session.completed", unpaid))
    paid = dict(unpaid, payment_status="paid")
    assert (
        deliver_to(client, event("checkout.session.async_payment_succeeded", paid)).get_json()["order_status"] == "paid"
    )
    row = shop.inventory.snapshot(["chapter-i"])[0]["skus"][1]
    assert (row["on_hand"], row["held"]) == (1, 0)
    commit = shop.inventory.ledger(reason="order_commit")[0][0]
    assert (commit["delta"], commit["held_delta"]) == (-2, -2)  # a held sale: one entry moves both
