"""What a shopper or the owner would notice, pinned through the public routes and loaders.

Each test here holds a behaviour a mutation of shop/ could break without any other test failing: the Stripe
request's line items, the order's address, the owner's allowed moves, disputes, restocks, the cancel page,
the owner's filters, live-mode links, summed lines, and the settings and catalog that refuse to start.
"""

from __future__ import annotations

import json
import re

import pytest

from shop import config as shop_config
from shop import create_app
from shop.catalog import Catalog
from shop.errors import ConfigError
from tests.conftest import OWNER_PASSWORD, app_config
from tests.stripe_factory import checkout_session, event, fixture
from tests.test_owner_mode import login, post

CHECKOUT = "/api/checkout"
CATALOG = json.loads((shop_config.ROOT / "catalog.json").read_text())


@pytest.fixture
def app(make_stripe_app):
    app = make_stripe_app()
    shop = app.extensions["shop"]
    shop.inventory.initialize("chapter-i", {"balm-tee/M": 5, "balm-tee/L": 2, "tide-tote/OS": 4})
    return app


@pytest.fixture
def owner_client(app):
    client = app.test_client()
    client.token = login(client)
    return client


def api_order(client, order_id):
    response = client.get(f"/api/owner/orders/{order_id}", headers={"Authorization": f"Bearer {OWNER_PASSWORD}"})
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def on_hand(shop, sku):
    return next(r for c in shop.inventory.snapshot() for r in c["skus"] if r["sku"] == sku)["on_hand"]


def flashed(client, response) -> str:
    """The message an owner's form left for the page it lands on after its redirect (the whole message)."""
    assert response.status_code == 302, response.get_data(as_text=True)
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    return " | ".join(re.findall(r'<p class="flash flash-\w+" role="status">(.*?)</p>', page))


# -- the Checkout Session request -------------------------------------------------------------------------


def test_checkout_asks_stripe_for_each_line_with_its_quantity_name_and_price(app, stub):
    client = app.test_client()
    cart = {"items": [{"sku": "balm-tee/M", "quantity": 2}, {"sku": "tide-tote/OS", "quantity": 3}]}
    started = client.post(CHECKOUT, json={**cart, "email": "ada@example.com"})
    assert started.status_code == 201, started.get_json()
    _, _, params = [r for r in stub.requests if r[1] == "/v1/checkout/sessions"][-1]
    assert params["mode"] == "payment"
    assert params["line_items"] == [
        {
            "quantity": "2",
            "price_data": {
                "currency": "eur",
                "unit_amount": "4500",
                "product_data": {"name": "Balm Tee (M)", "metadata": {"sku": "balm-tee/M"}},
            },
        },
        {
            "quantity": "3",
            "price_data": {
                "currency": "eur",
                "unit_amount": "3500",
                "product_data": {"name": "Tide Tote (OS)", "metadata": {"sku": "tide-tote/OS"}},
            },
        },
    ]
    assert params["customer_email"] == "ada@example.com"
    order_id = started.get_json()["order_id"]
    assert params["cancel_url"] == f"http://127.0.0.1:5000/checkout/cancel?order_id={order_id}"
    assert params["success_url"] == "http://127.0.0.1:5000/checkout/success?session_id={CHECKOUT_SESSION_ID}"
    session = stub.sessions[started.get_json()["session_id"]]
    assert session["amount_subtotal"] == 2 * 4500 + 3 * 3500  # what Stripe would charge for those lines


def test_the_stripe_stand_in_refuses_a_parameter_stripe_does_not_know(stub):
    import requests

    answer = requests.post(
        f"{stub.base}/v1/checkout/sessions",
        headers={"Authorization": "Bearer sk_test_stand_in"},
        data={
            "mode": "payment",
            "success_url": "https://shop.example/ok",
            "cancel_url": "https://shop.example/no",
            "line_items[0][qty]": "2",
            "line_items[0][price_data][currency]": "eur",
            "line_items[0][price_data][unit_amount]": "4500",
            "line_items[0][price_data][product_data][name]": "Balm Tee (M)",
        },
        timeout=10,
    )
    assert answer.status_code == 400 and "'qty' was unexpected" in answer.json()["error"]["message"]
    assert any("qty" in e for e in stub.schema_errors)
    stub.schema_errors.clear()  # the refusal was the point of this test


def test_checkout_with_too_much_of_one_size_says_the_limit(app, stub):
    client = app.test_client()
    twice = client.post(
        CHECKOUT, json={"items": [{"sku": "balm-tee/M", "quantity": 6}, {"sku": "balm-tee/M", "quantity": 5}]}
    )
    assert twice.status_code == 400
    assert twice.get_json()["error"] == "balm-tee/M: at most 10 of one size per order"
    many = client.post(CHECKOUT, json={"items": [{"sku": "balm-tee/M", "quantity": 1}] * 51})
    assert many.get_json()["error"] == "a cart holds at most 50 lines"
    bad_key = client.post(
        CHECKOUT, json={"items": [{"sku": "balm-tee/M", "quantity": 1}]}, headers={"Idempotency-Key": "a b"}
    )
    assert bad_key.status_code == 400
    assert bad_key.get_json()["error"] == "Idempotency-Key must be 1 to 255 visible ASCII characters"
    assert not stub.requests


# -- the order a paid session makes -------------------------------------------------------------------------


def test_the_order_keeps_the_whole_shipping_address(app, deliver):
    session = checkout_session(items="balm-tee/M")
    whole = {
        "name": "Ada Lovelace",
        "address": {
            "line1": "12 Analytical Row",
            "line2": "Flat 3",
            "city": "London",
            "postal_code": "N1 7AA",
            "state": "Islington",
            "country": "GB",
        },
    }
    session["collected_information"]["shipping_details"] = whole
    answer = deliver(event("checkout.session.completed", session)).get_json()
    order = api_order(app.test_client(), answer["order_id"])
    assert order["shipping"] == whole  # every line, line2 and state included
    assert order["customer"] == {"email": "ada@example.com", "name": "Ada Lovelace"}
    assert order["stripe"]["payment_intent"] == session["payment_intent"]
    assert order["currency"] == "eur" and order["amount_total"] == 4500


def test_two_entries_of_one_size_add_up(app, deliver):
    shop = app.extensions["shop"]
    answer = deliver(event("checkout.session.completed", checkout_session(items="balm-tee/M*1, balm-tee/M*2")))
    order = api_order(app.test_client(), answer.get_json()["order_id"])
    assert [(i["sku"], i["quantity"]) for i in order["items"]] == [("balm-tee/M", 3)]
    assert on_hand(shop, "balm-tee/M") == 2


def test_two_line_items_of_one_size_add_up(app, deliver, stub):
    def line(quantity):
        item = fixture("checkout.session.line_item.item")
        item["quantity"] = quantity
        item["price"] = {**item["price"], "metadata": {"sku": "balm-tee/M"}, "product": {"id": "prod_1"}}
        return item

    session = checkout_session(items=None)
    stub.sessions[session["id"]] = session
    stub.line_items[session["id"]] = [line(1), line(2)]
    answer = deliver(event("checkout.session.completed", session)).get_json()
    assert answer["order_status"] == "paid"
    order = api_order(app.test_client(), answer["order_id"])
    assert [(i["sku"], i["quantity"]) for i in order["items"]] == [("balm-tee/M", 3)]
    assert on_hand(app.extensions["shop"], "balm-tee/M") == 2


def test_a_live_order_links_to_the_live_dashboard(make_app, deliver_to):
    app = make_app()  # no Stripe key: the event's own mode decides the Dashboard's links
    client = app.test_client()
    session = checkout_session(items="balm-tee/M")
    answer = deliver_to(client, event("checkout.session.completed", session, livemode=True)).get_json()
    assert answer["status"] == "applied"
    client.token = login(client)
    page = client.get(f"/owner/orders/{answer['order_id']}").get_data(as_text=True)
    assert f"https://dashboard.stripe.com/checkout/sessions/{session['id']}" in page
    assert "dashboard.stripe.com/test/" not in page


# -- disputes ---------------------------------------------------------------------------------------------------


def dispute(payment_intent, status, amount=4500):
    return {
        "id": "du_test_gaps",
        "object": "dispute",
        "amount": amount,
        "currency": "eur",
        "payment_intent": payment_intent,
        "reason": "product_not_received",
        "status": status,
    }


def test_a_dispute_records_its_amount_and_each_update(app, deliver):
    session = checkout_session(items="balm-tee/M")
    order_id = deliver(event("checkout.session.completed", session)).get_json()["order_id"]
    client = app.test_client()
    opened = deliver(event("charge.dispute.created", dispute(session["payment_intent"], "needs_response")))
    assert opened.get_json()["status"] == "applied"
    order = api_order(client, order_id)
    assert order["dispute"] == {
        "id": "du_test_gaps",
        "status": "needs_response",
        "reason": "product_not_received",
        "amount": 4500,
        "closed": False,
    }
    assert "disputed" in order["flags"]
    updated = deliver(event("charge.dispute.updated", dispute(session["payment_intent"], "under_review")))
    assert updated.get_json()["status"] == "applied"
    order = api_order(client, order_id)
    assert order["dispute"]["status"] == "under_review" and order["dispute"]["closed"] is False
    closed = deliver(event("charge.dispute.closed", dispute(session["payment_intent"], "won")))
    assert closed.get_json()["status"] == "applied"
    assert api_order(client, order_id)["dispute"]["closed"] is True


# -- what the owner may set --------------------------------------------------------------------------------


