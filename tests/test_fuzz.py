"""Generated hostile input: never a 5xx while the store is up, never a change without a signature or the password.

On redis only: hundreds of generated requests per test; the handlers they reach run on every backend in
the webhook, owner API and checkout suites.
"""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shop.stripe_events import HANDLED_EVENTS
from tests.stripe_factory import checkout_session, event, sign
from tests.test_webhook import assert_only_rejection_counted, store_snapshot

FUZZ = settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
EVENT_TYPES = [*HANDLED_EVENTS, "customer.created"]  # every type the shop handles, and one it does not

# JSON values of every type, including the awkward ones: huge numbers, deep nesting, non-ASCII.
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=40),
    st.sampled_from(
        [
            "balm-tee/M*2",
            "balm-tee/M*0",
            "balm-tee/M*-1",
            "balm-tee/M*99999",
            "nope/XL",
            "wool-coat/M, balm-tee/L*3",
            "ünïcødé/∞*2",
            "*",
            ",,,",
            "paid",
            "unpaid",
            "no_payment_required",
            "ord_x",
            "cs_test_1",
            "pi_1",
            "eur",
        ]
    ),
)
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=12), inner, max_size=4)),
    max_leaves=12,
)
SESSION_FIELDS = [
    "id",
    "payment_status",
    "metadata",
    "client_reference_id",
    "amount_subtotal",
    "amount_total",
    "currency",
    "customer_details",
    "collected_information",
    "shipping_details",
    "payment_intent",
    "customer_email",
    "livemode",
    "status",
]


def domain(snapshot: dict) -> dict:
    """Orders, stock, holds, ledger: what only a signature or the password may change."""
    return {k: v for k, v in snapshot.items() if ":stats:" not in k and not k.endswith((":webhook", ":probe"))}


def stock_is_sane(redis_client):
    stock = {k: int(v) for k, v in redis_client.hgetall("{shop}:stock").items()}
    held = {k: int(v) for k, v in redis_client.hgetall("{shop}:held").items()}
    assert all(v >= 0 for v in stock.values()) and all(v >= 0 for v in held.values())
    replay: dict[str, int] = {}
    for _, entry in redis_client.xrange("{shop}:ledger"):
        replay[entry["sku"]] = replay.get(entry["sku"], 0) + int(entry["delta"])
    assert {k: v for k, v in replay.items() if v or k in stock} == {k: v for k, v in stock.items() if k in replay}


@pytest.fixture
def stocked(shop):
    shop.inventory.initialize("chapter-i", {"balm-tee/M": 3, "balm-tee/L": 1})
    return shop


@FUZZ
@given(
    header=st.one_of(
        st.none(),
        st.text(st.characters(blacklist_characters="\r\n\x00"), max_size=200),
        st.sampled_from(["t=1,v1=", "t=,v1=abc", "v1=00", "t=9" * 50]),
    ),
    body=st.binary(max_size=2000),
)
def test_unsigned_or_badly_signed_bodies_change_nothing(client, redis_client, stocked, header, body):
    before = store_snapshot(redis_client)
    headers = {} if header is None else {"Stripe-Signature": header.encode("utf-8", "ignore").decode("latin-1")}
    response = client.post("/api/webhooks/stripe", data=body, headers=headers)
    assert response.status_code == 400
    assert "error" in response.get_json()
    assert_only_rejection_counted(before, store_snapshot(redis_client))


@FUZZ
@given(
    event_type=st.sampled_from(EVENT_TYPES),
    overrides=st.dictionaries(st.sampled_from(SESSION_FIELDS), json_values, max_size=6),
)
def test_signed_nonsense_is_answered_never_a_crash(client, redis_client, stocked, event_type, overrides):
    session = checkout_session(items="balm-tee/M")
    session.update(overrides)
    body = json.dumps(event(event_type, session)).encode()
    response = client.post("/api/webhooks/stripe", data=body, headers={"Stripe-Signature": sign(body)})
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json()["status"] in ("applied", "duplicate", "ignored")
    if response.get_json().get("order_status"):
        assert response.get_json()["order_status"] in (
            "paid",
            "needs_review",
            "awaiting_payment",
            "payment_failed",
            "expired",
            "refunded",
            "partially_refunded",
        )
    stock_is_sane(redis_client)


@FUZZ
@given(
    envelope=st.one_of(json_values, st.dictionaries(st.sampled_from(["id", "type", "data", "livemode"]), json_values))
)
def test_signed_bodies_that_are_not_events(client, redis_client, stocked, envelope):
    body = json.dumps(envelope).encode()
    before = domain(store_snapshot(redis_client))
    response = client.post("/api/webhooks/stripe", data=body, headers={"Stripe-Signature": sign(body)})
    assert response.status_code in (200, 400), response.get_data(as_text=True)
    if response.status_code == 400:
        assert domain(store_snapshot(redis_client)) == before
    stock_is_sane(redis_client)


OWNER_CALLS = [
    "/api/owner/stock/chapter-i/initialize",
    "/api/owner/stock/chapter-i/set",
    "/api/owner/stock/chapter-i/adjust",
    "/api/owner/stock/chapter-ii/adjust",
    "/api/owner/orders/ord_x/status",
]


@FUZZ
@given(path=st.sampled_from(OWNER_CALLS), body=json_values, authorized=st.booleans())
def test_owner_api_bodies(client, redis_client, stocked, owner_headers, path, body, authorized):
    before = domain(store_snapshot(redis_client))
    response = client.post(path, json=body, headers=owner_headers if authorized else {})
    assert response.status_code < 500, response.get_data(as_text=True)
    if not authorized:
        assert response.status_code == 401
    if response.status_code >= 400:
        assert domain(store_snapshot(redis_client)) == before
    stock_is_sane(redis_client)


@FUZZ
@given(
    body=st.one_of(
        json_values,
        st.fixed_dictionaries(
            {"items": st.lists(st.dictionaries(st.sampled_from(["sku", "quantity"]), json_values), max_size=4)}
        ),
    )
)
def test_checkout_bodies(client, redis_client, stocked, body):
    before = domain(store_snapshot(redis_client))
    response = client.post("/api/checkout", json=body)
    # no Stripe key: 502 when valid; 415 when the client sends no JSON at all (json=None: no Content-Type)
    assert response.status_code in (400, 409, 415, 502), response.get_data(as_text=True)
    if response.status_code in (400, 409, 415):
        assert domain(store_snapshot(redis_client)) == before
    stock_is_sane(redis_client)


@FUZZ
@given(
    query=st.dictionaries(
        st.sampled_from(["status", "limit", "cursor", "sku", "reason"]), st.text(max_size=30), max_size=3
    ),
    path=st.sampled_from(["/api/owner/orders", "/api/owner/ledger"]),
)
def test_owner_queries(client, stocked, owner_headers, query, path):
    response = client.get(path, query_string=query, headers=owner_headers)
    assert response.status_code in (200, 400), response.get_data(as_text=True)
