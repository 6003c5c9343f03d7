"""POST /api/webhooks/stripe, row by row of SPEC section 4, on a real redis-server."""

from __future__ import annotations

import io
import json
import time

import pytest

from tests.stripe_factory import ADDRESS, OTHER_SECRET, WEBHOOK_SECRET, checkout_session, event, sign, signed

# The whole module runs on each store backend (tests/conftest.py ALL_BACKENDS).
pytestmark = pytest.mark.backends()


URL = "/api/webhooks/stripe"


def store_snapshot(redis_client) -> dict:
    """Every key and its full value: to prove a request changed nothing."""
    snap = {}
    for key in sorted(redis_client.keys("*")):
        kind = redis_client.type(key)
        if kind == "string":
            snap[key] = redis_client.get(key)
        elif kind == "hash":
            snap[key] = redis_client.hgetall(key)
        elif kind == "zset":
            snap[key] = redis_client.zrange(key, 0, -1, withscores=True)
        elif kind == "stream":
            snap[key] = redis_client.xrange(key)
        else:
            snap[key] = kind
    return snap


def assert_only_rejection_counted(before: dict, after: dict) -> None:
    """A refused signature changes nothing but the day's counter of refusals and the capped list of the latest
    ones (both shown to the owner)."""
    changed = {k for k in set(before) | set(after) if before.get(k) != after.get(k)} - {"{shop}:webhook:errors"}
    assert all(":stats:day:" in k for k in changed), changed
    for k in changed:
        diff = {f for f in set(before.get(k) or {}) | set(after[k]) if (before.get(k) or {}).get(f) != after[k].get(f)}
        assert diff == {"signature|rejected"}, diff


@pytest.fixture
def stocked(shop):
    shop.inventory.initialize("chapter-i", {"balm-tee/M": 5, "balm-tee/L": 1})
    return shop


def on_hand(shop, sku):
    for chapter in shop.inventory.snapshot():
        for row in chapter["skus"]:
            if row["sku"] == sku:
                return row["on_hand"]
    raise KeyError(sku)


# -- refused before anything is read -----------------------------------------


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"])
def test_other_methods_are_405(client, redis_client, method):
    before = store_snapshot(redis_client)
    response = client.open(URL, method=method)
    assert response.status_code == 405
    if method != "HEAD":
        assert "POST" in response.get_json()["error"] or "does not take" in response.get_json()["error"]
    assert store_snapshot(redis_client) == before


def test_body_over_one_mib_is_413(client, redis_client):
    before = store_snapshot(redis_client)
    body = b"x" * (1024 * 1024 + 1)
    response = client.post(URL, data=body, headers={"Stripe-Signature": sign(body)})
    assert response.status_code == 413
    assert response.get_json()["error"] == "the body is too large"
    assert store_snapshot(redis_client) == before


def test_chunked_body_over_one_mib_is_413(client, redis_client):
    before = store_snapshot(redis_client)

    # No Content-Length: the server only learns the size by reading (as with a chunked body).
    response = client.post(
        URL,
        input_stream=io.BytesIO(b"y" * (1100 * 1024)),
        headers={"Transfer-Encoding": "chunked", "Stripe-Signature": "t=1,v1=00"},
        environ_overrides={"wsgi.input_terminated": True},
    )
    assert response.status_code == 413
    assert response.get_json()["error"] == "the body is too large"
    assert store_snapshot(redis_client) == before


def test_body_of_exactly_one_mib_is_not_413(client):
    body = b" " * (1024 * 1024)
    response = client.post(URL, data=body, headers={"Stripe-Signature": sign(body)})
    assert response.status_code == 400  # signed, but not JSON
    assert response.get_json()["error"] == "the body is not JSON; send the event exactly as Stripe signed it"


def test_no_secret_configured_is_503(make_app, redis_client):
    client = make_app(STRIPE_WEBHOOK_SECRET="").test_client()
    body, headers = signed(event("checkout.session.completed", checkout_session(items="balm-tee/M")))
    before = store_snapshot(redis_client)
    response = client.post(URL, data=body, headers=headers)
    assert response.status_code == 503
    assert response.get_json()["error"].startswith("set STRIPE_WEBHOOK_SECRET")
    assert store_snapshot(redis_client) == before