def test_the_owner_cannot_mark_a_failed_payment_paid(app, deliver):
    session = checkout_session(items="balm-tee/M", payment_status="unpaid")
    answer = deliver(event("checkout.session.async_payment_failed", session)).get_json()
    assert answer["order_status"] == "payment_failed"
    client = app.test_client()
    headers = {"Authorization": f"Bearer {OWNER_PASSWORD}"}
    refused = client.post(f"/api/owner/orders/{answer['order_id']}/status", json={"status": "paid"}, headers=headers)
    assert refused.status_code == 409
    assert refused.get_json()["error"] == (
        f"order {answer['order_id']} is payment_failed; it can become paid only from needs_review"
    )
    assert api_order(client, answer["order_id"])["status"] == "payment_failed"


def test_the_owner_moves_an_order_along_its_path_only(app, deliver):
    answer = deliver(event("checkout.session.completed", checkout_session(items="balm-tee/M"))).get_json()
    order_id = answer["order_id"]
    client = app.test_client()
    headers = {"Authorization": f"Bearer {OWNER_PASSWORD}"}

    def move(status, **extra):
        return client.post(f"/api/owner/orders/{order_id}/status", json={"status": status, **extra}, headers=headers)

    early = move("delivered")
    assert early.status_code == 409
    assert early.get_json()["error"] == f"order {order_id} is paid; it can become delivered only from shipped"
    stripe_only = move("refunded")
    assert stripe_only.status_code == 409
    assert stripe_only.get_json()["error"] == (
        "status 'refunded' is set by Stripe events, not by hand; the owner can set: shipped, delivered, paid"
    )
    unknown = move("lost")
    assert unknown.status_code == 400
    assert unknown.get_json()["error"] == "unknown status 'lost'; the owner can set: shipped, delivered, paid"
    assert move("shipped", tracking="x" * 201).get_json()["error"] == "tracking must be text of at most 200 characters"
    assert move("shipped", note="x" * 501).get_json()["error"] == "note must be text of at most 500 characters"
    shipped = move("shipped", tracking="DHL 42", note="left by noon")
    assert shipped.status_code == 200
    assert shipped.get_json()["status"] == "shipped" and shipped.get_json()["tracking"] == "DHL 42"
    assert move("delivered").get_json()["status"] == "delivered"
    missing = client.post("/api/owner/orders/ord_nobody/status", json={"status": "shipped"}, headers=headers)
    assert missing.status_code == 404 and missing.get_json()["error"] == "no order 'ord_nobody'"


# -- restocking a refunded order ------------------------------------------------------------------------------------


def refunded_order(app, deliver, amount_refunded=9000):
    session = checkout_session(items="balm-tee/M*2")
    order_id = deliver(event("checkout.session.completed", session)).get_json()["order_id"]
    charge = fixture("charge")
    charge.update(payment_intent=session["payment_intent"], amount=9000, amount_refunded=amount_refunded)
    deliver(event("charge.refunded", charge))
    return order_id


def test_restock_refusals_say_why_and_change_nothing(app, deliver, owner_client):
    shop = app.extensions["shop"]
    paid = deliver(event("checkout.session.completed", checkout_session(items="balm-tee/L"))).get_json()["order_id"]
    order_id = refunded_order(app, deliver)
    assert on_hand(shop, "balm-tee/M") == 3

    def restock(target, **lines):
        return flashed(owner_client, post(owner_client, f"/owner/orders/{target}/restock", **lines))

    page = restock(order_id, **{"qty:nope/M": "1"})
    assert page == "restock &#39;nope/M&#39;: give a SKU of the order and a whole number of units, 1 or more"
    page = restock(order_id, **{"qty:balm-tee/M": "00"})
    assert page == "restock &#39;balm-tee/M&#39;: give a SKU of the order and a whole number of units, 1 or more"
    page = restock(order_id)
    assert page == "choose at least one unit to restock"
    page = restock(order_id, **{"qty:balm-tee/M": "3"})
    assert page == "more units than the order sold and has not restocked yet (balm-tee/M: 2 left to restock)"
    page = restock(paid, **{"qty:balm-tee/L": "1"})
    assert page == f"order {paid} is paid: only refunded orders can be restocked"
    page = restock("ord_nobody", **{"qty:balm-tee/M": "1"})
    assert page == "no order &#39;ord_nobody&#39;"
    assert on_hand(shop, "balm-tee/M") == 3 and on_hand(shop, "balm-tee/L") == 1
    assert shop.inventory.ledger(reason="refund_restock")[0] == []
    page = restock(order_id, **{"qty:balm-tee/M": "2"})
    assert page == f"Restocked 2 unit(s) of order {order_id}."
    assert on_hand(shop, "balm-tee/M") == 5
    assert api_order(app.test_client(), order_id)["restocked"] == {"balm-tee/M": 2}
    headers = {"Authorization": f"Bearer {OWNER_PASSWORD}"}
    ledger = app.test_client().get("/api/owner/ledger?reason=refund_restock", headers=headers).get_json()["entries"]
    assert [(e["sku"], e["delta"], e["ref"], e["actor"], e["note"]) for e in ledger] == [
        ("balm-tee/M", 2, order_id, "owner", "restocked after refund")
    ]
    import time

    assert abs(_epoch(ledger[0]["at"]) - time.time()) < 3600


def test_restock_of_a_chapter_not_counted_says_to_initialize_it(make_app, stub, deliver_to):
    app = make_app()
    client = app.test_client()
    session = checkout_session(items="wool-coat/M")
    order_id = deliver_to(client, event("checkout.session.completed", session)).get_json()["order_id"]
    charge = fixture("charge")
    charge.update(payment_intent=session["payment_intent"], amount=32000, amount_refunded=32000)
    deliver_to(client, event("charge.refunded", charge))
    client.token = login(client)
    response = post(client, f"/owner/orders/{order_id}/restock", **{"qty:wool-coat/M": "1"})
    assert flashed(client, response) == "chapter-ii is not initialized: initialize its stock before restocking"


# -- the cancel page ------------------------------------------------------------------------------------------------


def test_the_cancel_page_says_whether_the_sizes_went_back_on_sale(app, stub):
    shop = app.extensions["shop"]
    client = app.test_client()
    started = client.post(CHECKOUT, json={"items": [{"sku": "balm-tee/M", "quantity": 2}]}).get_json()
    assert on_hand(shop, "balm-tee/M") == 5 and shop.inventory.availability(["balm-tee/M"])["balm-tee/M"] == 3
    first = client.get(f"/checkout/cancel?order_id={started['order_id']}").get_data(as_text=True)
    assert "the sizes you picked are back on sale" in first
    assert shop.inventory.availability(["balm-tee/M"])["balm-tee/M"] == 5
    again = client.get(f"/checkout/cancel?order_id={started['order_id']}").get_data(as_text=True)
    assert "back on sale" not in again and "This checkout is expired; there is nothing more to cancel." in again
    missing = client.get("/checkout/cancel?order_id=ord_nobody")
    assert missing.status_code == 404 and "<p>no checkout &#39;ord_nobody&#39;</p>" in missing.get_data(as_text=True)


def test_the_cancel_page_leaves_a_session_paid_meanwhile_alone(app, stub):
    shop = app.extensions["shop"]
    client = app.test_client()
    started = client.post(CHECKOUT, json={"items": [{"sku": "balm-tee/M", "quantity": 2}]}).get_json()
    stub.sessions[started["session_id"]]["status"] = "complete"  # paid on Stripe; the event is on its way
    page = client.get(f"/checkout/cancel?order_id={started['order_id']}").get_data(as_text=True)
    assert "back on sale" not in page and "This checkout is pending" in page
    assert shop.inventory.availability(["balm-tee/M"])["balm-tee/M"] == 3  # still held for the paid session


# -- the owner's lists --------------------------------------------------------------------------------------------


def two_orders(deliver):
    """A plain paid order of ada@, and an oversold one (a flag) of grace@."""
    calm = deliver(event("checkout.session.completed", checkout_session(items="balm-tee/M"))).get_json()["order_id"]
    flagged = deliver(
        event("checkout.session.completed", checkout_session(items="balm-tee/L*3", email="grace@example.com"))
    ).get_json()["order_id"]
    return calm, flagged


def test_needs_attention_lists_only_flagged_orders(app, deliver, owner_client):
    calm, flagged = two_orders(deliver)
    page = owner_client.get("/owner/orders?status=attention").get_data(as_text=True)
    assert flagged in page and calm not in page


def test_searching_an_email_lists_only_that_customers_orders(app, deliver, owner_client):
    calm, flagged = two_orders(deliver)
    page = owner_client.get("/owner/orders", query_string={"q": "grace@example.com"}).get_data(as_text=True)
    assert flagged in page and calm not in page
    page = owner_client.get("/owner/orders", query_string={"q": "nobody@example.com"}).get_data(as_text=True)
    assert flagged not in page and calm not in page


def test_the_csv_export_of_one_status_lists_only_that_status(app, deliver, owner_client):
    calm, flagged = two_orders(deliver)
    headers = {"Authorization": f"Bearer {OWNER_PASSWORD}"}
    assert app.test_client().post(f"/api/owner/orders/{calm}/status", json={"status": "shipped"}, headers=headers)
    shipped = owner_client.get("/owner/orders.csv?status=shipped").get_data(as_text=True)
    assert calm in shipped and flagged not in shipped
    assert len(shipped.strip().splitlines()) == 2  # the header and the one shipped order
    everything = owner_client.get("/owner/orders.csv").get_data(as_text=True)
    assert calm in everything and flagged in everything


# -- settings and catalog that refuse to start -----------------------------------------------------------------


