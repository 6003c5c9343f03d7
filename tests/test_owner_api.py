"""The owner JSON API, call by call (SPEC section 6)."""

from __future__ import annotations

import pytest

from tests.clock import shop_clock
from tests.conftest import OwnerAPI
from tests.stripe_factory import checkout_session, event

pytestmark = pytest.mark.backends()

STOCK = "/api/owner/stock"


@pytest.fixture
def paid(deliver, shop):
    """Create n paid orders through the signed webhook; returns their ids, oldest first."""

    def make(n, items="balm-tee/M"):
        return [
            deliver(event("checkout.session.completed", checkout_session(items=items))).get_json()["order_id"]
            for _ in range(n)
        ]

    return make


# -- authorization -----------------------------------------------------------


@pytest.mark.parametrize(
    "method, path",
    [
        ("GET", STOCK),
        ("POST", "/api/owner/stock/chapter-i/initialize"),
        ("POST", "/api/owner/stock/chapter-i/set"),
        ("POST", "/api/owner/stock/chapter-i/adjust"),
        ("GET", "/api/owner/orders"),
        ("GET", "/api/owner/orders/ord_x"),
        ("POST", "/api/owner/orders/ord_x/status"),
        ("GET", "/api/owner/ledger"),
        ("GET", "/api/owner/health"),
    ],
)
@pytest.mark.backends("redis")  # refused before the store is read: one backend is enough
@pytest.mark.parametrize("auth", [None, "Bearer wrong", "Basic b3duZXI6cHc=", "Bearer ", "bearer owner-test-passwordX"])
def test_every_call_needs_the_owner_token(client, redis_client, method, path, auth):
    headers = {"Authorization": auth} if auth else {}
    response = client.open(path, method=method, json={"stock": {"balm-tee/M": 1}}, headers=headers)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert "Bearer" in response.get_json()["error"]
    # Nothing changed but the count of wrong tokens (SPEC 8), and only when a token was sent.
    wrong_token = auth in ("Bearer wrong", "bearer owner-test-passwordX")
    written = sorted(k.split(":")[2] for k in redis_client.keys("*"))
    assert written == (["attempts", "failures"] if wrong_token else [])


def test_owner_password_unset_is_503(make_app):
    client = make_app(OWNER_PASSWORD="").test_client()
    response = client.get(STOCK, headers={"Authorization": "Bearer anything"})
    assert response.status_code == 503 and "OWNER_PASSWORD" in response.get_json()["error"]


def test_scheme_is_case_insensitive(client, owner_headers):
    token = owner_headers["Authorization"].split(" ", 1)[1]
    assert client.get(STOCK, headers={"Authorization": f"bearer {token}"}).status_code == 200


# -- stock ---------------------------------------------------------------------


def test_stock_of_uninitialized_chapters_is_null(owner_api):
    chapters = owner_api.get(STOCK).get_json()["chapters"]
    assert [c["id"] for c in chapters] == ["chapter-i", "chapter-ii"]
    for chapter in chapters:
        assert chapter["initialized"] is False and chapter["name"]
        for row in chapter["skus"]:
            assert (row["on_hand"], row["held"], row["available"], row["low"]) == (None, None, None, False)
    assert len(chapters[0]["skus"]) >= 6 and len(chapters[1]["skus"]) >= 6