# -- signatures ----------------------------------------------------------------


def completed(items="balm-tee/M*2", **kwargs):
    return event("checkout.session.completed", checkout_session(items=items, **kwargs))


def assert_refused(client, redis_client, body: bytes, headers: dict, *, no_header: bool = False) -> None:
    """A delivery whose signature does not hold: 400 with a message, and nothing but the refusal counted."""
    before = store_snapshot(redis_client)
    response = client.post(URL, data=body, headers={"Content-Type": "application/json", **headers})
    assert response.status_code == 400
    if no_header:
        assert response.get_json()["error"] == "no Stripe-Signature header: only Stripe's signed events are accepted"
    else:
        assert response.get_json()["error"].startswith(
            "the Stripe-Signature does not match this body, or it is older than 5 minutes: check that "
            "STRIPE_WEBHOOK_SECRET is this endpoint's signing secret"
        )
    assert_only_rejection_counted(before, store_snapshot(redis_client))


def completed_body() -> bytes:
    return json.dumps(completed()).encode()


def test_no_signature_header_is_refused(client, redis_client, stocked):
    assert_refused(client, redis_client, completed_body(), {}, no_header=True)


def test_an_empty_signature_header_is_refused(client, redis_client, stocked):
    assert_refused(client, redis_client, completed_body(), {"Stripe-Signature": ""}, no_header=True)


def test_a_garbage_signature_header_is_refused(client, redis_client, stocked):
    assert_refused(client, redis_client, completed_body(), {"Stripe-Signature": "not a signature \x00 at all"})


def test_a_signature_by_another_secret_is_refused(client, redis_client, stocked):
    body = completed_body()
    assert_refused(client, redis_client, body, {"Stripe-Signature": sign(body, "whsec_someone_else")})


def test_a_signature_older_than_the_tolerance_is_refused(client, redis_client, stocked):
    body = completed_body()
    stale = sign(body, WEBHOOK_SECRET, timestamp=int(time.time()) - 301)
    assert_refused(client, redis_client, body, {"Stripe-Signature": stale})


def test_a_body_changed_after_signing_is_refused(client, redis_client, stocked):
    body = completed_body()
    header = sign(body)
    assert_refused(client, redis_client, body.replace(b"balm-tee/M*2", b"balm-tee/M*3"), {"Stripe-Signature": header})


def test_a_v0_signature_alone_is_refused(client, redis_client, stocked):
    body = completed_body()
    assert_refused(client, redis_client, body, {"Stripe-Signature": sign(body).replace("v1=", "v0=")})


def test_a_signature_without_its_timestamp_is_refused(client, redis_client, stocked):
    body = completed_body()
    assert_refused(client, redis_client, body, {"Stripe-Signature": sign(body).split(",", 1)[1]})


def test_signature_just_inside_tolerance_and_future_skew_are_accepted(deliver, stocked):
    assert deliver(completed(items="balm-tee/M"), timestamp=int(time.time()) - 290).get_json()["status"] == "applied"
    assert deliver(completed(items="balm-tee/M"), timestamp=int(time.time()) + 600).get_json()["status"] == "applied"
    assert on_hand(stocked, "balm-tee/M") == 3


def test_second_configured_secret_is_accepted(make_app, redis_client):
    app = make_app(STRIPE_WEBHOOK_SECRET=f"{WEBHOOK_SECRET}, {OTHER_SECRET}")
    app.extensions["shop"].inventory.initialize("chapter-i", {"balm-tee/M": 5})
    body, headers = signed(completed(), secret=OTHER_SECRET)
    response = app.test_client().post(URL, data=body, headers=headers)
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["status"] == "applied"


def test_header_with_signatures_of_two_secrets_is_accepted(deliver, client, stocked):
    body = json.dumps(completed()).encode()
    ours = sign(body)
    t = ours.split(",")[0]
    other = sign(body, OTHER_SECRET, timestamp=int(t[2:])).split(",")[1]
    response = client.post(URL, data=body, headers={"Stripe-Signature": f"{t},{other},{ours.split(',')[1]}"})
    assert response.status_code == 200 and response.get_json()["status"] == "applied"
    assert on_hand(stocked, "balm-tee/M") == 3