def test_app_env_production_asks_for_a_secret_key_and_a_public_url():
    with pytest.raises(ConfigError) as missing_secret:
        create_app({"APP_ENV": "Production", "PUBLIC_URL": "https://shop.example"}, environ={})
    assert str(missing_secret.value).startswith("SECRET_KEY is required in production")
    with pytest.raises(ConfigError) as missing_url:
        create_app({"APP_ENV": "production", "SECRET_KEY": "s" * 64}, environ={})
    assert str(missing_url.value) == (
        "PUBLIC_URL is required in production: set it to the shop's public address such as "
        "https://shop.example.com (Stripe sends shoppers back there; it is never taken from the request)"
    )
    settings = shop_config.load(
        {"APP_ENV": "production", "SECRET_KEY": "s" * 64, "PUBLIC_URL": "https://shop.example/"}
    )
    assert settings.production is True and settings.public_url == "https://shop.example"
    assert settings.store == shop_config.StoreChoice("none", source="")  # never the embedded store
    assert shop_config.load({"APP_ENV": "staging"}).production is False


def test_catalog_path_chooses_the_catalog_the_shop_sells(tmp_path, store_env):
    own = {
        "currency": "usd",
        "chapters": [{"id": "one", "name": "One", "products": [{"id": "cap", "name": "Field Cap", "price": 2500}]}],
    }
    path = tmp_path / "catalog.json"
    path.write_text(json.dumps(own))
    app = create_app(app_config(store_env, CATALOG_PATH=str(path)), environ={})
    assert list(app.extensions["shop"].catalog.items) == ["cap/OS"]
    assert "Field Cap" in app.test_client().get("/").get_data(as_text=True)
    with pytest.raises(ConfigError) as missing:
        create_app(app_config(store_env, CATALOG_PATH=str(tmp_path / "none.json")), environ={})
    assert str(missing.value).startswith(f"CATALOG_PATH: no catalog at {tmp_path / 'none.json'}")
    assert shop_config.load({"CATALOG_PATH": "elsewhere/c.json"}).catalog_path == shop_config.ROOT / "elsewhere/c.json"


def with_product(chapter: int, **product) -> dict:
    data = json.loads(json.dumps(CATALOG))
    data["chapters"][chapter]["products"].append(product)
    return data


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            with_product(1, id="balm-tee", name="Balm Tee again", price=100),
            "product id 'balm-tee' appears twice; product ids are unique across chapters",
        ),
        (
            with_product(0, id="cap", price=100, sizes=["M", "M"]),
            "product cap: sizes must be distinct short labels such as S, M, L",
        ),
        (
            with_product(0, id="cap", price=100, sizes=["M", "a very long size"]),
            "product cap: sizes must be distinct short labels such as S, M, L",
        ),
        (with_product(0, id="cap", price=-1), "product cap: price must be a whole number of minor units (cents)"),
        (with_product(0, id="cap", price=True), "product cap: price must be a whole number of minor units (cents)"),
        (
            with_product(0, id="cap", price=100, limit=0),
            "product cap: limit must be a whole number of 1 or more (units per customer), or left out",
        ),
        (
            with_product(0, id="cap", price=100, limit=True),
            "product cap: limit must be a whole number of 1 or more (units per customer), or left out",
        ),
        (
            with_product(0, id="Cap", price=100),
            "chapter chapter-i: product id 'Cap' must be lower-case letters, digits and '-'",
        ),
        ({**CATALOG, "currency": "EUR"}, 'currency must be a lower-case ISO code such as "eur"'),
        ({**CATALOG, "chapters": []}, "chapters must be a non-empty list"),
        ({**CATALOG, "chapters": [CATALOG["chapters"][0], CATALOG["chapters"][0]]}, "product id 'balm-tee' appears"),
        (
            {**CATALOG, "chapters": [{"id": "x", "products": []}]},
            "chapter x: products must be a non-empty list",
        ),
        ({**CATALOG, "chapters": [{"id": "X Y"}]}, "chapter {'id': 'X Y'}: id must be lower-case"),
        ({**CATALOG, "chapters": ["one"]}, "chapter 'one': id must be lower-case letters, digits and '-'"),
        (
            {**CATALOG, "chapters": [{"id": "x", "products": ["cap"]}]},
            "chapter x: product id None must be lower-case letters, digits and '-'",
        ),
        (with_product(0, id="c" * 49, price=1), f"chapter chapter-i: product id '{'c' * 49}' must be lower-case"),
        (with_product(0, id="cap", price=1, sizes=["S" * 13]), "product cap: sizes must be distinct short labels"),
        (with_product(0, id="cap", price=1, sizes=["M/L"]), "product cap: sizes must be distinct short labels"),
        ([], "the catalog must be an object with currency and chapters"),
    ],
)
def test_a_catalog_with_a_mistake_stops_the_start_naming_it(tmp_path, data, message):
    path = tmp_path / "catalog.json"
    path.write_text(json.dumps(data))
    with pytest.raises(ConfigError) as refused:
        Catalog.load(path)
    assert str(refused.value).startswith(f"{path}: {message}")


def test_a_catalog_reads_names_sizes_limits_and_refuses_twin_chapters(tmp_path):
    data = {
        "currency": "eur",
        "chapters": [
            {"id": "one", "products": [{"id": "cap", "price": 2500, "limit": 2, "sizes": ["S", "M"]}]},
            {"id": "one", "name": "Again", "products": [{"id": "hat", "price": 100}]},
        ],
    }
    path = tmp_path / "catalog.json"
    path.write_text(json.dumps(data))
    with pytest.raises(ConfigError) as twins:
        Catalog.load(path)
    assert str(twins.value) == f"{path}: chapter ids must be unique"
    data["chapters"][1]["id"] = "two"
    path.write_text(json.dumps(data))
    catalog = Catalog.load(path)
    assert catalog.currency == "eur" and catalog.limits == {"cap": 2}
    assert [c.name for c in catalog.chapters] == ["one", "Again"]
    assert catalog.product("cap").name == "cap" and catalog.product("cap").sizes == ("S", "M")
    assert catalog.items["hat/OS"].chapter == "two" and catalog.items["cap/M"].price == 2500
    assert catalog.chapter("two").skus == ["hat/OS"] and catalog.chapter("three") is None
    path.write_text("{not json")
    with pytest.raises(ConfigError) as broken:
        Catalog.load(path)
    assert str(broken.value).startswith(f"CATALOG_PATH: {path} is not valid JSON")


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"STRIPE_SECRET_KEY": "pk_test_1"}, "STRIPE_SECRET_KEY must be a secret or restricted key"),
        ({"STRIPE_API_BASE": "ftp://x"}, "STRIPE_API_BASE must be an http(s):// address"),
        ({"PUBLIC_URL": "shop.example"}, "PUBLIC_URL must be the shop's address such as https://shop.example.com"),
        (
            {"SHIPPING_COUNTRIES": "DE, FRA, 12"},
            "SHIPPING_COUNTRIES must be two-letter ISO codes separated by commas; not codes: FRA, 12",
        ),
        ({"ALERT_WEBHOOK_URL": "slack"}, "ALERT_WEBHOOK_URL must be an http(s):// address"),
        ({"REDIS_URL": "http://x"}, "REDIS_URL must start with redis:// or rediss://, got 'http'://..."),
        ({"KV_URL": "mysql://x"}, "KV_URL must start with redis:// or rediss://"),
        ({"KV_REST_API_URL": "https://x"}, "KV_REST_API_URL and KV_REST_API_TOKEN go together: KV_REST_API_TOKEN"),
        (
            {"UPSTASH_REDIS_REST_TOKEN": "t"},
            "UPSTASH_REDIS_REST_URL and UPSTASH_REDIS_REST_TOKEN go together: UPSTASH_REDIS_REST_URL is not set",
        ),
        ({"PUBLIC_URL": "https://"}, "PUBLIC_URL must be the shop's address such as https://shop.example.com"),
        ({"KV_REST_API_URL": "redis://x", "KV_REST_API_TOKEN": "t"}, "KV_REST_API_URL must be the https://"),
        ({"CHECKOUT_HOLD_MINUTES": "29"}, "CHECKOUT_HOLD_MINUTES must be 30 or more, got 29"),
        ({"LOW_STOCK_THRESHOLD": "few"}, "LOW_STOCK_THRESHOLD must be a whole number, got 'few'"),
        ({"PORT": "0"}, "PORT must be 1 or more, got 0"),
        ({"TRUSTED_PROXY_HOPS": "-1"}, "TRUSTED_PROXY_HOPS must be 0 or more, got -1"),
        ({"SHOPPER_MAX_HELD_UNITS": "0"}, "SHOPPER_MAX_HELD_UNITS must be 1 or more, got 0"),
        ({"ADDRESS_MAX_HELD_UNITS": "0"}, "ADDRESS_MAX_HELD_UNITS must be 1 or more, got 0"),
        ({"ADDRESS_CHECKOUTS_PER_MINUTE": "0"}, "ADDRESS_CHECKOUTS_PER_MINUTE must be 1 or more, got 0"),
        ({"ADDRESS_MAX_TICKETS": "0"}, "ADDRESS_MAX_TICKETS must be 1 or more, got 0"),
    ],
)
def test_a_bad_setting_stops_the_start_naming_the_variable(raw, message):
    with pytest.raises(ConfigError) as refused:
        shop_config.load(raw)
    assert str(refused.value).startswith(message)