def test_initialize_set_adjust(owner_api):
    base = "/api/owner/stock/chapter-i"
    init = owner_api.post(f"{base}/initialize", {"stock": {"balm-tee/M": 10, "balm-tee/L": 3}})
    assert init.status_code == 200
    rows = {r["sku"]: r for r in init.get_json()["skus"]}
    assert init.get_json()["initialized"] is True
    assert (rows["balm-tee/M"]["on_hand"], rows["balm-tee/M"]["low"]) == (10, False)
    assert (rows["balm-tee/L"]["available"], rows["balm-tee/L"]["low"]) == (3, True)
    assert rows["balm-tee/S"]["on_hand"] == 0 and rows["balm-tee/S"]["sold_out"] is True  # not named: 0
    again = owner_api.post(f"{base}/initialize", {"stock": {"balm-tee/M": 1}})
    assert again.status_code == 409 and "already initialized" in again.get_json()["error"]
    assert owner_api.post(f"{base}/set", {"stock": {"balm-tee/M": 7}}).status_code == 200
    adjusted = owner_api.post(
        f"{base}/adjust", {"delta": {"balm-tee/M": -2, "balm-tee/L": 4}, "note": "count"}
    ).get_json()
    rows = {r["sku"]: r for r in adjusted["skus"]}
    assert (rows["balm-tee/M"]["on_hand"], rows["balm-tee/L"]["on_hand"]) == (5, 7)


def test_adjust_below_zero_is_409_and_changes_nothing(redis_client, owner_api):
    base = "/api/owner/stock/chapter-i"
    owner_api.post(f"{base}/initialize", {"stock": {"balm-tee/M": 2, "balm-tee/L": 2}})
    before = (redis_client.hgetall("{shop}:stock"), redis_client.xlen("{shop}:ledger"))
    response = owner_api.post(f"{base}/adjust", {"delta": {"balm-tee/L": -1, "balm-tee/M": -3}})
    assert response.status_code == 409
    assert "balm-tee/M" in response.get_json()["error"]
    assert (redis_client.hgetall("{shop}:stock"), redis_client.xlen("{shop}:ledger")) == before


def test_set_and_adjust_need_initialize_first(owner_api):
    for action, body in (("set", {"stock": {"wool-coat/M": 1}}), ("adjust", {"delta": {"wool-coat/M": 1}})):
        response = owner_api.post(f"/api/owner/stock/chapter-ii/{action}", body)
        assert response.status_code == 409 and "initialize" in response.get_json()["error"]


@pytest.mark.parametrize(
    "body",
    [
        {"stock": {"wool-coat/M": 1}},  # a SKU of another chapter
        {"stock": {"nope/M": 1}},
        {"stock": {"balm-tee/M": -1}},
        {"stock": {"balm-tee/M": 1.5}},
        {"stock": {"balm-tee/M": "3"}},
        {"stock": {"balm-tee/M": True}},
        {"stock": {"balm-tee/M": None}},
        {"stock": ["balm-tee/M"]},
        {"stock": {"balm-tee/M": 10**30}},
        {},
        {"delta": {}},
    ],
)
def test_bad_stock_bodies_are_400(redis_client, body, owner_api):
    response = owner_api.post("/api/owner/stock/chapter-i/initialize", body)
    assert response.status_code == 400, response.get_json()
    assert response.get_json()["error"]
    assert redis_client.dbsize() == 0


def test_unknown_chapter_and_action(owner_api):
    assert owner_api.post("/api/owner/stock/chapter-ix/initialize", {"stock": {}}).status_code == 404
    assert owner_api.post("/api/owner/stock/chapter-i/delete", {"stock": {}}).status_code == 400


def test_bodies_that_are_not_json_objects(owner_api):
    path = "/api/owner/stock/chapter-i/initialize"
    assert owner_api.post_raw(path, b"not json").status_code == 400
    assert owner_api.post_raw(path, b"[]").status_code == 400
    huge = owner_api.post_raw(path, b"{" + b" " * 70000 + b"}")
    assert huge.status_code == 413 and huge.get_json()["error"]


def test_bodies_that_only_lenient_json_reads_are_400(redis_client, owner_api):
    """Half a surrogate pair or a NaN cannot be kept as text or stock: refused before the store sees it."""
    path = "/api/owner/stock/chapter-i/initialize"
    for body in ('{"stock": {"balm-tee/M": 1}, "note": "restock \\ud800"}', '{"stock": {"balm-tee/M": NaN}}'):
        response = owner_api.post_raw(path, body)
        assert response.status_code == 400 and "standard JSON" in response.get_json()["error"]
    assert redis_client.dbsize() == 0