# -- JSON and envelope ---------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[1, 2]",
        b'"evt"',
        b"{}",
        b'{"id": "evt_1"}',
        b'{"type": "checkout.session.completed"}',
        b'{"id": 5, "type": "x"}',
        b'{"id": "evt 1 with spaces", "type": "x"}',
        b'{"id": "evt_1", "type": ""}',
        '{"id": "evt_\u00e9", "type": "x"}'.encode(),
        b"\xff\xfe",
    ],
)
def test_signed_bodies_that_are_not_events_are_400(client, redis_client, body):
    before = store_snapshot(redis_client)
    header = sign(body.decode("utf-8", "replace")) if body != b"\xff\xfe" else "t=1,v1=ab"
    response = client.post(URL, data=body, headers={"Stripe-Signature": header})
    assert response.status_code == 400
    if body != b"\xff\xfe":  # signed: the answer says what is wrong with the body
        assert response.get_json()["error"].endswith("; send the event exactly as Stripe signed it")
    assert_only_rejection_counted(before, store_snapshot(redis_client))


# -- handled events --------------------------------------------------------------


def test_completed_paid_session_becomes_an_order_and_takes_stock(deliver, shop, stocked, owner_headers, client):
    session = checkout_session(items="balm-tee/M*2, balm-tee/L", amount_subtotal=13500)
    response = deliver(event("checkout.session.completed", session))
    assert response.status_code == 200
    answer = response.get_json()
    assert answer["status"] == "applied"
    assert on_hand(shop, "balm-tee/M") == 3
    assert on_hand(shop, "balm-tee/L") == 0
    order = client.get(f"/api/owner/orders/{answer['order_id']}", headers=owner_headers).get_json()
    assert order["status"] == "paid"
    assert [(i["sku"], i["quantity"], i["stock_tracked"]) for i in order["items"]] == [
        ("balm-tee/M", 2, True),
        ("balm-tee/L", 1, True),
    ]
    assert order["customer"] == {"email": "ada@example.com", "name": "Ada Lovelace"}
    assert order["shipping"] == {"name": "Ada Lovelace", "address": ADDRESS}
    assert order["stripe"]["session_id"] == session["id"]
    assert order["stripe"]["payment_intent"] == session["payment_intent"]
    assert order["oversold"] == [] and order["flags"] == []
    assert order["currency"] == "eur"
    entries = client.get("/api/owner/ledger?reason=order_commit", headers=owner_headers).get_json()["entries"]
    assert sorted((e["sku"], e["delta"], e["ref"]) for e in entries) == [
        ("balm-tee/L", -1, answer["order_id"]),
        ("balm-tee/M", -2, answer["order_id"]),
    ]


def test_numbers_beyond_64_bits_do_not_turn_a_signed_event_away(deliver, shop, stocked, client, owner_headers):
    """JSON has no integer limit; an amount no payment can have is left out, the sale still counts."""
    session = checkout_session(items="balm-tee/M", amount_total=10**30)
    session["metadata"]["note"] = -(2**70)
    answer = deliver(event("checkout.session.completed", session)).get_json()
    assert answer["status"] == "applied"
    assert on_hand(shop, "balm-tee/M") == 4
    order = client.get(f"/api/owner/orders/{answer['order_id']}", headers=owner_headers).get_json()
    assert order["amount_total"] == order["amount_expected"] == 4500


def test_what_only_lenient_json_reads_still_makes_an_order(client, shop, stocked, owner_headers):
    """Half an emoji in the customer's name and a NaN the shop never reads: the sale counts, the text is kept."""
    session = checkout_session(items="balm-tee/M", name="Ada \ud83d Lovelace")
    body = json.dumps(event("checkout.session.completed", session)).replace('"livemode": false', '"livemode": NaN')
    assert "\\ud83d" in body and "NaN" in body
    answer = client.post(URL, data=body, headers={"Stripe-Signature": sign(body)}).get_json()
    assert answer["status"] == "applied"
    assert on_hand(shop, "balm-tee/M") == 4
    order = client.get(f"/api/owner/orders/{answer['order_id']}", headers=owner_headers).get_json()
    assert order["customer"]["name"] == "Ada ? Lovelace"