def test_settings_read_their_values_and_defaults():
    plain = shop_config.load({})
    assert plain.production is False and plain.store.kind == "embedded"
    assert (plain.low_stock_threshold, plain.checkout_hold_minutes, plain.port, plain.trusted_proxy_hops) == (
        5,
        30,
        5000,
        0,
    )
    assert plain.shipping_countries == tuple(shop_config.DEFAULT_SHIPPING_COUNTRIES)
    assert plain.catalog_path == shop_config.ROOT / "catalog.json" and plain.warnings == ()
    assert (plain.limits.shopper_max_held_units, plain.limits.address_max_held_units) == (10, 40)
    assert (plain.limits.address_checkouts_per_minute, plain.limits.address_max_tickets) == (30, 50)
    given = shop_config.load(
        {
            "VERCEL": "1",
            "SECRET_KEY": " k ",
            "PUBLIC_URL": "https://shop.example/",
            "KV_REST_API_URL": "https://kv.example",
            "KV_REST_API_TOKEN": "tok",
            "STRIPE_WEBHOOK_SECRET": "whsec_a, other ,third",
            "STRIPE_SECRET_KEY": "rk_live_1",
            "SHIPPING_COUNTRIES": "de, fr",
            "LOW_STOCK_THRESHOLD": "0",
            "CHECKOUT_HOLD_MINUTES": "45",
            "PORT": "8080",
            "SHOPPER_MAX_HELD_UNITS": "3",
            "ADDRESS_MAX_HELD_UNITS": "7",
            "ADDRESS_CHECKOUTS_PER_MINUTE": "9",
            "ADDRESS_MAX_TICKETS": "11",
            "ALERT_WEBHOOK_URL": "https://hooks.example/x",
            "OWNER_PASSWORD": "  pw  ",
        }
    )
    assert given.production is True and given.trusted_proxy_hops == 1  # Vercel's own proxy
    assert given.store == shop_config.StoreChoice(
        "upstash", url="https://kv.example", token="tok", source="KV_REST_API_URL"
    )
    assert (
        given.webhook_secrets == ("whsec_a", "other", "third")
        and given.secret_key == "k"
        and given.owner_password == "pw"
    )
    assert given.warnings == (
        "STRIPE_WEBHOOK_SECRET: a value does not start with whsec_; copy the endpoint's signing secret "
        "from Stripe Dashboard > Developers > Webhooks (or from `stripe listen`)",
    )
    assert (given.shipping_countries, given.low_stock_threshold, given.checkout_hold_minutes, given.port) == (
        ("DE", "FR"),
        0,
        45,
        8080,
    )
    assert (given.limits.shopper_max_held_units, given.limits.address_max_held_units) == (3, 7)
    assert (given.limits.address_checkouts_per_minute, given.limits.address_max_tickets) == (9, 11)
    assert given.alert_webhook_url == "https://hooks.example/x" and given.stripe_secret_key == "rk_live_1"
    redis = shop_config.load({"KV_URL": "rediss://kv", "UPSTASH_REDIS_REST_URL": "https://u"})
    assert redis.store == shop_config.StoreChoice("redis", url="rediss://kv", source="KV_URL")
    upstash = shop_config.load({"UPSTASH_REDIS_REST_URL": "http://u", "UPSTASH_REDIS_REST_TOKEN": "t"})
    assert upstash.store.kind == "upstash" and upstash.store.source == "UPSTASH_REDIS_REST_URL"
    assert plain.store.source == "no store variable set: embedded Redis under instance/"
    assert shop_config.load({"STRIPE_WEBHOOK_SECRET": "whsec_one,whsec_two"}).warnings == ()
    assert shop_config.load({"REDIS_URL": "unix:///run/redis.sock"}).store.url == "unix:///run/redis.sock"
    assert shop_config.load({"STRIPE_API_BASE": "http://127.0.0.1:1/"}).stripe_api_base == "http://127.0.0.1:1/"
    assert shop_config.load({"STRIPE_API_BASE": "https://api.stripe.com"}).stripe_api_base == "https://api.stripe.com"
    assert shop_config.load({"ALERT_WEBHOOK_URL": "http://hooks.local/x"}).alert_webhook_url == "http://hooks.local/x"
    assert shop_config.load({"PUBLIC_URL": "https://shop.example/X/"}).public_url == "https://shop.example/X"


# -- events that name nothing the shop can act on ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("event_type", "obj", "reason"),
    [
        ("charge.refunded", {"id": "ch_1", "amount_refunded": 100}, "the event names no payment intent"),
        ("refund.created", {"payment_intent": "pi_x", "amount": 100}, "the refund has no id"),
        ("charge.dispute.created", {"payment_intent": "pi_x", "amount": 100}, "the dispute names no payment intent"),
        ("charge.dispute.created", {"id": "du_1", "amount": 100}, "the dispute names no payment intent"),
        ("checkout.session.completed", {"object": "checkout.session"}, "the event has no session id"),
        ("customer.created", {"id": "cus_1", "object": "customer"}, "event type not handled"),
    ],
)
def test_an_event_naming_no_payment_is_ignored_saying_why(app, deliver, redis_client, caplog, event_type, obj, reason):
    caplog.set_level("INFO", logger="shop")
    answer = deliver(event(event_type, obj))
    assert answer.status_code == 200 and answer.get_json()["status"] == "ignored"
    assert not redis_client.keys("{shop}:order:*")
    assert any(f"outcome=ignored ({reason})" in r.getMessage() for r in caplog.records), caplog.text


def test_a_dispute_without_status_or_reason_says_unknown_and_long_text_is_cut(app, deliver):
    session = checkout_session(items="balm-tee/M")
    order_id = deliver(event("checkout.session.completed", session)).get_json()["order_id"]
    plain = {"id": "du_test_plain", "payment_intent": session["payment_intent"], "amount": "lots"}
    assert deliver(event("charge.dispute.created", plain)).get_json()["status"] == "applied"
    order = api_order(app.test_client(), order_id)
    assert order["dispute"] == {
        "id": "du_test_plain",
        "status": "unknown",
        "reason": "unknown",
        "amount": 0,
        "closed": False,
    }
    wordy = {**plain, "status": "s" * 50, "reason": "r" * 70, "amount": 4500}
    deliver(event("charge.dispute.updated", wordy))
    order = api_order(app.test_client(), order_id)
    assert order["dispute"]["status"] == "s" * 40 and order["dispute"]["reason"] == "r" * 60
    assert order["dispute"]["amount"] == 4500


# -- way 3: line items read from Stripe, and what the owner reads when they cannot be used ----------------------------


def line_item(quantity=1, price_metadata=None, product=None, description=None):
    item = fixture("checkout.session.line_item.item")
    item.update(quantity=quantity, description=description)
    item["price"] = {**item["price"], "metadata": price_metadata or {}, "product": product or {"id": "prod_1"}}
    return item


def paid_with_line_items(stub, deliver, app, lines):
    session = checkout_session(items=None)
    stub.sessions[session["id"]] = session
    stub.line_items[session["id"]] = lines
    answer = deliver(event("checkout.session.completed", session)).get_json()
    return answer, api_order(app.test_client(), answer["order_id"])


def test_line_items_name_the_size_or_one_size_and_take_up_to_999(app, deliver, stub):
    lines = [
        line_item(999, product={"id": "prod_2", "metadata": {"product": "tide-tote"}}),
        line_item(2, product={"id": "prod_3", "metadata": {"product": "balm-tee", "size": "L"}}),
    ]
    answer, order = paid_with_line_items(stub, deliver, app, lines)
    assert answer["order_status"] == "paid" and order["review_reason"] is None
    assert [(i["sku"], i["quantity"]) for i in order["items"]] == [("tide-tote/OS", 999), ("balm-tee/L", 2)]
    assert order["amount_expected"] == 999 * 3500 + 2 * 4500


def test_line_items_that_are_not_the_shops_are_named_in_the_review_reason(app, deliver, stub):
    lines = [
        line_item(1, description="Mystery box"),
        line_item(1, price_metadata={"sku": "gone/M"}, product={"id": "p", "name": "Old Tee"}),
        line_item(1000, price_metadata={"sku": "balm-tee/M"}, description="A" * 50),
        line_item(0, price_metadata={"sku": "balm-tee/M"}),
    ]
    answer, order = paid_with_line_items(stub, deliver, app, lines)
    assert answer["order_status"] == "needs_review"
    assert order["review_reason"] == (
        "metadata.items is missing; line item 'Mystery box' carries no sku (price or product metadata); "
        "line item 'Old Tee' names the unknown SKU 'gone/M'; "
        f"line item '{'A' * 39}\u2026' (balm-tee/M) has quantity 1000, not 1 to 999; "
        "line item 'line 4' (balm-tee/M) has quantity 0, not 1 to 999"
    )
    assert order["items"] == []


def test_more_than_five_bad_line_items_are_counted_not_listed(app, deliver, stub):
    lines = [line_item(1, description=f"Box {n}") for n in range(1, 8)]
    _, order = paid_with_line_items(stub, deliver, app, lines)
    assert order["review_reason"].endswith("line item 'Box 5' carries no sku (price or product metadata); and 2 more")
    assert "Box 6" not in order["review_reason"]
    _, empty = paid_with_line_items(stub, deliver, app, [])
    assert empty["review_reason"] == "metadata.items is missing; the session has no line items"


# -- checkouts that replace or repeat one another ----------------------------------------------------------------------


def history_of(client, order_id):
    return api_order(client, order_id)["history"]


def test_a_new_checkout_ends_the_shoppers_earlier_one(app, stub):
    import time

    shop = app.extensions["shop"]
    browser = app.test_client()
    browser.get("/")  # the shopper cookie
    first = browser.post(CHECKOUT, json={"items": [{"sku": "balm-tee/M", "quantity": 2}]}).get_json()
    second = browser.post(CHECKOUT, json={"items": [{"sku": "balm-tee/L", "quantity": 1}]}).get_json()
    assert stub.sessions[first["session_id"]]["status"] == "expired"
    assert stub.sessions[second["session_id"]]["status"] == "open"
    availability = shop.inventory.availability(["balm-tee/M", "balm-tee/L"])
    assert availability == {"balm-tee/M": 5, "balm-tee/L": 1}
    earlier = api_order(browser, first["order_id"])
    assert earlier["status"] == "expired"
    last = earlier["history"][-1]
    assert (last["actor"], last["note"]) == ("shopper", f"replaced by checkout {second['order_id']}")
    assert abs(_epoch(last["at"]) - time.time()) < 3600