def test_set_below_held_floors_available_at_zero(shop, owner_api):
    shop.inventory.initialize("chapter-i", {"tide-tote/OS": 5})
    shop.store.checkout_hold(
        {
            "order_id": "ord_hold1",
            "items": [
                {
                    "sku": "tide-tote/OS",
                    "chapter": "chapter-i",
                    "name": "Tide Tote",
                    "size": "OS",
                    "quantity": 3,
                    "unit_amount": 3500,
                }
            ],
            "hold_until": 10**13,
            "amount_expected": 10500,
            "currency": "eur",
        },
        None,
        1,
    )
    rows = {
        r["sku"]: r
        for r in owner_api.post("/api/owner/stock/chapter-i/set", {"stock": {"tide-tote/OS": 1}}).get_json()["skus"]
    }
    assert (rows["tide-tote/OS"]["on_hand"], rows["tide-tote/OS"]["held"], rows["tide-tote/OS"]["available"]) == (
        1,
        3,
        0,
    )


# -- orders ----------------------------------------------------------------------


def test_orders_newest_first_with_cursor(shop, paid, owner_api):
    shop.inventory.initialize("chapter-i", {"balm-tee/M": 100})
    ids = paid(7)
    listed, calls = owner_api.pages("/api/owner/orders", "orders", limit=3)
    assert [o["id"] for o in listed] == list(reversed(ids)) and calls == 3
    paid_only = owner_api.get("/api/owner/orders?status=paid").get_json()
    assert len(paid_only["orders"]) == 7 and paid_only["next_cursor"] is None
    assert owner_api.get("/api/owner/orders?status=shipped").get_json()["orders"] == []


def test_orders_of_one_millisecond_are_listed_newest_first(make_app, stub, deliver_to, redis_client):
    """Ties go by the order the store took the orders, not by their ids; so does an app clock a little behind."""
    app = make_app(STRIPE_SECRET_KEY="sk_test_stand_in", STRIPE_API_BASE=stub.base, STRIPE_TIMEOUT_SECONDS=10)
    shop, client = app.extensions["shop"], app.test_client()
    shop.inventory.initialize("chapter-i", {"balm-tee/M": 100})
    now = shop_clock(shop).now

    def paid(n):
        sessions = [checkout_session(items="balm-tee/M") for _ in range(n)]
        return [deliver_to(client, event("checkout.session.completed", s)).get_json()["order_id"] for s in sessions]

    ids = paid(4)
    started = client.post("/api/checkout", json={"items": [{"sku": "balm-tee/M", "quantity": 1}]})
    ids.append(started.get_json()["order_id"])  # a pending order, from the checkout script
    shop.fulfillment.clock = lambda: now - 5  # another server, five seconds behind
    ids += paid(2)
    created = [int(redis_client.hget(f"{{shop}}:order:{i}", "created_at")) for i in ids]
    assert created == list(range(int(now * 1000), int(now * 1000) + 7))
    shop.fulfillment.clock = lambda: now - 120  # a clock far off is not followed: its own time is kept
    (late,) = paid(1)
    assert int(redis_client.hget(f"{{shop}}:order:{late}", "created_at")) == int((now - 120) * 1000)
    newest_first = [*reversed(ids), late]
    owner_api = OwnerAPI(client)
    listed = owner_api.json("/api/owner/orders")["orders"]
    assert [o["id"] for o in listed] == newest_first
    listed = owner_api.json("/api/owner/orders", status="paid")["orders"]
    assert [o["id"] for o in listed] == [i for i in newest_first if i != ids[4]]


