"""Owner Mode at /owner: login, every page and action, on the same domain functions as the API."""

from __future__ import annotations

import io
import re

import pytest

from tests.conftest import OWNER_PASSWORD
from tests.order_fill import fill_orders
from tests.stripe_factory import checkout_session, event, fixture

pytestmark = pytest.mark.backends()

PAGES = [
    "/owner/",
    "/owner/stock",
    "/owner/orders",
    "/owner/orders/ord_x",
    "/owner/ledger",
    "/owner/health",
    "/owner/orders.csv",
    "/owner/stock/chapter-i.csv",
]
ACTIONS = [
    "/owner/alerts/ack",
    "/owner/stock/chapter-i/initialize",
    "/owner/stock/chapter-i/set",
    "/owner/stock/chapter-i/adjust",
    "/owner/stock/chapter-i/upload",
    "/owner/orders/ord_x/status",
    "/owner/orders/ord_x/restock",
]


def csrf(client, path="/owner/login") -> str:
    html = client.get(path).get_data(as_text=True)
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def login(client) -> str:
    token = csrf(client)
    response = client.post("/owner/login", data={"password": OWNER_PASSWORD, "csrf_token": token})
    assert response.status_code == 302
    return csrf(client, "/owner/stock")


@pytest.fixture
def owner_client(client):
    client.token = login(client)
    return client


def post(client, path, **data):
    return client.post(path, data={"csrf_token": client.token, **data})


@pytest.mark.backends("redis")  # refused before the store is read: one backend is enough
@pytest.mark.parametrize("path", PAGES)
def test_pages_redirect_to_login(client, path):
    response = client.get(path)
    assert response.status_code == 302 and "/owner/login" in response.headers["Location"]


@pytest.mark.backends("redis")  # refused before the store is read: one backend is enough
@pytest.mark.parametrize("path", ACTIONS)
def test_actions_without_login_are_401_and_change_nothing(client, redis_client, path):
    before = redis_client.dbsize()
    response = client.post(path, data={"stock": "1", "sku": "balm-tee/M", "on_hand": "3"})
    assert response.status_code == 401
    assert redis_client.dbsize() == before


def test_wrong_password_then_right_one_and_logout(client):
    token = csrf(client)
    assert client.post("/owner/login", data={"password": "nope", "csrf_token": token}).status_code == 401
    ok = client.post("/owner/login?next=/owner/ledger", data={"password": OWNER_PASSWORD, "csrf_token": token})
    assert ok.status_code == 302 and ok.headers["Location"].endswith("/owner/ledger")
    assert client.get("/owner/stock").status_code == 200
    token = csrf(client, "/owner/stock")
    assert client.post("/owner/logout", data={"csrf_token": token}).status_code == 302
    assert client.get("/owner/stock").status_code == 302


def test_login_never_redirects_off_site(client):
    token = csrf(client)
    ok = client.post("/owner/login?next=//evil.example/x", data={"password": OWNER_PASSWORD, "csrf_token": token})
    assert ok.headers["Location"].endswith("/owner/")


def test_login_is_rate_limited_per_address(client):
    token = csrf(client)
    codes = [client.post("/owner/login", data={"password": "wrong", "csrf_token": token}).status_code for _ in range(6)]
    assert codes == [401] * 5 + [429]
    blocked = client.post("/owner/login", data={"password": OWNER_PASSWORD, "csrf_token": token})
    assert blocked.status_code == 429 and "Wait" in blocked.get_data(as_text=True)


@pytest.mark.backends("redis")  # refused before the store is read: one backend is enough
def test_post_without_csrf_token_is_refused(owner_client, redis_client):
    before = redis_client.dbsize()
    response = owner_client.post("/owner/stock/chapter-i/initialize", data={"qty:balm-tee/M": "4"})
    assert response.status_code == 400 and "reload" in response.get_data(as_text=True)
    assert redis_client.dbsize() == before


