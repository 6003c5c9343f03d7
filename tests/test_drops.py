"""Drops (SPEC section 7) in one process on a real redis-server: releases, shoppers, limits, origins.

The Stripe side is the stand-in, which validates every request against Stripe's schema.
"""

from __future__ import annotations

import threading

import pytest

from tests.clock import shop_clock
from tests.stripe_factory import checkout_session, event

# Every store: the limits live in Lua scripts that must run the same on redis-py, the embedded server,
# Upstash REST and a Redis Cluster.
pytestmark = pytest.mark.backends()

URL = "/api/checkout"
OPENS = "2026-12-04T17:00:00Z"
OPENS_MS = 1796403600000


@pytest.fixture
def shop_app(make_stripe_app):
    def make(stock=None, **overrides):
        app = make_stripe_app(**overrides)
        shop = app.extensions["shop"]
        shop.inventory.initialize("chapter-i", stock or {"balm-tee/M": 50, "balm-tee/L": 50, "tide-tote/OS": 50})
        shop.inventory.initialize("chapter-ii", {"wool-coat/M": 5, "wool-coat/L": 5, "ridge-knit/M": 20})
        return app

    return make


@pytest.fixture
def app(shop_app):
    return shop_app()


def row(shop, sku):
    return next(r for c in shop.inventory.snapshot() for r in c["skus"] if r["sku"] == sku)


def held_total(shop):
    return sum(r["held"] or 0 for c in shop.inventory.snapshot() for r in c["skus"])


def cart(sku="balm-tee/M", quantity=1, **extra):
    return {"items": [{"sku": sku, "quantity": quantity}], **extra}


def shopper(app):
    """A browser that opened a storefront page: it carries the signed shopper cookie."""
    browser = app.test_client()
    assert browser.get("/").status_code == 200
    assert browser.get_cookie("shopper") is not None
    return browser


# -- releases ----------------------------------------------------------------------------------


def test_release_api_sets_and_shows_the_window(client, shop, owner_headers):
    clock = shop_clock(shop)
    clock.now = OPENS_MS / 1000 - 3600
    answer = client.post(
        "/api/owner/chapters/chapter-ii/release",
        json={"opens_at": "2026-12-04T18:00+01:00", "closes_at": "2026-12-06T17:00Z", "queue": None},
        headers=owner_headers,
    )
    assert answer.status_code == 200, answer.get_json()
    body = answer.get_json()
    assert body["id"] == "chapter-ii" and body["initialized"] is True
    assert body["release"] == {
        "opens_at": OPENS,
        "closes_at": "2026-12-06T17:00:00Z",
        "state": "scheduled",
        "queue": None,
    }
    stock = client.get("/api/owner/stock", headers=owner_headers).get_json()["chapters"]
    assert [c["release"]["state"] for c in stock] == ["open", "scheduled"]
    assert stock[0]["release"] == {"opens_at": None, "closes_at": None, "state": "open", "queue": None}
    clock.now = OPENS_MS / 1000
    assert client.get("/api/owner/stock", headers=owner_headers).get_json()["chapters"][1]["release"]["state"] == "open"
    cleared = client.post(
        "/api/owner/chapters/chapter-ii/release", json={"opens_at": None, "closes_at": None}, headers=owner_headers
    ).get_json()
    assert cleared["release"] == {"opens_at": None, "closes_at": None, "state": "open", "queue": None}


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"opens_at": "2026-12-04T17:00"}, "no time zone"),
        ({"opens_at": "Friday 6pm"}, "2026-12-04T17:00Z"),
        ({"opens_at": "2026-12-05T17:00Z", "closes_at": "2026-12-04T17:00Z"}, "closes_at must be after opens_at"),
        ({"opens_at": OPENS, "queue": {"starts_minutes_before": 15}}, "missing admit_per_minute, pass_minutes"),
        ({"opens": OPENS}, "unknown field"),
    ],
)
def test_bad_release_is_400_saying_the_expected_form(client, shop, owner_headers, body, words):
    answer = client.post("/api/owner/chapters/chapter-ii/release", json=body, headers=owner_headers)
    assert answer.status_code == 400 and words in answer.get_json()["error"]
    assert shop.releases.get("chapter-ii")["opens_at"] is None  # nothing stored