@pytest.mark.parametrize(
    "query",
    [
        "limit=0",
        "limit=201",
        "limit=abc",
        "limit=-1",
        "limit=%C2%B2",  # a superscript two: str.isdigit() says yes, int() says no
        pytest.param("limit=" + "9" * 5000, id="limit=5000-digits"),  # beyond the digits int() converts
        "status=lost",
        "cursor=xyz",
        "cursor=",
        "status=",
    ],
)
def test_bad_order_queries_are_400(query, owner_api):
    response = owner_api.get(f"/api/owner/orders?{query}")
    assert response.status_code == 400 and response.get_json()["error"]


def test_order_detail_shape_and_404(shop, paid, owner_api):
    shop.inventory.initialize("chapter-i", {"balm-tee/M": 5})
    (order_id,) = paid(1)
    order = owner_api.get(f"/api/owner/orders/{order_id}").get_json()
    for key in (
        "id",
        "status",
        "items",
        "amount_total",
        "currency",
        "customer",
        "shipping",
        "tracking",
        "stripe",
        "oversold",
        "flags",
        "review_reason",
        "created_at",
        "updated_at",
    ):
        assert key in order
    for key in ("sku", "chapter", "name", "size", "quantity", "unit_amount", "stock_tracked"):
        assert key in order["items"][0]
    assert isinstance(order["stripe"]["event_ids"], list) and isinstance(order["flags"], list)
    assert order["created_at"].endswith("Z")
    assert owner_api.get("/api/owner/orders/ord_nope").status_code == 404
    assert owner_api.get("/api/owner/orders/..%2F..%2Fetc").status_code == 404


def test_status_moves(shop, paid, deliver, owner_api):
    shop.inventory.initialize("chapter-i", {"balm-tee/M": 5})
    (order_id,) = paid(1)
    path = f"/api/owner/orders/{order_id}/status"
    assert owner_api.post(path, {"status": "delivered"}).status_code == 409  # paid -> delivered skips
    shipped = owner_api.post(path, {"status": "shipped", "tracking": "DHL 123"})
    assert shipped.status_code == 200 and shipped.get_json()["tracking"] == "DHL 123"
    assert owner_api.post(path, {"status": "delivered"}).get_json()["status"] == "delivered"
    for stripe_driven in ("refunded", "payment_failed", "expired", "pending", "partially_refunded"):
        assert owner_api.post(path, {"status": stripe_driven}).status_code == 409
    assert owner_api.post(path, {"status": "lost"}).status_code == 400
    assert owner_api.post(path, {}).status_code == 400
    assert owner_api.post("/api/owner/orders/ord_nope/status", {"status": "shipped"}).status_code == 404
    review = deliver(event("checkout.session.completed", checkout_session(items=None))).get_json()
    assert review["order_status"] == "needs_review"
    fixed = owner_api.post(f"/api/owner/orders/{review['order_id']}/status", {"status": "paid"})
    assert fixed.status_code == 200 and fixed.get_json()["status"] == "paid"
    assert [o["id"] for o in owner_api.get("/api/owner/orders?status=needs_review").get_json()["orders"]] == []


# -- ledger ----------------------------------------------------------------------


def test_ledger_filters_pages_and_replays(shop, paid, owner_api):
    shop.inventory.initialize("chapter-i", {"balm-tee/M": 4, "balm-tee/L": 2})
    shop.inventory.adjust("chapter-i", {"balm-tee/M": 3}, note="found in the studio")
    paid(5)  # five of balm-tee/M: the fifth is short of nothing (7 on hand)
    entries, calls = owner_api.pages("/api/owner/ledger", "entries", sku="balm-tee/M", limit=2)
    assert calls == 4  # seven entries, two a page
    assert [e["reason"] for e in entries] == ["order_commit"] * 5 + ["adjust", "initialize"]
    assert sum(e["delta"] for e in entries) == entries[0]["on_hand"] == 2
    first = entries[-1]
    assert set(first) == {
        "id",
        "at",
        "chapter",
        "sku",
        "reason",
        "delta",
        "on_hand",
        "held_delta",
        "held",
        "ref",
        "actor",
        "note",
    }
    commits = owner_api.get("/api/owner/ledger?reason=order_commit").get_json()["entries"]
    assert len(commits) == 5 and all(e["actor"] == "stripe" for e in commits)