def _epoch(iso_text: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(iso_text.replace("Z", "+00:00")).timestamp()


def test_a_repeated_key_while_the_first_checkout_is_starting_says_to_wait(app, stub):
    import threading
    import time

    stub.fail_with, stub.hang_seconds = "hang", 3
    client = app.test_client()
    headers = {"Idempotency-Key": "cart-slow"}
    cart = {"items": [{"sku": "balm-tee/M", "quantity": 1}]}
    first = []
    thread = threading.Thread(target=lambda: first.append(app.test_client().post(CHECKOUT, json=cart, headers=headers)))
    thread.start()
    deadline = time.monotonic() + 30
    while not stub.requests and time.monotonic() < deadline:  # the first is now waiting on Stripe
        time.sleep(0.01)
    again = client.post(CHECKOUT, json=cart, headers=headers)
    thread.join(timeout=60)
    stub.fail_with = None
    assert again.status_code == 409
    assert again.get_json()["error"] == "a checkout with this Idempotency-Key is still starting; try again in a moment"
    assert first[0].status_code == 201
    replay = client.post(CHECKOUT, json=cart, headers=headers)
    assert replay.get_json() == first[0].get_json()


def test_cancel_and_owner_moves_are_in_the_orders_history(app, stub, deliver):
    import time

    client = app.test_client()
    started = client.post(CHECKOUT, json={"items": [{"sku": "balm-tee/M", "quantity": 1}]}).get_json()
    client.get(f"/checkout/cancel?order_id={started['order_id']}")
    last = history_of(client, started["order_id"])[-1]
    assert (last["actor"], last["note"]) == ("shopper", "checkout cancelled")
    assert abs(_epoch(last["at"]) - time.time()) < 3600
    order_id = deliver(event("checkout.session.completed", checkout_session(items="balm-tee/M"))).get_json()["order_id"]
    headers = {"Authorization": f"Bearer {OWNER_PASSWORD}"}
    moved = client.post(
        f"/api/owner/orders/{order_id}/status",
        json={"status": "shipped", "tracking": "T" * 200, "note": "n" * 500},
        headers=headers,
    ).get_json()
    assert moved["tracking"] == "T" * 200
    last = moved["history"][-1]
    assert (last["actor"], last["note"]) == ("owner", "n" * 500)
    assert abs(_epoch(last["at"]) - time.time()) < 3600 and abs(_epoch(moved["updated_at"]) - time.time()) < 3600


# -- searching and exporting many orders ------------------------------------------------------------------------------


def test_search_trims_the_query_and_takes_the_longest_email(app, deliver, owner_client):
    longest = "a" * 242 + "@example.com"  # 254 characters, the most an address has
    order_id = deliver(
        event("checkout.session.completed", checkout_session(items="balm-tee/M", email=longest))
    ).get_json()["order_id"]
    found = owner_client.get("/owner/orders", query_string={"q": f"  {longest}  "}).get_data(as_text=True)
    assert f'href="/owner/orders/{order_id}"' in found
    too_long = owner_client.get("/owner/orders", query_string={"q": "a" + longest}).get_data(as_text=True)
    assert "No orders here." in too_long
    blank = owner_client.get("/owner/orders", query_string={"q": "   "}).get_data(as_text=True)
    assert f'href="/owner/orders/{order_id}"' in blank  # a blank search is the plain list


def test_the_csv_export_pages_through_every_order_of_a_status(app, owner_client, redis_client):
    from tests.order_fill import fill_orders

    fill_orders(redis_client, 2_100, 0)  # every tenth one shipped: 210, more than one page of the export
    shipped = owner_client.get("/owner/orders.csv?status=shipped").get_data(as_text=True).strip().splitlines()
    assert len(shipped) == 1 + 210 and all(",shipped," in row for row in shipped[1:])
    assert len({row.split(",")[0] for row in shipped[1:]}) == 210
    # these records carry no amount_expected (as orders stored before it existed): it is read off their items
    assert all(row.split(",")[6:9] == ["4500", "eur", "4500"] for row in shipped[1:])
    older = api_order(app.test_client(), "ord_bench000000010")
    assert (older["amount_expected"], older["amount_total"], older["amount_subtotal"]) == (4500, 4500, None)


def test_the_attention_list_pages_to_older_flagged_orders(app, deliver, owner_client):
    flagged = [
        deliver(event("checkout.session.completed", checkout_session(items="harbour-shirt/S"))).get_json()["order_id"]
        for _ in range(26)
    ]  # Harbour Shirt is not counted: each order is flagged oversold
    first = owner_client.get("/owner/orders?status=attention").get_data(as_text=True)
    assert flagged[-1] in first and flagged[0] not in first
    older = re.search(r'href="(/owner/orders\?status=attention&amp;cursor=[^"]+)"', first).group(1)
    second = owner_client.get(older.replace("&amp;", "&")).get_data(as_text=True)
    assert flagged[0] in second and flagged[-1] not in second


# -- every refusal of a checkout, in the shopper's words --------------------------------------------------------------

OPENS = "2026-12-04T17:00:00Z"
OPENS_MS = 1796403600000


def shopper(app):
    browser = app.test_client()
    browser.get("/")  # the signed shopper cookie
    return browser


def one(sku="balm-tee/M", quantity=1, **extra):
    return {"items": [{"sku": sku, "quantity": quantity}], **extra}


@pytest.fixture
def drop_app(make_stripe_app):
    app = make_stripe_app(
        ADDRESS_MAX_HELD_UNITS="12",
        ADDRESS_CHECKOUTS_PER_MINUTE="6",
        SHOPPER_MAX_HELD_UNITS="8",
    )
    shop = app.extensions["shop"]
    shop.inventory.initialize("chapter-i", {"balm-tee/M": 50, "balm-tee/L": 1})
    shop.inventory.initialize("chapter-ii", {"wool-coat/M": 5, "wool-coat/L": 5, "ridge-knit/M": 20})
    return app


def test_a_chapter_outside_its_release_is_refused_with_the_time(drop_app):
    from tests.clock import shop_clock

    shop = drop_app.extensions["shop"]
    clock = shop_clock(shop)
    clock.now = OPENS_MS / 1000 - 90
    shop.releases.set("chapter-ii", {"opens_at": OPENS, "closes_at": "2026-12-04T17:20Z"})
    early = shopper(drop_app).post(CHECKOUT, json=one("ridge-knit/M"))
    assert (early.status_code, early.get_json()) == (
        409,
        {
            "error": "Chapter II is not on sale yet: it opens at Fri 4 Dec 2026, 17:00 UTC; come back then",
            "opens_at": OPENS,
        },
    )
    clock.now = OPENS_MS / 1000 + 21 * 60
    late = shopper(drop_app).post(CHECKOUT, json=one("ridge-knit/M"))
    assert (late.status_code, late.get_json()) == (
        409,
        {
            "error": "Chapter II is no longer on sale: it closed at Fri 4 Dec 2026, 17:20 UTC",
            "closes_at": "2026-12-04T17:20:00Z",
        },
    )


def test_the_limits_of_a_checkout_are_refused_saying_what_to_do(drop_app, stub):
    too_many = shopper(drop_app).post(
        CHECKOUT, json={"items": [{"sku": "balm-tee/M", "quantity": 5}, {"sku": "tide-tote/OS", "quantity": 4}]}
    )
    assert (too_many.status_code, too_many.get_json()) == (
        409,
        {"error": "one checkout can reserve at most 8 items; take some out of your cart and try again", "limit": 8},
    )
    short = shopper(drop_app).post(CHECKOUT, json=one("balm-tee/L", 2))
    assert short.get_json() == {
        "error": "not enough stock for: balm-tee/L (1 left); change the cart and try again",
        "skus": [{"sku": "balm-tee/L", "requested": 2, "available": 1}],
    }
    for _ in range(3):
        assert shopper(drop_app).post(CHECKOUT, json=one("balm-tee/M", 4)).status_code == 201
    crowded = shopper(drop_app).post(CHECKOUT, json=one("balm-tee/M", 1))
    assert (crowded.status_code, crowded.get_json()) == (
        409,
        {
            "error": "too many items are reserved from your network right now (at most 12 at once); finish or "
            "cancel an open checkout, or try again when one ends",
            "limit": 12,
        },
    )


def test_starting_too_many_checkouts_says_how_long_to_wait(drop_app):
    for _ in range(6):
        assert shopper(drop_app).post(CHECKOUT, json=one()).status_code == 201
    limited = shopper(drop_app).post(CHECKOUT, json=one())
    assert limited.status_code == 429 and limited.headers["Retry-After"].isdigit()
    wait = int(limited.headers["Retry-After"])
    assert limited.get_json()["error"] == (
        f"too many checkouts were started from your network in the last minute; please wait {wait} seconds and try again"
    )


def test_a_limited_piece_is_refused_to_the_same_email(drop_app, stub):
    assert shopper(drop_app).post(CHECKOUT, json=one("wool-coat/M", email="foo@example.com")).status_code == 201
    again = shopper(drop_app).post(CHECKOUT, json=one("wool-coat/L", email="foo@example.com"))
    assert (again.status_code, again.get_json()) == (
        409,
        {
            "error": "Wool Coat is sold one per customer, and this email already has 1 in an order or an open "
            "checkout; take it out of your cart to buy the rest",
            "limit": 1,
            "product": "wool-coat",
        },
    )
    long = shopper(drop_app).post(CHECKOUT, json=one("balm-tee/M", email="x" * 255))
    assert long.get_json()["error"] == (
        "email must be your email address (like name@example.com), at most 254 characters"
    )
    typed = shopper(drop_app).post(CHECKOUT, json=one("balm-tee/M", email=5))
    assert typed.status_code == 400 and typed.get_json()["error"] == long.get_json()["error"]


def test_a_checkout_stripe_refuses_is_expired_saying_why(app, stub):
    stub.fail_with = "500"
    failed = app.test_client().post(CHECKOUT, json=one("balm-tee/M", 2))
    stub.fail_with = None
    assert (failed.status_code, failed.get_json()) == (
        502,
        {
            "error": "the payment page could not be opened, so nothing was reserved or charged; please try again "
            "in a moment"
        },
    )
    orders = app.test_client().get("/api/owner/orders", headers={"Authorization": f"Bearer {OWNER_PASSWORD}"})
    order = orders.get_json()["orders"][0]
    assert order["status"] == "expired"
    last = order["history"][-1]
    assert (last["actor"], last["note"]) == (
        "system",
        "Stripe did not start the checkout: Stripe could not start the checkout: stand-in told to fail",
    )
    assert app.extensions["shop"].inventory.availability(["balm-tee/M"])["balm-tee/M"] == 5
    import time

    assert abs(_epoch(last["at"]) - time.time()) < 3600


def test_a_new_checkout_stripe_refuses_still_ends_the_shoppers_earlier_one(app, stub):
    browser = shopper(app)
    first = browser.post(CHECKOUT, json=one("balm-tee/M", 2)).get_json()
    stub.fail_with = "500-create"
    assert browser.post(CHECKOUT, json=one("balm-tee/L", 1)).status_code == 502
    stub.fail_with = None
    assert stub.sessions[first["session_id"]]["status"] == "expired"  # its holds went with the new attempt
    earlier = api_order(browser, first["order_id"])
    assert earlier["status"] == "expired" and earlier["history"][-1]["note"].startswith("replaced by checkout ord_")
    assert app.extensions["shop"].inventory.availability(["balm-tee/M", "balm-tee/L"]) == {
        "balm-tee/M": 5,
        "balm-tee/L": 2,
    }


def test_a_checkout_without_a_stripe_key_is_closed_for_the_shopper(make_app, stub):
    closed = make_app().test_client().post(CHECKOUT, json=one())
    assert (closed.status_code, closed.get_json()) == (
        503,
        {"error": "Checkout is closed for a moment. Please try again later."},
    )
    assert not stub.requests


def test_the_pending_order_and_the_hold_follow_the_settings(make_app, stub):
    import time

    app = make_app(STRIPE_SECRET_KEY="sk_test_stand_in", STRIPE_API_BASE=stub.base, CHECKOUT_HOLD_MINUTES="45")
    app.extensions["shop"].inventory.initialize("chapter-i", {"balm-tee/M": 5})
    before = int(time.time())
    started = app.test_client().post(CHECKOUT, json=one("balm-tee/M", 2)).get_json()
    _, _, params = stub.requests[-1]
    assert before + 45 * 60 + 120 <= int(params["expires_at"]) <= int(time.time()) + 45 * 60 + 120
    assert stub.idempotency_keys[-1] == f"checkout-{started['order_id']}"
    order = api_order(app.test_client(), started["order_id"])
    assert (order["status"], order["amount_expected"], order["amount_total"], order["currency"]) == (
        "pending",
        9000,
        9000,
        "eur",
    )
    assert order["items"] == [
        {
            "sku": "balm-tee/M",
            "chapter": "chapter-i",
            "name": "Balm Tee",
            "size": "M",
            "quantity": 2,
            "unit_amount": 4500,
            "stock_tracked": True,
        }
    ]
    assert [(h["actor"], h["note"], h["status"]) for h in order["history"]] == [
        ("shopper", "checkout started", "pending")
    ]


# -- what a paid session's event puts on the order -----------------------------------------------------------------


def completed_order(app, deliver, **session_fields):
    session = checkout_session(items="balm-tee/M")
    for name, value in session_fields.items():
        if value is None:
            session.pop(name, None)
        else:
            session[name] = value
    answer = deliver(event("checkout.session.completed", session)).get_json()
    return session, answer, api_order(app.test_client(), answer["order_id"])


def test_a_session_of_a_payment_link_gets_an_order_id_of_its_own(app, deliver):
    import hashlib

    session, answer, order = completed_order(app, deliver, client_reference_id="someone-elses-ref")
    assert answer["order_id"] == "ord_s" + hashlib.sha256(session["id"].encode()).hexdigest()[:24]
    assert order["status"] == "paid" and order["stripe"]["session_id"] == session["id"]
    _, by_reference, _ = completed_order(app, deliver, client_reference_id="ord_fromlink1")
    assert by_reference["order_id"] == "ord_fromlink1"


def test_a_free_order_is_paid_and_an_unpaid_one_waits(app, deliver):
    _, free, order = completed_order(app, deliver, payment_status="no_payment_required")
    assert free["order_status"] == "paid" and order["status"] == "paid"
    _, unpaid, _ = completed_order(app, deliver, payment_status="unpaid")
    assert unpaid["order_status"] == "awaiting_payment"


def test_the_order_reads_amounts_currency_and_customer_from_the_session(app, deliver):
    _, _, order = completed_order(
        app,
        deliver,
        amount_subtotal=4500,
        amount_total=5490,
        currency="EUR",
        customer_details={"email": None, "name": "N" * 400},
        customer_email="legacy@example.com",
    )
    assert (order["amount_subtotal"], order["amount_total"], order["currency"]) == (4500, 5490, "eur")
    assert order["customer"] == {"email": "legacy@example.com", "name": "N" * 300}
    assert order["flags"] == []
    _, _, anonymous = completed_order(app, deliver, customer_details={}, customer_email=None)
    assert anonymous["customer"] == {"email": None, "name": None}


def test_an_address_in_the_older_shipping_field_is_kept_and_none_is_none(app, deliver):
    legacy = {"name": "Grace", "address": {"line1": "1 Way", "city": "Arlington", "country": "US"}}
    _, _, order = completed_order(app, deliver, collected_information={}, shipping_details=legacy)
    assert order["shipping"] == {
        "name": "Grace",
        "address": {
            "line1": "1 Way",
            "line2": None,
            "city": "Arlington",
            "postal_code": None,
            "state": None,
            "country": "US",
        },
    }
    _, _, nowhere = completed_order(app, deliver, collected_information={}, shipping_details=None)
    assert nowhere["shipping"] is None


NO_KEY = "the line items could not be read from Stripe because STRIPE_SECRET_KEY is not set"


@pytest.mark.parametrize(
    ("items", "reason"),
    [
        (None, "metadata.items is missing"),
        ("   ", "metadata.items is missing"),
        (42, "metadata.items is not text"),
        ("x" * 501, "metadata.items is 501 characters long (at most 500)"),
        ("balm-tee/XXL", "metadata.items 'balm-tee/XXL': unknown SKU 'balm-tee/XXL' (not in the catalog)"),
        (
            "balm-tee/XXL,nope/S*2,nope/S",
            "metadata.items 'balm-tee/XXL,nope/S*2,nope/S': unknown SKUs 'balm-tee/XXL', 'nope/S' (not in the catalog)",
        ),
        ("balm-tee/M*0", "metadata.items 'balm-tee/M*0': balm-tee/M: quantity 0 is not a whole number from 1 to 999"),
        (
            "balm-tee/M*0,nope/S",
            "metadata.items 'balm-tee/M*0,nope/S': unknown SKU 'nope/S' (not in the catalog); "
            "balm-tee/M: quantity 0 is not a whole number from 1 to 999",
        ),
        (
            "balm-tee/M*600, balm-tee/M*600",
            "metadata.items 'balm-tee/M*600, balm-tee/M*600': balm-tee/M: 1200 units in all, more than 999",
        ),
        (
            "balm-tee/M*2.5,,",
            "metadata.items 'balm-tee/M*2.5,,': entry 1 'balm-tee/M*2.5' is not sku*quantity (e.g. balm-tee/M*2); "
            "entry 2 is empty; entry 3 is empty",
        ),
        (
            "balm-tee/M*2," + "b" * 70,
            "metadata.items '" + ("balm-tee/M*2," + "b" * 70)[:59] + "\u2026': unknown SKU '" + "b" * 59 + "\u2026' "
            "(not in the catalog)",
        ),
    ],
)
def test_unreadable_items_put_the_order_in_review_saying_what_is_wrong(make_app, deliver_to, items, reason):
    app = make_app()  # no Stripe key: the line items cannot be read either
    client = app.test_client()
    session = checkout_session(items="balm-tee/M", amount_subtotal=9000)
    session["metadata"]["items"] = items
    if items is None:
        del session["metadata"]["items"]
    answer = deliver_to(client, event("checkout.session.completed", session)).get_json()
    assert answer["order_status"] == "needs_review"
    assert api_order(client, answer["order_id"])["review_reason"] == f"{reason}; {NO_KEY}"


@pytest.mark.parametrize(
    ("items", "quantities"),
    [
        ("tide-tote/OS*999", [("tide-tote/OS", 999)]),
        ("balm-tee/M*1,balm-tee/M*998", [("balm-tee/M", 999)]),
        (" balm-tee/M * +2 ", [("balm-tee/M", 2)]),
    ],
)
def test_readable_items_up_to_999_become_the_order(app, deliver, items, quantities):
    answer = deliver(event("checkout.session.completed", checkout_session(items=items))).get_json()
    order = api_order(app.test_client(), answer["order_id"])
    assert [(i["sku"], i["quantity"]) for i in order["items"]] == quantities
    assert order["review_reason"] is None


@pytest.mark.parametrize(
    ("key", "livemode", "status"),
    [
        ("sk_test_stand_in", True, "ignored"),
        ("rk_test_stand_in", True, "ignored"),
        ("sk_live_stand_in", False, "ignored"),
        ("rk_live_stand_in", False, "ignored"),
        ("sk_test_stand_in", False, "applied"),
        ("rk_live_stand_in", True, "applied"),
        ("sk_other_shape", True, "applied"),  # a key of no known mode: the event's mode is not judged
    ],
)
def test_an_event_of_the_other_stripe_mode_is_ignored(make_app, deliver_to, key, livemode, status):
    app = make_app(STRIPE_SECRET_KEY=key)
    client = app.test_client()
    answer = deliver_to(
        client, event("checkout.session.completed", checkout_session(items="tide-tote/OS"), livemode=livemode)
    )
    assert answer.get_json()["status"] == status
    listed = client.get("/api/owner/orders", headers={"Authorization": f"Bearer {OWNER_PASSWORD}"}).get_json()
    assert len(listed["orders"]) == (status == "applied")


def test_search_refuses_a_query_longer_than_an_address_and_an_unknown_session(app, deliver, owner_client):
    too_long = "a" * 243 + "@example.com"  # 255 characters: no address is that long, so nothing is looked up
    order_id = deliver(
        event("checkout.session.completed", checkout_session(items="balm-tee/M", email=too_long))
    ).get_json()["order_id"]
    assert api_order(app.test_client(), order_id)["customer"]["email"] == too_long
    page = owner_client.get("/owner/orders", query_string={"q": too_long}).get_data(as_text=True)
    assert "No orders here." in page and f'href="/owner/orders/{order_id}"' not in page
    unknown = owner_client.get("/owner/orders", query_string={"q": "cs_test_nobody"})
    assert unknown.status_code == 200 and "No orders here." in unknown.get_data(as_text=True)


def test_an_email_search_shows_the_latest_fifty_orders(app, deliver, owner_client):
    ids = [
        deliver(
            event("checkout.session.completed", checkout_session(items="tide-tote/OS", email="many@example.com"))
        ).get_json()["order_id"]
        for _ in range(51)
    ]
    page = owner_client.get("/owner/orders", query_string={"q": "many@example.com"}).get_data(as_text=True)
    shown = set(re.findall(r'href="/owner/orders/(ord_[A-Za-z0-9_-]+)"', page))
    assert len(shown) == 50 and ids[0] not in shown and ids[-1] in shown


def test_the_longest_ids_and_sizes_a_catalog_takes(tmp_path):
    data = {
        "currency": "eur",
        "chapters": [{"id": "d" * 48, "products": [{"id": "c" * 48, "price": 0, "sizes": ["S" * 12, "1.5-x"]}]}],
    }
    path = tmp_path / "catalog.json"
    path.write_text(json.dumps(data))
    catalog = Catalog.load(path)
    assert sorted(catalog.items) == [f"{'c' * 48}/1.5-x", f"{'c' * 48}/{'S' * 12}"]
    assert catalog.product("c" * 48).image == "" and catalog.product("c" * 48).description == ""
    assert catalog.product("nope") is None and catalog.product("c" * 48).limit is None


def test_a_cart_line_naming_no_sku_is_refused(app, stub):
    refused = app.test_client().post(CHECKOUT, json={"items": [{"sku": 5, "quantity": 1}]})
    assert refused.get_json()["error"] == "item 1: unknown sku 5; reload the shop to see what is on sale"
    listed = app.test_client().post(CHECKOUT, json={"items": [{"sku": ["balm-tee/M"], "quantity": 1}]})
    assert (listed.status_code, listed.get_json()["error"]) == (
        400,
        "item 1: unknown sku ['balm-tee/M']; reload the shop to see what is on sale",
    )


def test_restocking_too_much_of_two_sizes_names_both(app, deliver, owner_client):
    session = checkout_session(items="balm-tee/M*2, balm-tee/L")
    order_id = deliver(event("checkout.session.completed", session)).get_json()["order_id"]
    charge = fixture("charge")
    charge.update(payment_intent=session["payment_intent"], amount=13500, amount_refunded=13500)
    deliver(event("charge.refunded", charge))
    response = post(owner_client, f"/owner/orders/{order_id}/restock", **{"qty:balm-tee/M": "3", "qty:balm-tee/L": "2"})
    assert flashed(owner_client, response) == (
        "more units than the order sold and has not restocked yet "
        "(balm-tee/M: 2 left to restock, balm-tee/L: 1 left to restock)"
    )


def test_the_order_api_says_what_an_order_id_and_a_status_are(app):
    client = app.test_client()
    headers = {"Authorization": f"Bearer {OWNER_PASSWORD}"}
    missing = client.get("/api/owner/orders/ord_nobody", headers=headers)
    assert (missing.status_code, missing.get_json()) == (404, {"error": "no order 'ord_nobody'"})
    malformed = client.get("/api/owner/orders/ord.x", headers=headers)
    assert (malformed.status_code, malformed.get_json()) == (
        404,
        {"error": "no order 'ord.x': order ids are letters, digits, '_' and '-'"},
    )
    unknown = client.get("/api/owner/orders?status=lost", headers=headers)
    assert (unknown.status_code, unknown.get_json()) == (
        400,
        {
            "error": "unknown status 'lost'; use one of: pending, awaiting_payment, paid, shipped, delivered, "
            "payment_failed, expired, refunded, partially_refunded, needs_review"
        },
    )


def test_a_store_fault_after_stripe_opened_the_session_is_recorded_on_the_order(app, stub, monkeypatch):
    from tests.test_checkout_faults import fail_at_attach

    shop = app.extensions["shop"]
    fail_at_attach(shop, monkeypatch)
    failed = app.test_client().post(CHECKOUT, json=one("balm-tee/M", 2))
    monkeypatch.undo()
    assert failed.status_code == 503
    (session,) = stub.sessions.values()
    order = api_order(app.test_client(), session["metadata"]["order_id"])
    last = order["history"][-1]
    assert (order["status"], last["actor"]) == ("expired", "system")
    assert last["note"].startswith("the store failed before the session was saved: ") and len(last["note"]) <= 300
    import time

    assert abs(_epoch(last["at"]) - time.time()) < 3600
    assert shop.inventory.availability(["balm-tee/M"])["balm-tee/M"] == 5


# -- the edges of what a signed event may say -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "counts"),
    [("succeeded", True), ("pending", True), ("requires_action", True), ("failed", False), ("canceled", False)],
)
def test_a_refund_counts_once_stripe_has_it_on_its_way(app, deliver, status, counts):
    session = checkout_session(items="balm-tee/M*2")
    order_id = deliver(event("checkout.session.completed", session)).get_json()["order_id"]
    refund = fixture("refund")
    refund.update(id="re_test_edge", payment_intent=session["payment_intent"], amount=3000, status=status)
    deliver(event("refund.created", refund))
    order = api_order(app.test_client(), order_id)
    assert (order["status"], order["amount_refunded"]) == (("partially_refunded", 3000) if counts else ("paid", 0))


