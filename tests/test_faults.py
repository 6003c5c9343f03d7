"""Stripe-like deliveries while redis-server is SIGKILLed and restarted and a gunicorn worker dies mid-request.

Afterwards the store must equal the sequential model: every paid session exactly one order, stock =
initial - sold floored at 0 with the shortfall as oversold, and the ledger replays to the stock.
On one redis-server of its own: the faults are SIGKILLs of that process.
"""

from __future__ import annotations

import os
import random
import signal
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import requests

from tests.conftest import OWNER_PASSWORD
from tests.live_server import LiveServer, shop_env
from tests.redis_server import RedisServer
from tests.stripe_factory import checkout_session, event, signed

OWNER = {"Authorization": f"Bearer {OWNER_PASSWORD}"}
DEADLINE_SECONDS = 90


def deliver_until_accepted(url: str, evt: dict, deadline: float, pace: float) -> tuple[int, str]:
    """Stripe's behaviour: every non-2xx (or no answer) is retried, each time with a new signature."""
    time.sleep(pace)  # spread the deliveries over the time the faults happen in
    attempts = 0
    while time.monotonic() < deadline:
        attempts += 1
        body, headers = signed(evt)
        try:
            response = requests.post(url + "/api/webhooks/stripe", data=body, headers=headers, timeout=10)
            if 200 <= response.status_code < 300:
                return attempts, response.json()["status"]
            assert response.status_code >= 500, (
                f"{response.status_code}: {response.text}"
            )  # never a 4xx for a good event
        except requests.RequestException:
            pass  # connection reset by a dying worker: retry
        time.sleep(min(0.05 * attempts, 0.5))
    raise AssertionError(f"event {evt['id']} was never accepted before the deadline")


def test_deliveries_survive_redis_crashes_and_worker_deaths():
    initial, sessions_count = 12, 24
    redis_server = RedisServer(appendonly=True).start()
    live = LiveServer(
        shop_env(redis_server.url),
        workers=3,
        threads=2,
    ).start()
    try:
        live.initialize_stock("chapter-i", {"balm-tee/M": initial})
        sessions = [checkout_session(items="balm-tee/M") for _ in range(sessions_count)]
        deliveries = []
        for s in sessions:
            completed = event("checkout.session.completed", s)
            deliveries += [completed, completed, event("checkout.session.async_payment_succeeded", s)]
        random.Random(11).shuffle(deliveries)
        deadline = time.monotonic() + DEADLINE_SECONDS
        chaos_done = threading.Event()
        chaos_log = []

        def chaos():
            rng = random.Random(5)
            for round_ in range(3):
                time.sleep(rng.uniform(0.3, 0.6))
                redis_server.kill(signal.SIGKILL)
                chaos_log.append(f"redis killed ({round_ + 1})")
                time.sleep(rng.uniform(0.1, 0.3))
                redis_server.start()
                if round_ == 1:
                    os.kill(live.worker_pids()[0], signal.SIGKILL)
                    chaos_log.append("a gunicorn worker killed")
            chaos_done.set()

        chaos_thread = threading.Thread(target=chaos)
        chaos_thread.start()
        with ThreadPoolExecutor(max_workers=6) as pool:
            results = list(pool.map(lambda e: deliver_until_accepted(live.url, e, deadline, pace=0.25), deliveries))
        chaos_thread.join(timeout=30)
        assert chaos_done.is_set(), chaos_log
        retried = sum(1 for attempts, _ in results if attempts > 1)

        # The sequential model of what must be in the store now.
        sold = sessions_count
        expected_on_hand = max(0, initial - sold)
        expected_oversold = max(0, sold - initial)
        stock = requests.get(live.url + "/api/owner/stock", headers=OWNER, timeout=10).json()
        row = next(r for c in stock["chapters"] for r in c["skus"] if r["sku"] == "balm-tee/M")
        assert (row["on_hand"], row["held"]) == (expected_on_hand, 0)
        orders = requests.get(live.url + "/api/owner/orders", params={"limit": 200}, headers=OWNER, timeout=10).json()
        by_session = {}
        for order in orders["orders"]:
            by_session.setdefault(order["stripe"]["session_id"], []).append(order)
        assert sorted(by_session) == sorted(s["id"] for s in sessions)
        assert all(len(o) == 1 and o[0]["status"] == "paid" for o in by_session.values())
        assert sum(o["oversold"][0]["quantity"] for o in orders["orders"] if o["oversold"]) == expected_oversold
        ledger = requests.get(
            live.url + "/api/owner/ledger", params={"sku": "balm-tee/M", "limit": 500}, headers=OWNER, timeout=10
        ).json()["entries"]
        assert sum(e["delta"] for e in ledger) == row["on_hand"]
        assert sum(1 for e in ledger if e["reason"] == "order_commit") == sessions_count
        # A session is answered "applied" once, unless that answer was lost (worker or Redis killed after the
        # commit): then its retry is a "duplicate". Never applied twice, and a session with no "applied" answer
        # must have had a delivery that was retried.
        applied = Counter()
        retried_sessions = set()
        for evt, (attempts, status) in zip(deliveries, results, strict=True):
            session_id = evt["data"]["object"]["id"]
            applied[session_id] += status == "applied"
            if attempts > 1:
                retried_sessions.add(session_id)
        assert all(applied[s["id"]] <= 1 for s in sessions), applied
        assert {s["id"] for s in sessions if not applied[s["id"]]} <= retried_sessions, (applied, chaos_log)
        assert retried > 0, "the faults never hit a delivery: the test proved nothing"
    finally:
        live.stop()
        redis_server.stop()