def test_release_needs_the_owner_and_a_known_chapter(client, owner_headers):
    assert client.post("/api/owner/chapters/chapter-ii/release", json={"opens_at": OPENS}).status_code == 401
    missing = client.post("/api/owner/chapters/chapter-ix/release", json={"opens_at": OPENS}, headers=owner_headers)
    assert missing.status_code == 404 and "chapter-ii" in missing.get_json()["error"]


def test_checkout_before_opening_is_409_then_201_at_the_minute_with_no_restart(app, shop, stub):
    clock = shop_clock(shop)
    clock.now = OPENS_MS / 1000 - 90
    shop.releases.set("chapter-ii", {"opens_at": OPENS, "closes_at": "2026-12-04T17:20Z"})
    browser = shopper(app)
    early = browser.post(URL, json=cart("ridge-knit/M"))
    assert early.status_code == 409
    assert early.get_json()["opens_at"] == OPENS
    assert "Chapter II is not on sale yet" in early.get_json()["error"]
    assert row(shop, "ridge-knit/M")["held"] == 0 and not stub.requests
    clock.now = OPENS_MS / 1000  # the minute it opens: the same app, no deploy
    opened = browser.post(URL, json=cart("ridge-knit/M"))
    assert opened.status_code == 201, opened.get_json()
    assert row(shop, "ridge-knit/M")["held"] == 1
    clock.now = OPENS_MS / 1000 + 21 * 60  # after closes_at, before the first hold ends
    late = shopper(app).post(URL, json=cart("ridge-knit/M"))
    assert late.status_code == 409 and late.get_json()["closes_at"] == "2026-12-04T17:20:00Z"
    assert "no longer on sale" in late.get_json()["error"]
    assert row(shop, "ridge-knit/M")["held"] == 1


def test_a_chapter_without_a_release_is_not_held_back(app, shop):
    assert shopper(app).post(URL, json=cart("balm-tee/M")).status_code == 201


def paid_at(seconds: float, items: str = "ridge-knit/M") -> dict:
    """A Payment Link's completed session, as Stripe created the event at ``seconds``."""
    evt = event("checkout.session.completed", checkout_session(items=items))
    evt["created"] = int(seconds)
    return evt


def test_paid_outside_the_window_is_fulfilled_and_flagged(shop, deliver):
    clock = shop_clock(shop)
    clock.now = OPENS_MS / 1000 - 600
    shop.releases.set("chapter-ii", {"opens_at": OPENS, "closes_at": "2026-12-04T18:00Z"})
    early = deliver(paid_at(clock.now)).get_json()
    order = shop.orders.get(early["order_id"])
    assert order["status"] == "paid" and order["flags"] == ["outside_release"]
    assert row(shop, "ridge-knit/M")["on_hand"] == 19  # the money is in: it is sold
    clock.now = OPENS_MS / 1000
    on_time = deliver(paid_at(clock.now)).get_json()
    assert shop.orders.get(on_time["order_id"])["flags"] == []
    clock.now = OPENS_MS / 1000 + 2 * 86400  # Stripe retried for two days: judged by when it was paid
    retried = deliver(paid_at(OPENS_MS / 1000 + 60)).get_json()
    assert shop.orders.get(retried["order_id"])["flags"] == []
    late = deliver(paid_at(OPENS_MS / 1000 + 3600)).get_json()
    assert shop.orders.get(late["order_id"])["flags"] == ["outside_release"]
    attention = shop.orders.attention(limit=10)[0]
    assert [o["id"] for o in attention] == [late["order_id"], early["order_id"]]