def test_a_charge_refunded_reads_the_amount_refunded(app, deliver):
    session = checkout_session(items="balm-tee/M*2")
    order_id = deliver(event("checkout.session.completed", session)).get_json()["order_id"]
    charge = fixture("charge")
    charge.update(payment_intent=session["payment_intent"], amount=9000, amount_refunded=2500)
    assert deliver(event("charge.refunded", charge)).get_json()["order_status"] == "partially_refunded"
    assert api_order(app.test_client(), order_id)["amount_refunded"] == 2500


def test_amounts_from_zero_to_the_largest_a_payment_has(app, deliver):
    _, _, free = completed_order(app, deliver, amount_subtotal=0, amount_total=0)
    assert (free["amount_subtotal"], free["amount_total"]) == (0, 0)
    assert "amount_mismatch" in free["flags"]  # the catalog asks 4500
    _, _, huge = completed_order(app, deliver, amount_subtotal=10**12 - 1, amount_total=10**12)
    assert huge["amount_subtotal"] == 10**12 - 1
    assert huge["amount_total"] == huge["amount_expected"] == 4500  # no payment is that large: not read


def test_session_ids_up_to_255_characters_are_read(app, deliver):
    longest = "cs_test_" + "a" * 247
    _, answer, order = completed_order(app, deliver, id=longest)
    assert answer["status"] == "applied" and order["stripe"]["session_id"] == longest
    for bad in (longest + "a", "cs test"):
        session = checkout_session(items="balm-tee/M", session_id=bad)
        assert deliver(event("checkout.session.completed", session)).get_json()["status"] == "ignored"