@pytest.mark.backends("redis")  # headers and HTML: the same on every backend
def test_session_cookie_and_security_headers(client):
    token = csrf(client)
    response = client.post("/owner/login", data={"password": OWNER_PASSWORD, "csrf_token": token})
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    page = client.get("/owner/stock")
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]
    assert page.headers["X-Frame-Options"] == "DENY" and page.headers["Referrer-Policy"] == "same-origin"
    assert "<script>" not in page.get_data(as_text=True) and OWNER_PASSWORD not in page.get_data(as_text=True)


def test_initialize_set_adjust_from_forms(owner_client, shop):
    html = owner_client.get("/owner/stock").get_data(as_text=True)
    assert "Not initialized" in html and "Initialize Chapter I" in html
    response = post(owner_client, "/owner/stock/chapter-i/initialize", **{"qty:balm-tee/M": "4", "qty:balm-tee/L": "2"})
    assert response.status_code == 302
    post(owner_client, "/owner/stock/chapter-i/set", sku="balm-tee/L", on_hand="9")
    post(owner_client, "/owner/stock/chapter-i/adjust", sku="balm-tee/M", delta="-1", note="photo sample")
    rows = {r["sku"]: r for r in shop.inventory.snapshot(["chapter-i"])[0]["skus"]}
    assert (rows["balm-tee/M"]["on_hand"], rows["balm-tee/L"]["on_hand"], rows["balm-tee/S"]["on_hand"]) == (3, 9, 0)
    entries = shop.inventory.ledger(sku="balm-tee/M")[0]
    assert entries[0]["actor"] == "owner" and entries[0]["note"] == "photo sample"
    refused = post(owner_client, "/owner/stock/chapter-i/adjust", sku="balm-tee/M", delta="-10")
    assert refused.status_code == 302
    assert "below zero" in owner_client.get("/owner/stock").get_data(as_text=True)


def test_stock_csv_round_trip(owner_client, shop):
    upload = owner_client.post(
        "/owner/stock/chapter-ii/upload",
        content_type="multipart/form-data",
        data={
            "csrf_token": owner_client.token,
            "file": (io.BytesIO(b"sku,on_hand\nwool-coat/M,3\nridge-knit/L,7\n"), "stock.csv"),
        },
    )
    assert upload.status_code == 302
    csv_text = owner_client.get("/owner/stock/chapter-ii.csv").get_data(as_text=True)
    assert "wool-coat/M,Wool Coat,M,3,0,3" in csv_text and "ridge-knit/L,Ridge Knit,L,7,0,7" in csv_text
    bad = owner_client.post(
        "/owner/stock/chapter-ii/upload",
        content_type="multipart/form-data",
        data={"csrf_token": owner_client.token, "file": (io.BytesIO(b"name,count\nx,1\n"), "bad.csv")},
    )
    assert bad.status_code == 302
    assert "sku and on_hand" in owner_client.get("/owner/stock").get_data(as_text=True)


def test_orders_search_order_page_and_actions(owner_client, shop, deliver):
    shop.inventory.initialize("chapter-i", {"balm-tee/M": 5})
    session = checkout_session(items="balm-tee/M*2", email="grace@example.com")
    order_id = deliver(event("checkout.session.completed", session)).get_json()["order_id"]
    listing = owner_client.get("/owner/orders").get_data(as_text=True)
    assert order_id in listing and "Balm Tee <strong>M</strong> ×2" in listing
    other = deliver(event("checkout.session.completed", checkout_session(items="tide-tote/OS"))).get_json()["order_id"]
    for query in (order_id, session["id"], "grace@example.com"):
        found = owner_client.get("/owner/orders", query_string={"q": query}).get_data(as_text=True)
        # the result's link, not the search box echoing the query; and only that order
        assert f'href="/owner/orders/{order_id}"' in found and other not in found
    nothing = owner_client.get("/owner/orders", query_string={"q": "ord_nobody"}).get_data(as_text=True)
    assert "No orders here." in nothing and 'href="/owner/orders/ord_' not in nothing
    page = owner_client.get(f"/owner/orders/{order_id}").get_data(as_text=True)
    assert "dashboard.stripe.com/test/checkout/sessions/" + session["id"] in page and "London" in page
    post(owner_client, f"/owner/orders/{order_id}/status", status="shipped", tracking="DHL 42")
    assert shop.orders.get(order_id)["tracking"] == "DHL 42"
    charge = fixture("charge")
    charge.update(payment_intent=session["payment_intent"], amount=9000, amount_refunded=9000)
    deliver(event("charge.refunded", charge))
    assert "Restock these items" in owner_client.get(f"/owner/orders/{order_id}").get_data(as_text=True)
    post(owner_client, f"/owner/orders/{order_id}/restock", **{"qty:balm-tee/M": "2"})
    post(owner_client, f"/owner/orders/{order_id}/restock", **{"qty:balm-tee/M": "1"})  # never twice
    assert shop.inventory.snapshot(["chapter-i"])[0]["skus"][1]["on_hand"] == 5
    restocks = shop.inventory.ledger(reason="refund_restock")[0]
    assert [(e["delta"], e["ref"], e["actor"]) for e in restocks] == [(2, order_id, "owner")]
    exported = owner_client.get("/owner/orders.csv").get_data(as_text=True)
    assert order_id in exported and "balm-tee/M*2" in exported