def test_cli_sets_and_clears_a_release(app, shop):
    runner = app.test_cli_runner()
    shop_clock(shop).now = OPENS_MS / 1000 - 60
    done = runner.invoke(args=["chapter", "release", "chapter-ii", "--opens-at", "2026-12-04T17:00Z"])
    assert done.exit_code == 0, done.output
    assert "Chapter II (chapter-ii): scheduled" in done.output and "Fri 4 Dec 2026, 17:00 UTC" in done.output
    assert shop.releases.get("chapter-ii")["opens_at"] == OPENS
    bad = runner.invoke(args=["chapter", "release", "chapter-ii", "--opens-at", "2026-12-04 17:00"])
    assert bad.exit_code != 0 and "no time zone" in bad.output
    cleared = runner.invoke(args=["chapter", "release", "chapter-ii", "--clear"])
    assert cleared.exit_code == 0 and "no release" in cleared.output
    assert shop.releases.get("chapter-ii") == {"opens_at": None, "closes_at": None, "state": "open", "queue": None}


# -- the storefront ----------------------------------------------------------------------------


def test_pages_before_opening_show_the_time_and_disable_the_controls(app, shop):
    shop_clock(shop).now = OPENS_MS / 1000 - 3600
    shop.releases.set("chapter-ii", {"opens_at": OPENS})
    browser = app.test_client()
    product = browser.get("/products/ridge-knit")
    html = product.get_data(as_text=True)
    assert f'<time datetime="{OPENS}" data-local-time>Fri 4 Dec 2026, 17:00 UTC</time>' in html
    assert "data-countdown" in html and f'data-until="{OPENS}"' in html
    assert 'value="ridge-knit/M"' in html and f'data-enable-at="{OPENS}"' in html
    assert html.count(" disabled") >= 4  # three sizes and the button
    assert "Opens soon" in html and "<script>" not in html and "onclick" not in html
    chapter = browser.get("/chapters/chapter-ii").get_data(as_text=True)
    assert f'<time datetime="{OPENS}"' in chapter
    home = browser.get("/").get_data(as_text=True)
    assert home.count(f'<time datetime="{OPENS}"') == 1  # Chapter II's banner; Chapter I has no release
    cookie = product.headers.getlist("Set-Cookie")[0]
    assert cookie.startswith("shopper=") and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert not browser.get("/products/ridge-knit").headers.getlist("Set-Cookie")  # only when missing


def test_the_limited_product_says_one_per_customer(client):
    html = client.get("/products/wool-coat").get_data(as_text=True)
    assert "One per customer." in html
    cart_page = client.get("/cart").get_data(as_text=True)
    assert '"limit": 1' in cart_page and "data-cart-email" in cart_page


# -- shoppers and addresses ------------------------------------------------------------------


def test_one_shopper_has_one_open_checkout(app, shop, stub):
    browser = shopper(app)
    first = browser.post(URL, json=cart("balm-tee/M", 2)).get_json()
    assert row(shop, "balm-tee/M")["held"] == 2
    second = browser.post(URL, json=cart("balm-tee/L", 1))
    assert second.status_code == 201
    assert row(shop, "balm-tee/M")["held"] == 0 and row(shop, "balm-tee/L")["held"] == 1
    assert stub.sessions[first["session_id"]]["status"] == "expired"
    assert ("POST", f"/v1/checkout/sessions/{first['session_id']}/expire", {}) in stub.requests
    assert shop.orders.get(first["order_id"])["status"] == "expired"
    release = shop.inventory.ledger(sku="balm-tee/M", reason="release")[0][0]
    assert (release["ref"], release["held_delta"], release["actor"]) == (first["order_id"], -2, "shopper")
    assert release["note"] == f"replaced by checkout {second.get_json()['order_id']}"
    # another shopper's checkout is not touched
    other = shopper(app).post(URL, json=cart("balm-tee/M", 1))
    assert other.status_code == 201 and row(shop, "balm-tee/L")["held"] == 1