@pytest.mark.parametrize(
    "query",
    [
        "sku=nope/M",
        "reason=stolen",
        "limit=501",
        "limit=0",
        "limit=%D9%A1",  # an Arabic-Indic one: a digit to int(), but not what the API documents
        pytest.param("limit=" + "1" * 5000, id="limit=5000-digits"),
        "cursor=!!",
        "sku=",
    ],
)
def test_bad_ledger_queries_are_400(query, owner_api):
    assert owner_api.get(f"/api/owner/ledger?{query}").status_code == 400


def test_ledger_filter_across_a_long_ledger(shop, owner_api):
    """The filter scans a bounded number of entries per call; pages still find every match."""
    shop.inventory.initialize("chapter-i", {"balm-tee/M": 0})
    for _ in range(60):
        shop.inventory.adjust("chapter-i", {"balm-tee/L": 1})
    shop.store.ledger_scan = 25  # each call reads at most 25 entries of the 61
    found, calls = owner_api.pages("/api/owner/ledger", "entries", sku="balm-tee/M")
    assert [e["reason"] for e in found] == ["initialize"]
    assert calls == 3  # 25 + 25 + 11 entries read, one match


# -- health ------------------------------------------------------------------------


def test_health_shape(owner_api):
    report = owner_api.get("/api/owner/health").get_json()
    assert isinstance(report["ok"], bool)
    for check in report["checks"]:
        assert set(check) == {"name", "level", "ok", "detail", "fix"}
        assert check["level"] in ("ok", "warn", "fail") and check["ok"] == (check["level"] != "fail")
    assert report["ok"] == all(c["level"] != "fail" for c in report["checks"])
    levels = {c["name"]: c["level"] for c in report["checks"]}
    assert levels["chapter:chapter-i"] == "warn"  # uninitialized is a warning, not a failure
    assert levels["webhook_secret"] == "ok" and levels["store"] == "ok"


def test_health_fails_without_webhook_secret(make_app):
    report = OwnerAPI(make_app(STRIPE_WEBHOOK_SECRET="").test_client()).json("/api/owner/health")
    assert report["ok"] is False
    assert next(c for c in report["checks"] if c["name"] == "webhook_secret")["level"] == "fail"


def test_health_counts_deliveries_and_shows_latest_refusals(client, shop, deliver, owner_api):
    shop.inventory.initialize("chapter-i", {"balm-tee/M": 5})
    evt = event("checkout.session.completed", checkout_session(items="balm-tee/M"))
    deliver(evt)
    deliver(evt)
    deliver(event("customer.created", {"id": "cus_1"}))
    client.post("/api/webhooks/stripe", data=b"{}", headers={"Stripe-Signature": "t=1,v1=00"})
    checks = {c["name"]: c for c in owner_api.get("/api/owner/health").get_json()["checks"]}
    assert "today: 1 applied, 1 duplicate, 1 ignored, 1 rejected" in checks["events"]["detail"]
    assert checks["events"]["level"] == "warn" and "STRIPE_WEBHOOK_SECRET" in checks["events"]["fix"]
    assert checks["webhook_errors"]["level"] == "warn" and "signature refused" in checks["webhook_errors"]["detail"]
    assert checks["last_event"]["level"] == "ok" and "customer.created" in checks["last_event"]["detail"]


def test_an_empty_order_id_is_a_json_404_not_a_redirect(client, owner_api):
    for method, path in (("post", "/api/owner/orders//status"), ("get", "/api/owner/orders//")):
        response = getattr(client, method)(path, json={"status": "shipped"}, headers=owner_api.headers)
        assert response.status_code == 404, (path, response.status_code)
        assert response.is_json and response.get_json()["error"]