def test_metadata_items_of_exactly_500_characters_and_12_digit_quantities(app, deliver):
    text = ",".join(["balm-tee/M*1"] * 38) + " " * 7
    assert len(text) == 500
    answer = deliver(event("checkout.session.completed", checkout_session(items=text))).get_json()
    order = api_order(app.test_client(), answer["order_id"])
    assert [(i["sku"], i["quantity"]) for i in order["items"]] == [("balm-tee/M", 38)]
    padded = deliver(event("checkout.session.completed", checkout_session(items="balm-tee/M*000000000002")))
    assert api_order(app.test_client(), padded.get_json()["order_id"])["items"][0]["quantity"] == 2


def test_the_cart_limits_sit_exactly_at_ten_of_a_size_and_fifty_lines(app, stub):
    client = app.test_client()
    ten = client.post(CHECKOUT, json=one("balm-tee/M", 10))
    assert ten.status_code == 409 and ten.get_json()["skus"] == [{"sku": "balm-tee/M", "requested": 10, "available": 5}]
    six_and_four = client.post(
        CHECKOUT, json={"items": [{"sku": "balm-tee/M", "quantity": 6}, {"sku": "balm-tee/M", "quantity": 4}]}
    )
    assert six_and_four.status_code == 409 and six_and_four.get_json()["skus"][0]["requested"] == 10
    fifty = client.post(CHECKOUT, json={"items": [{"sku": "balm-tee/M", "quantity": 1}] * 50})
    assert fifty.get_json()["error"] == "balm-tee/M: at most 10 of one size per order"