def test_a_forged_shopper_cookie_is_a_new_shopper(app, shop):
    browser = shopper(app)
    browser.post(URL, json=cart("balm-tee/M", 1))
    forger = app.test_client()
    forger.set_cookie("shopper", browser.get_cookie("shopper").value[:-2] + "xx")
    assert forger.post(URL, json=cart("balm-tee/L", 1)).status_code == 201
    assert row(shop, "balm-tee/M")["held"] == 1  # the real shopper's checkout stands


def test_the_idempotency_key_is_the_shoppers_own(app, shop):
    one, two = shopper(app), shopper(app)
    headers = {"Idempotency-Key": "same-key"}
    a = one.post(URL, json=cart(), headers=headers).get_json()
    b = two.post(URL, json=cart(), headers=headers).get_json()
    assert a["order_id"] != b["order_id"]
    assert one.post(URL, json=cart(), headers=headers).get_json() == a
    assert row(shop, "balm-tee/M")["held"] == 2


def test_units_per_shopper_are_capped(app, shop):
    refused = shopper(app).post(
        URL, json={"items": [{"sku": "balm-tee/M", "quantity": 6}, {"sku": "balm-tee/L", "quantity": 5}]}
    )
    assert refused.status_code == 409
    assert refused.get_json()["error"].startswith("one checkout can reserve at most 10 items")
    assert held_total(shop) == 0


def test_units_per_address_are_capped_and_lapse_with_the_holds(shop_app):
    app = shop_app(ADDRESS_MAX_HELD_UNITS="12")
    shop = app.extensions["shop"]
    clock = shop_clock(shop)
    for _ in range(3):
        assert shopper(app).post(URL, json=cart("balm-tee/M", 4)).status_code == 201
    refused = shopper(app).post(URL, json=cart("balm-tee/L", 1))
    assert refused.status_code == 409 and "at most 12 at once" in refused.get_json()["error"]
    assert held_total(shop) == 12
    clock.advance(32 * 60 + 1)  # the holds lapse by themselves; the address's count with them
    assert held_total(shop) == 0
    assert shopper(app).post(URL, json=cart("balm-tee/L", 4)).status_code == 201


def test_a_cancelled_checkout_gives_the_address_its_units_back(shop_app):
    app = shop_app(ADDRESS_MAX_HELD_UNITS="4")
    shop = app.extensions["shop"]
    started = shopper(app).post(URL, json=cart("balm-tee/M", 4)).get_json()
    assert shopper(app).post(URL, json=cart("balm-tee/M", 1)).status_code == 409
    app.test_client().get(f"/checkout/cancel?order_id={started['order_id']}")
    assert shopper(app).post(URL, json=cart("balm-tee/M", 4)).status_code == 201
    assert row(shop, "balm-tee/M")["held"] == 4


def test_checkout_starts_per_address_are_rate_limited(shop_app):
    app = shop_app(ADDRESS_CHECKOUTS_PER_MINUTE="3", TRUSTED_PROXY_HOPS="1")
    shop = app.extensions["shop"]
    clock = shop_clock(shop)
    here = {"X-Forwarded-For": "203.0.113.7"}
    for _ in range(3):
        assert shopper(app).post(URL, json=cart(), headers=here).status_code == 201
        clock.advance(10)
    limited = shopper(app).post(URL, json=cart(), headers=here)
    assert limited.status_code == 429
    assert limited.headers["Retry-After"] == "30"  # the first start leaves the window 30 s from now
    assert "please wait 30 seconds" in limited.get_json()["error"]
    elsewhere = shopper(app).post(URL, json=cart(), headers={"X-Forwarded-For": "198.51.100.9"})
    assert elsewhere.status_code == 201  # another address has its own window
    # a client cannot pick its bucket by writing the header's left part: only the last hop is believed
    forged = shopper(app).post(URL, json=cart(), headers={"X-Forwarded-For": "10.9.9.9, 203.0.113.7"})
    assert forged.status_code == 429
    clock.advance(31)
    assert shopper(app).post(URL, json=cart(), headers=here).status_code == 201
    assert row(shop, "balm-tee/M")["held"] == 5