def test_ledger_and_health_pages(owner_client, shop, make_app):
    shop.inventory.initialize("chapter-i", {"balm-tee/M": 5})
    assert "initialize" in owner_client.get("/owner/ledger?sku=balm-tee/M").get_data(as_text=True)
    keyed = make_app(STRIPE_SECRET_KEY="sk_test_health").test_client()
    keyed.token = login(keyed)
    page = keyed.get("/owner/health").get_data(as_text=True)
    assert "No check fails, so Stripe's events become orders" in page and "check-fail" not in page
    other = make_app(STRIPE_WEBHOOK_SECRET="").test_client()
    other.token = login(other)
    page = other.get("/owner/health").get_data(as_text=True)
    assert "check-fail" in page and "STRIPE_WEBHOOK_SECRET" in page


def test_alerts_until_acknowledged(owner_client, shop, deliver, client):
    shop.inventory.initialize("chapter-i", {"balm-tee/M": 1, "balm-tee/L": 3})
    deliver(event("checkout.session.completed", checkout_session(items="balm-tee/M*2")))  # one short: oversold
    client.post("/api/webhooks/stripe", data=b"{}", headers={"Stripe-Signature": "t=1,v1=bad"})
    html = owner_client.get("/owner/").get_data(as_text=True)
    assert "Balm Tee M is sold out" in html and "oversold" in html and "only 3 left" in html
    assert "1 webhook deliveries refused today" in html
    alert_id = re.search(r'name="alert_id" value="(stock:balm-tee/M:sold_out[^"]*)"', html).group(1)
    post(owner_client, "/owner/alerts/ack", alert_id=alert_id)
    assert "Balm Tee M is sold out" not in owner_client.get("/owner/").get_data(as_text=True)


@pytest.mark.backends("redis", "cluster")  # 100,000 orders each; the cluster routes the reads
def test_orders_page_cost_does_not_grow_with_orders(owner_client, redis_client):
    """100,000 orders: page 1 and a filtered page read one index page and one page of orders, nothing more."""

    def commands_for(path):
        redis_client.config_resetstat()
        assert owner_client.get(path).status_code == 200
        return sum(v["calls"] for k, v in redis_client.info("commandstats").items() if k != "cmdstat_config")

    fill_orders(redis_client, 1_000, 0)
    commands_for("/owner/orders")  # the first request opens the app's connections (HELLO, CLIENT SETINFO)
    small = [commands_for("/owner/orders"), commands_for("/owner/orders?status=paid")]
    fill_orders(redis_client, 100_000, 1_000)
    assert redis_client.zcard("{shop}:orders") == 100_000
    large = [commands_for("/owner/orders"), commands_for("/owner/orders?status=paid")]
    assert large == small
    assert all(n <= 25 + 3 for n in large), large  # one index range + 25 order hashes (+ session bookkeeping)
