"""Many deliveries at once against gunicorn with several worker processes and threads.

Runs on one redis-server and on the three-master Redis Cluster (where every worker thread shares a
cluster client); the embedded and Upstash backends run the same scripts through the in-process suites,
and a gunicorn per backend costs seconds each.
"""

from __future__ import annotations

import random
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from tests.conftest import OWNER_PASSWORD
from tests.live_server import busy_server
from tests.stripe_factory import checkout_session, event, signed

OWNER = {"Authorization": f"Bearer {OWNER_PASSWORD}"}

# One gunicorn per backend, kept for the module's tests.
pytestmark = pytest.mark.backends("redis", "cluster", scope="module")


@pytest.fixture(scope="module")
def server(backend, request, stripe_stub):
    store = request.getfixturevalue("redis_cluster" if backend == "cluster" else "redis_server")
    with busy_server(store.url, stripe_stub) as live:
        yield live


@pytest.fixture
def live(server, redis_client, stub):
    redis_client.flushall()
    return server


def on_hand(live, sku):
    stock = requests.get(live.url + "/api/owner/stock", headers=OWNER, timeout=10).json()
    return next(r for c in stock["chapters"] for r in c["skus"] if r["sku"] == sku)["on_hand"]


def test_gunicorn_serves_the_app(live):
    assert requests.get(live.url + "/", timeout=5).status_code == 200


def test_last_units_many_sessions_many_deliveries(live):
    stock = 10
    sessions = 40
    live.initialize_stock("chapter-i", {"balm-tee/M": stock})
    catalog = [checkout_session(items="balm-tee/M") for _ in range(sessions)]
    deliveries = []
    for session in catalog:
        completed = event("checkout.session.completed", session)
        succeeded = event("checkout.session.async_payment_succeeded", session)
        deliveries += [(session["id"], completed), (session["id"], completed), (session["id"], succeeded)]
    random.Random(7).shuffle(deliveries)
    answers: dict[str, list[str]] = {s["id"]: [] for s in catalog}
    lock = threading.Lock()
    seen_stock: list[int] = []
    stop = threading.Event()

    def deliver(item):
        session_id, evt = item
        body, headers = signed(evt)  # every delivery is signed anew, like Stripe's retries
        response = requests.post(live.url + "/api/webhooks/stripe", data=body, headers=headers, timeout=30)
        assert response.status_code == 200, response.text
        with lock:
            answers[session_id].append(response.json()["status"])

    def watch():
        while not stop.is_set():
            seen_stock.append(on_hand(live, "balm-tee/M"))

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        with ThreadPoolExecutor(max_workers=16) as pool:
            list(pool.map(deliver, deliveries))
    finally:
        stop.set()
        watcher.join(timeout=30)

    assert min(seen_stock) >= 0
    assert on_hand(live, "balm-tee/M") == 0
    orders = []
    cursor = None
    while True:
        page = requests.get(
            live.url + "/api/owner/orders",
            params={"limit": 200, **({"cursor": cursor} if cursor else {})},
            headers=OWNER,
            timeout=10,
        ).json()
        orders += page["orders"]
        cursor = page["next_cursor"]
        if not cursor:
            break
    by_session = {}
    for order in orders:
        by_session.setdefault(order["stripe"]["session_id"], []).append(order)
    assert set(by_session) == set(answers)
    assert all(len(o) == 1 and o[0]["status"] == "paid" for o in by_session.values())
    assert all(statuses.count("applied") == 1 and len(statuses) == 3 for statuses in answers.values())
    oversold = sum(o["oversold"][0]["quantity"] for o in orders if o["oversold"])
    assert oversold == sessions - stock
    assert sum(1 for o in orders if "oversold" in o["flags"]) == sessions - stock
    ledger = requests.get(
        live.url + "/api/owner/ledger", params={"sku": "balm-tee/M", "limit": 500}, headers=OWNER, timeout=10
    ).json()["entries"]
    assert sum(e["delta"] for e in ledger) == 0  # replay: initialize +10, ten sales -1
    assert sum(1 for e in ledger if e["reason"] == "order_commit") == sessions


def test_thirty_checkouts_for_ten_units(live, stub):
    """Two shoppers can never both hold the last unit: exactly ten of thirty checkouts start."""
    live.initialize_stock("chapter-i", {"harbour-shirt/S": 10})
    barrier = threading.Barrier(30)

    def checkout(_):
        barrier.wait(timeout=30)
        return requests.post(
            live.url + "/api/checkout", json={"items": [{"sku": "harbour-shirt/S", "quantity": 1}]}, timeout=30
        )

    with ThreadPoolExecutor(max_workers=30) as pool:
        responses = list(pool.map(checkout, range(30)))
    codes = sorted(r.status_code for r in responses)
    assert codes.count(201) == 10 and codes.count(409) == 20, [r.text for r in responses if r.status_code >= 500]
    assert all(
        r.json()["skus"] == [{"sku": "harbour-shirt/S", "requested": 1, "available": 0}]
        for r in responses
        if r.status_code == 409
    )
    row = next(
        r
        for c in requests.get(live.url + "/api/owner/stock", headers=OWNER, timeout=10).json()["chapters"]
        for r in c["skus"]
        if r["sku"] == "harbour-shirt/S"
    )
    assert (row["on_hand"], row["held"], row["available"]) == (10, 10, 0)
    started = {r.json()["session_id"] for r in responses if r.status_code == 201}
    assert len(started) == 10 and started <= set(stub.sessions)