# -- per-customer limits -----------------------------------------------------------------------


def test_a_limited_product_needs_the_email_and_sends_it_to_stripe(app, shop, stub):
    browser = shopper(app)
    missing = browser.post(URL, json=cart("wool-coat/M"))
    assert missing.status_code == 400 and "enter your email address" in missing.get_json()["error"]
    started = browser.post(URL, json=cart("wool-coat/M", email="Ada+drop@Example.com"))
    assert started.status_code == 201
    params = next(p for m, path, p in stub.requests if path == "/v1/checkout/sessions")
    assert params["customer_email"] == "ada@example.com"


def test_the_same_customer_cannot_hold_or_buy_past_the_limit(app, shop, stub, deliver):
    first = shopper(app).post(URL, json=cart("wool-coat/M", email="foo@example.com"))
    assert first.status_code == 201
    again = shopper(app).post(URL, json=cart("wool-coat/L", email="Foo+x@Example.com"))
    assert again.status_code == 409
    body = again.get_json()
    assert body["product"] == "wool-coat" and body["limit"] == 1
    assert "Wool Coat is sold one per customer" in body["error"]
    assert row(shop, "wool-coat/L")["held"] == 0
    two = shopper(app).post(URL, json=cart("wool-coat/L", 2, email="bar@example.com"))
    assert two.status_code == 409 and two.get_json()["limit"] == 1
    # paid: the hold turns into a paid unit, still one too many for a second checkout
    paid = stub.complete(first.get_json()["session_id"], customer_details={"email": "foo@example.com", "name": "Foo"})
    assert deliver(event("checkout.session.completed", paid)).get_json()["order_status"] == "paid"
    assert shop.orders.get(first.get_json()["order_id"])["flags"] == []
    assert shopper(app).post(URL, json=cart("wool-coat/S", email="FOO@example.com")).status_code == 409
    # a released hold gives its unit back
    other = shopper(app).post(URL, json=cart("wool-coat/L", email="zed@example.com")).get_json()
    app.test_client().get(f"/checkout/cancel?order_id={other['order_id']}")
    assert shopper(app).post(URL, json=cart("wool-coat/L", email="zed@example.com")).status_code == 201


def test_same_email_in_concurrent_checkouts_exactly_one_succeeds(app, shop):
    browsers = [shopper(app) for _ in range(8)]
    barrier, answers = threading.Barrier(8), []

    def go(browser):
        barrier.wait(timeout=10)
        answers.append(browser.post(URL, json=cart("wool-coat/M", email=f"Same+{id(browser)}@Example.com")))

    threads = [threading.Thread(target=go, args=(b,)) for b in browsers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    codes = sorted(a.status_code for a in answers)
    assert codes == [201] + [409] * 7, [a.get_json() for a in answers]
    assert row(shop, "wool-coat/M")["held"] == 1


def test_a_payment_link_over_the_limit_is_fulfilled_and_flagged(shop, deliver):
    def paid(items):
        session = checkout_session(items=items)
        session["customer_details"] = {"email": "Fan+links@Example.com", "name": "Fan"}
        return deliver(event("checkout.session.completed", session)).get_json()

    first = paid("wool-coat/M")
    assert shop.orders.get(first["order_id"])["flags"] == []
    second = paid("wool-coat/L*1,ridge-knit/M")
    order = shop.orders.get(second["order_id"])
    assert order["status"] == "paid" and order["flags"] == ["over_limit"]
    assert row(shop, "wool-coat/L")["on_hand"] == 4  # sold all the same
    assert second["order_id"] in [o["id"] for o in shop.orders.attention(limit=10)[0]]


# -- origin and body type --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({"Origin": "https://evil.example"}, 403),
        ({"Origin": "null"}, 403),
        ({"Sec-Fetch-Site": "cross-site"}, 403),
        ({"Sec-Fetch-Site": "same-site"}, 403),
        ({"Origin": "http://127.0.0.1:5000", "Sec-Fetch-Site": "cross-site"}, 403),
    ],
)
def test_cross_site_checkouts_hold_nothing(app, shop, stub, headers, status):
    answer = shopper(app).post(URL, json=cart(), headers=headers)
    assert answer.status_code == status
    assert "own pages" in answer.get_json()["error"]
    assert held_total(shop) == 0 and not stub.requests