def test_same_event_twice_is_duplicate(deliver, shop, stocked, redis_client):
    evt = completed()
    assert deliver(evt).get_json()["status"] == "applied"
    before = {
        k: v for k, v in store_snapshot(redis_client).items() if ":stats:" not in k and not k.endswith(":webhook")
    }
    again = deliver(evt)  # a retry: same event, new signature
    assert again.status_code == 200
    assert again.get_json()["status"] == "duplicate"
    after = {k: v for k, v in store_snapshot(redis_client).items() if ":stats:" not in k and not k.endswith(":webhook")}
    assert after == before
    assert on_hand(shop, "balm-tee/M") == 3


def test_completed_and_async_succeeded_fulfil_once(deliver, shop, stocked):
    session = checkout_session(items="balm-tee/M*2")
    first = deliver(event("checkout.session.async_payment_succeeded", session))
    second = deliver(event("checkout.session.completed", session))
    assert first.get_json()["status"] == "applied"
    assert second.get_json()["status"] == "duplicate"
    assert on_hand(shop, "balm-tee/M") == 3


def unpaid_order(deliver, shop, owner_api, kind: str, session: dict, status: str) -> dict:
    """Deliver a ``kind`` event of the unpaid ``session``: applied, its order in ``status``, no balm-tee/M taken."""
    answer = deliver(event(kind, session)).get_json()
    assert answer["status"] == "applied" and answer["order_status"] == status
    assert on_hand(shop, "balm-tee/M") == 5
    order = owner_api.json(f"/api/owner/orders/{answer['order_id']}")
    assert [i["stock_tracked"] for i in order["items"]] == [False]  # nothing held or taken yet
    return answer


def test_unpaid_completed_awaits_payment_then_async_success_fulfils(deliver, stocked, owner_api):
    session = checkout_session(items="balm-tee/M", payment_status="unpaid")
    r1 = unpaid_order(deliver, stocked, owner_api, "checkout.session.completed", session, "awaiting_payment")
    r2 = deliver(event("checkout.session.async_payment_succeeded", {**session, "payment_status": "paid"})).get_json()
    assert r2["status"] == "applied" and r2["order_status"] == "paid"
    assert on_hand(stocked, "balm-tee/M") == 4
    order = owner_api.json(f"/api/owner/orders/{r1['order_id']}")
    assert len(order["stripe"]["event_ids"]) == 2
    assert [i["stock_tracked"] for i in order["items"]] == [True]


def test_async_failed_without_order_records_payment_failed(deliver, stocked, owner_api):
    session = checkout_session(items="balm-tee/M", payment_status="unpaid")
    unpaid_order(deliver, stocked, owner_api, "checkout.session.async_payment_failed", session, "payment_failed")
    # A later completion of the same session cannot move it backwards.
    late = deliver(event("checkout.session.completed", session)).get_json()
    assert late["status"] == "duplicate"


def test_expired_for_unknown_session_is_ignored(deliver, redis_client):
    answer = deliver(event("checkout.session.expired", checkout_session(payment_status="unpaid")))
    assert answer.status_code == 200
    assert answer.get_json()["status"] == "ignored"
    assert not redis_client.keys("{shop}:order:*")


def test_expired_after_paid_is_duplicate(deliver, stocked):
    session = checkout_session(items="balm-tee/M")
    assert deliver(event("checkout.session.completed", session)).get_json()["status"] == "applied"
    assert deliver(event("checkout.session.expired", session)).get_json()["status"] == "duplicate"


def test_unhandled_type_is_ignored_with_only_a_counter(deliver, redis_client):
    before = store_snapshot(redis_client)
    answer = deliver(event("customer.created", {"id": "cus_1", "object": "customer"}))
    assert answer.status_code == 200 and answer.get_json()["status"] == "ignored"
    changed = {k for k, v in store_snapshot(redis_client).items() if before.get(k) != v}
    assert changed and all(":stats:" in k or k.endswith(":webhook") for k in changed)