def test_short_stock_names_every_short_size(app, stub):
    short = app.test_client().post(
        CHECKOUT, json={"items": [{"sku": "balm-tee/L", "quantity": 3}, {"sku": "harbour-shirt/S", "quantity": 1}]}
    )
    assert short.get_json()["error"] == (
        "not enough stock for: balm-tee/L (2 left), harbour-shirt/S (0 left); change the cart and try again"
    )


def test_an_email_is_sent_to_stripe_only_when_given_and_up_to_254_characters(app, stub):
    client = app.test_client()
    assert client.post(CHECKOUT, json=one()).status_code == 201
    assert "customer_email" not in stub.requests[-1][2]
    longest = "a" * 64 + "@" + "b" * 63 + "." + "c" * 63 + "." + "d" * 57 + ".com"
    assert len(longest) == 254
    started = client.post(CHECKOUT, json=one(email=longest))
    assert started.status_code == 201, started.get_json()
    assert stub.requests[-1][2]["customer_email"] == longest


def test_a_key_stripe_refused_can_be_used_again(app, stub):
    client = app.test_client()
    headers = {"Idempotency-Key": "cart-again"}
    stub.fail_with = "500"
    assert client.post(CHECKOUT, json=one(), headers=headers).status_code == 502
    stub.fail_with = None
    retry = client.post(CHECKOUT, json=one(), headers=headers)
    assert retry.status_code == 201, retry.get_json()


def test_without_a_shopper_cookie_a_key_belongs_to_the_address(make_stripe_app):
    app = make_stripe_app(TRUSTED_PROXY_HOPS="1")
    app.extensions["shop"].inventory.initialize("chapter-i", {"balm-tee/M": 5})
    key = {"Idempotency-Key": "same-key"}
    here = app.test_client().post(CHECKOUT, json=one(), headers={**key, "X-Forwarded-For": "203.0.113.7"})
    there = app.test_client().post(CHECKOUT, json=one(), headers={**key, "X-Forwarded-For": "198.51.100.9"})
    again = app.test_client().post(CHECKOUT, json=one(), headers={**key, "X-Forwarded-For": "203.0.113.7"})
    assert here.status_code == there.status_code == 201
    assert here.get_json()["order_id"] != there.get_json()["order_id"]
    assert again.get_json() == here.get_json()


def test_an_expanded_payment_intent_and_padded_text_are_read(app, deliver):
    _, _, order = completed_order(
        app,
        deliver,
        payment_intent={"id": "pi_test_expanded", "object": "payment_intent"},
        customer_details={"email": None, "name": "  Ada Lovelace  "},
        customer_email=" ada@example.com ",
    )
    assert order["stripe"]["payment_intent"] == "pi_test_expanded"
    assert order["customer"] == {"email": "ada@example.com", "name": "Ada Lovelace"}


def test_a_line_items_price_metadata_wins_over_its_product_metadata(app, deliver, stub):
    lines = [
        line_item(1, price_metadata={"sku": "balm-tee/M"}, product={"id": "p1", "metadata": {"sku": "balm-tee/L"}}),
        line_item(1, price_metadata={"product": 5}, product={"id": "p2", "metadata": {"product": "tide-tote"}}),
    ]
    _, order = paid_with_line_items(stub, deliver, app, lines)
    assert [(i["sku"], i["quantity"]) for i in order["items"]] == [("balm-tee/M", 1), ("tide-tote/OS", 1)]


def test_a_new_checkout_the_store_could_not_save_still_ends_the_shoppers_earlier_one(app, stub, monkeypatch):
    from tests.test_checkout_faults import fail_at_attach

    browser = shopper(app)
    first = browser.post(CHECKOUT, json=one("balm-tee/M", 2)).get_json()
    fail_at_attach(app.extensions["shop"], monkeypatch)
    assert browser.post(CHECKOUT, json=one("balm-tee/L", 1)).status_code == 503
    monkeypatch.undo()
    assert stub.sessions[first["session_id"]]["status"] == "expired"
    earlier = api_order(browser, first["order_id"])
    assert earlier["status"] == "expired" and earlier["history"][-1]["note"].startswith("replaced by checkout ord_")
    assert earlier["history"][-1]["note"] != f"replaced by checkout {first['order_id']}"


def test_refund_events_without_an_amount_refund_nothing(app, deliver):
    session = checkout_session(items="balm-tee/M*2")
    order_id = deliver(event("checkout.session.completed", session)).get_json()["order_id"]
    charge = fixture("charge")
    charge.update(payment_intent=session["payment_intent"], amount=9000)
    charge.pop("amount_refunded", None)
    deliver(event("charge.refunded", charge))
    assert api_order(app.test_client(), order_id)["amount_refunded"] == 0
    refund = fixture("refund")
    refund.update(id="re_test_noamount", payment_intent=session["payment_intent"], status="succeeded")
    refund.pop("amount", None)
    deliver(event("refund.created", refund))
    assert api_order(app.test_client(), order_id)["amount_refunded"] == 0


def test_line_item_quantities_that_are_not_whole_numbers_go_to_review(app, deliver, stub):
    lines = [
        line_item(True, price_metadata={"sku": "balm-tee/M"}, description="Flag"),
        line_item("2", price_metadata={"sku": "balm-tee/M"}, description="Text"),
    ]
    _, order = paid_with_line_items(stub, deliver, app, lines)
    assert order["review_reason"] == (
        "metadata.items is missing; line item 'Flag' (balm-tee/M) has quantity True, not 1 to 999; "
        "line item 'Text' (balm-tee/M) has quantity '2', not 1 to 999"
    )


def test_five_bad_line_items_are_all_listed_and_a_sixth_is_counted(app, deliver, stub):
    _, five = paid_with_line_items(stub, deliver, app, [line_item(1, description=f"Box {n}") for n in range(1, 6)])
    assert five["review_reason"].endswith("line item 'Box 5' carries no sku (price or product metadata)")
    _, six = paid_with_line_items(stub, deliver, app, [line_item(1, description=f"Box {n}") for n in range(1, 7)])
    assert six["review_reason"].endswith("line item 'Box 5' carries no sku (price or product metadata); and 1 more")


def test_a_quoted_sku_of_sixty_characters_is_whole_and_half_a_character_is_marked(make_app, deliver_to):
    client = make_app().test_client()
    for text, quoted in (("q" * 60, "q" * 60), ("bad\ud83d/M", "bad?/M")):
        session = checkout_session(items="balm-tee/M", amount_subtotal=9000)
        session["metadata"]["items"] = text
        answer = deliver_to(client, event("checkout.session.completed", session)).get_json()
        reason = api_order(client, answer["order_id"])["review_reason"]
        assert reason == f"metadata.items '{quoted}': unknown SKU '{quoted}' (not in the catalog); {NO_KEY}"


def test_the_order_id_in_the_metadata_wins_and_a_reused_reference_gets_an_id_of_its_own(app, deliver):
    import hashlib

    session = checkout_session(items="balm-tee/M", client_reference_id="ord_ref1")
    session["metadata"]["order_id"] = "ord_meta1"
    assert deliver(event("checkout.session.completed", session)).get_json()["order_id"] == "ord_meta1"
    first = checkout_session(items="balm-tee/M", client_reference_id="ord_shared1")
    assert deliver(event("checkout.session.completed", first)).get_json()["order_id"] == "ord_shared1"
    second = checkout_session(items="balm-tee/M", client_reference_id="ord_shared1")  # another session, same ref
    answer = deliver(event("checkout.session.completed", second)).get_json()
    assert answer["status"] == "applied"
    assert answer["order_id"] == "ord_s" + hashlib.sha256(second["id"].encode()).hexdigest()[:24]


def test_the_charged_currency_is_three_lower_case_letters_or_the_shops(app, deliver):
    _, _, long = completed_order(app, deliver, currency="EURO")
    assert long["currency"] == "eur" and "currency_mismatch" not in long["flags"]
    _, answer, missing = completed_order(app, deliver, currency=None)
    assert answer["status"] == "applied" and missing["currency"] == "eur"


def test_stripe_ids_with_capital_letters_are_read(app, deliver):
    _, _, order = completed_order(app, deliver, payment_intent="pi_3PgAbCDEfgH", id="cs_test_AbC123")
    assert order["stripe"] == {
        "session_id": "cs_test_AbC123",
        "payment_intent": "pi_3PgAbCDEfgH",
        "event_ids": order["stripe"]["event_ids"],
    }


def test_a_product_page_shows_the_catalogs_image_and_description(app):
    page = app.test_client().get("/products/balm-tee").get_data(as_text=True)
    assert "/static/img/balm-tee.svg" in page
    assert "Heavy organic cotton tee, garment-dyed in balm green." in page


def test_a_refund_stripe_refuses_is_refused_saying_so(app, deliver):
    session = checkout_session(items="balm-tee/M")  # paid through a link: the stand-in never saw its payment
    order_id = deliver(event("checkout.session.completed", session)).get_json()["order_id"]
    refused = app.test_client().post(
        f"/api/owner/orders/{order_id}/refund", json={}, headers={"Authorization": f"Bearer {OWNER_PASSWORD}"}
    )
    assert (refused.status_code, refused.get_json()) == (
        409,
        {
            "error": f"Stripe refused the refund: No such payment_intent: '{session['payment_intent']}'; "
            "nothing was refunded"
        },
    )