def test_a_text_plain_body_is_415_and_holds_nothing(app, shop, stub):
    import json

    body = json.dumps(cart())
    for content_type in ("text/plain", "application/x-www-form-urlencoded", None):
        answer = shopper(app).post(URL, data=body, content_type=content_type)
        assert answer.status_code == 415 and "Content-Type: application/json" in answer.get_json()["error"]
    assert held_total(shop) == 0 and not stub.requests


def test_our_own_pages_and_scripts_may_check_out(app, shop):
    browser = shopper(app)
    own = {"Origin": "http://127.0.0.1:5000", "Sec-Fetch-Site": "same-origin"}
    assert browser.post(URL, json=cart(), headers=own).status_code == 201
    charset = browser.post(
        URL, data='{"items": [{"sku": "balm-tee/L", "quantity": 1}]}', content_type="application/json; charset=utf-8"
    )
    assert charset.status_code == 201
    assert app.test_client().post(URL, json=cart("tide-tote/OS")).status_code == 201  # a script: judged by the limits
    assert held_total(shop) == 2


def test_owner_mode_sets_the_release_from_the_stock_page(app, shop, client):
    from tests.test_owner_mode import login

    shop_clock(shop).now = OPENS_MS / 1000 - 86400
    token = login(client)
    page = client.get("/owner/stock").get_data(as_text=True)
    assert "no release set" in page and 'action="/owner/chapters/chapter-ii/release"' in page
    done = client.post(
        "/owner/chapters/chapter-ii/release",
        data={"csrf_token": token, "opens_at": "2026-12-04T18:00+01:00", "closes_at": ""},
    )
    assert done.status_code == 302
    page = client.get("/owner/stock").get_data(as_text=True)
    assert "Chapter II is scheduled; opens Fri 4 Dec 2026, 17:00 UTC." in page
    assert f'opens <time datetime="{OPENS}">Fri 4 Dec 2026, 17:00 UTC</time>' in page
    bad = client.post("/owner/chapters/chapter-ii/release", data={"csrf_token": token, "opens_at": "tomorrow"})
    assert bad.status_code == 302 and "2026-12-04T17:00Z" in client.get("/owner/stock").get_data(as_text=True)
    assert shop.releases.get("chapter-ii")["opens_at"] == OPENS
    client.post("/owner/chapters/chapter-ii/release", data={"csrf_token": token, "clear": "1"})
    assert shop.releases.get("chapter-ii")["opens_at"] is None
    assert client.post("/owner/chapters/chapter-ii/release", data={"opens_at": OPENS}).status_code in (400, 403)


def test_checkouts_without_a_cookie_are_each_a_new_shopper(app, shop):
    """A script without cookies is never "the same shopper" as another: its checkouts do not replace each other."""
    for sku in ("balm-tee/M", "balm-tee/L", "tide-tote/OS"):
        assert app.test_client().post(URL, json=cart(sku, 2)).status_code == 201
    assert held_total(shop) == 6
    assert not shop.inventory.ledger(reason="release")[0]


@pytest.mark.backends("redis")  # refused before the store is read: one backend is enough
@pytest.mark.parametrize("path", ["/owner/chapters/chapter-ii/release", "/owner/orders/ord_x/refund"])
def test_owner_drop_actions_without_login_are_401_and_change_nothing(client, redis_client, stub, path):
    before = redis_client.dbsize()
    response = client.post(path, data={"opens_at": OPENS, "amount": "", "restock": "1"})
    assert response.status_code == 401
    assert redis_client.dbsize() == before and not stub.requests