def test_uninitialized_chapter_is_saved_untracked(deliver, shop, client, owner_headers, redis_client):
    answer = deliver(completed(items="wool-coat/M")).get_json()
    order = client.get(f"/api/owner/orders/{answer['order_id']}", headers=owner_headers).get_json()
    assert order["status"] == "paid"
    assert order["items"][0]["stock_tracked"] is False
    assert "untracked_chapter" in order["flags"]
    assert redis_client.hget("{shop}:stock", "wool-coat/M") is None
    assert redis_client.xlen("{shop}:ledger") == 0


def test_too_little_stock_is_oversold_never_negative(deliver, shop, stocked, client, owner_headers):
    answer = deliver(completed(items="balm-tee/L*3")).get_json()
    order = client.get(f"/api/owner/orders/{answer['order_id']}", headers=owner_headers).get_json()
    assert order["status"] == "paid"
    assert order["oversold"] == [{"sku": "balm-tee/L", "quantity": 2}]
    assert "oversold" in order["flags"]
    assert on_hand(shop, "balm-tee/L") == 0
    entries = client.get("/api/owner/ledger?sku=balm-tee/L&reason=order_commit", headers=owner_headers).get_json()
    assert [e["delta"] for e in entries["entries"]] == [-1]


@pytest.mark.parametrize(
    "items",
    [
        None,
        "",
        "nope/XL*2",
        "balm-tee/M*0",
        "balm-tee/M*1000",
        "balm-tee/M*-1",
        "balm-tee/M**2",
        ",",
        "balm-tee/M*2,,",
        "\u00e9t\u00e9/M",
    ],
)
def test_unreadable_items_without_api_key_need_review(deliver, shop, stocked, client, owner_headers, items):
    answer = deliver(completed(items=items)).get_json()
    assert answer["status"] == "applied" and answer["order_status"] == "needs_review"
    order = client.get(f"/api/owner/orders/{answer['order_id']}", headers=owner_headers).get_json()
    assert order["review_reason"]
    assert order["items"] == []
    assert on_hand(shop, "balm-tee/M") == 5


def test_metadata_items_are_trimmed_and_summed(deliver, shop, stocked):
    deliver(completed(items=" balm-tee/M * 2 ,balm-tee/M,balm-tee/L "))
    assert on_hand(shop, "balm-tee/M") == 2
    assert on_hand(shop, "balm-tee/L") == 0


def test_store_down_is_503_and_retry_applies_once(make_app):
    from tests.redis_server import RedisServer

    server = RedisServer(appendonly=True).start()
    try:
        app = make_app(REDIS_URL=server.url)
        shop = app.extensions["shop"]
        shop.inventory.initialize("chapter-i", {"balm-tee/M": 5})
        client = app.test_client()
        evt = completed()
        server.kill()
        body, headers = signed(evt)
        down = client.post(URL, data=body, headers=headers)
        assert down.status_code == 503
        assert "retry" in down.get_json()["error"]
        server.start()
        body, headers = signed(evt)
        assert client.post(URL, data=body, headers=headers).get_json()["status"] == "applied"
        body, headers = signed(evt)
        assert client.post(URL, data=body, headers=headers).get_json()["status"] == "duplicate"
        assert on_hand(shop, "balm-tee/M") == 3
    finally:
        server.stop()


def test_production_without_store_is_503_and_accepts_nothing(redis_client):
    from shop import create_app

    app = create_app(
        {
            "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
            "VERCEL": "1",
            "SECRET_KEY": "x" * 32,
            "OWNER_PASSWORD": "owner-passphrase",
            "PUBLIC_URL": "https://shop.example",
        },
        environ={},
    )
    client = app.test_client()
    body, headers = signed(completed())
    response = client.post(URL, data=body, headers=headers)
    assert response.status_code == 503
    assert "KV_REST_API_URL" in response.get_json()["error"] and "REDIS_URL" in response.get_json()["error"]
    owner = client.post(
        "/api/owner/stock/chapter-i/initialize",
        json={"stock": {}},
        headers={"Authorization": "Bearer owner-passphrase"},
    )
    assert owner.status_code == 503 and "REDIS_URL" in owner.get_json()["error"]
