"""Generated hostile input: never a 5xx while the store is up, never a change without a signature or the password.

On redis only: hundreds of generated requests per test; the handlers they reach run on every backend in
the webhook, owner API and checkout suites.
"""

from __future__ import annotations

import base64
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


@pytest.fixture
def owner_api_and_pages(client, owner_headers):
    """A client that is logged in to Owner Mode and sends the owner's token."""
    from tests.test_owner_mode import csrf

    client.post("/owner/login", data={"password": owner_headers["Authorization"][7:], "csrf_token": csrf(client)})
    client.environ_base["HTTP_AUTHORIZATION"] = owner_headers["Authorization"]
    return client


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


# -- nesting depth, cursors, headers (SPEC section 8: no 5xx because of a request) -------------------------


def nested(depth: int, kind: str, leaf: bytes = b"1") -> bytes:
    if kind == "array":
        return b"[" * depth + leaf + b"]" * depth
    return b'{"a":' * depth + leaf + b"}" * depth


@FUZZ
@given(depth=st.integers(min_value=1, max_value=40_000), kind=st.sampled_from(["array", "object"]))
def test_nested_json_is_never_a_5xx(client, redis_client, stocked, depth, kind):
    before = domain(store_snapshot(redis_client))
    body = nested(depth, kind)
    checkout = client.post("/api/checkout", data=body, headers={"Content-Type": "application/json"})
    assert checkout.status_code == 400, checkout.get_data(as_text=True)
    assert "error" in checkout.get_json()
    webhook = client.post("/api/webhooks/stripe", data=body, headers={"Stripe-Signature": sign(body)})
    assert webhook.status_code in (200, 400), webhook.get_data(as_text=True)
    # Deep inside a real event (metadata, customer details): applied or refused, never a crash.
    session = checkout_session(items="balm-tee/M")
    session["metadata"] = {"order_id": "DEEP"}
    text = json.dumps(event("checkout.session.completed", session)).replace('"DEEP"', nested(depth, kind).decode())
    signed_event = client.post("/api/webhooks/stripe", data=text, headers={"Stripe-Signature": sign(text)})
    assert signed_event.status_code in (200, 400), signed_event.get_data(as_text=True)
    if signed_event.status_code == 400:
        assert "nested too deeply" in signed_event.get_json()["error"]
    if webhook.status_code == 400 and signed_event.status_code == 400:
        assert domain(store_snapshot(redis_client)) == before
    stock_is_sane(redis_client)


@FUZZ
@given(
    position=st.one_of(
        st.binary(max_size=48),
        st.builds(
            lambda ms, seq: f"{ms}-{seq}".encode(),
            st.integers(min_value=0, max_value=2**70),
            st.integers(min_value=0, max_value=2**70),
        ),
        st.builds(lambda ms, oid: f"{ms:015d}|{oid}".encode(), st.integers(0, 10**15 - 1), st.text(max_size=70)),
        st.sampled_from([b"0-0", b"0-1", b"18446744073709551615-18446744073709551615", b"000000000000000|x"]),
    ),
    path=st.sampled_from(["/api/owner/orders", "/api/owner/ledger", "/owner/orders", "/owner/ledger"]),
    raw=st.booleans(),
)
def test_any_cursor_is_a_page_or_a_400(owner_api_and_pages, stocked, position, path, raw):
    cursor = position.decode("latin-1") if raw else base64.urlsafe_b64encode(position).decode().rstrip("=")
    response = owner_api_and_pages.get(path, query_string={"cursor": cursor})
    assert response.status_code in (200, 400), response.get_data(as_text=True)


HEADER_NAMES = [
    "Host",
    "Content-Type",
    "Content-Encoding",
    "Transfer-Encoding",
    "Cookie",
    "Authorization",
    "Origin",
    "Referer",
    "Sec-Fetch-Site",
    "Idempotency-Key",
    "X-Forwarded-For",
    "X-Forwarded-Proto",
    "X-Forwarded-Host",
    "Accept",
    "Accept-Encoding",
    "If-None-Match",
    "If-Modified-Since",
    "Range",
    "Stripe-Signature",
    "X-Custom",
]
header_values = st.one_of(
    st.text(st.characters(min_codepoint=32, max_codepoint=255, blacklist_characters="\x7f"), max_size=120),
    st.sampled_from(
        [
            "",
            " ",
            "Bearer ",
            "Bearer owner-test-password",
            "session=..;",
            "session=" + "A" * 5000,
            "application/json; charset=utf-16",
            "gzip",
            "chunked",
            "evil.example",
            "[::1]:99999",
            "127.0.0.1:0",
            "null",
            "same-origin",
            "cross-site",
            "1.2.3.4, , ,",
            "bytes=0-0",
            "t=1,v1=",
        ]
    ),
)
REQUESTS = [
    ("GET", "/"),
    ("GET", "/cart"),
    ("GET", "/products/balm-tee"),
    ("GET", "/checkout/success?session_id=cs_test_x"),
    ("GET", "/checkout/cancel?order_id=ord_x"),
    ("GET", "/owner/"),
    ("GET", "/owner/login"),
    ("POST", "/owner/login"),
    ("POST", "/api/checkout"),
    ("POST", "/api/webhooks/stripe"),
    ("GET", "/api/owner/stock"),
    ("POST", "/api/owner/stock/chapter-i/adjust"),
    ("GET", "/api/openapi.json"),
]


@FUZZ
@given(
    request=st.sampled_from(REQUESTS),
    headers=st.dictionaries(st.sampled_from(HEADER_NAMES), header_values, max_size=5),
)
def test_odd_headers_are_never_a_5xx(client, redis_client, stocked, request, headers):
    method, path = request
    before = domain(store_snapshot(redis_client))
    body = b'{"items": [{"sku": "balm-tee/M", "quantity": 1}], "delta": {"balm-tee/M": -1}}'
    response = client.open(path, method=method, data=body, headers=headers)
    # No Stripe key in this app: what must ask Stripe answers 503 (checkout is closed: not configured) or 502
    # (the success page cannot ask Stripe), the only 5xx a request may meet here.
    allowed_5xx = (502, 503) if path.startswith(("/api/checkout", "/checkout/success")) else ()
    assert response.status_code < 500 or response.status_code in allowed_5xx, (
        response.status_code,
        response.get_data(as_text=True)[:300],
    )
    if response.status_code >= 400 and path.startswith("/api/owner"):
        assert domain(store_snapshot(redis_client)) == before
    stock_is_sane(redis_client)
