"""The line under concurrency: gunicorn with several worker processes and threads, one redis-server.

200 fans (each a browser that opened a page, each from its own address through TRUSTED_PROXY_HOPS=1) join at
once while polling their place: every join gets its own ticket, none is lost, and the places are exactly
1..200 (arrival rank before the opening).
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pytest
import requests

from tests.conftest import OWNER_PASSWORD
from tests.live_server import busy_server

OWNER = {"Authorization": f"Bearer {OWNER_PASSWORD}"}


@pytest.fixture(scope="module")
def server(redis_server, stripe_stub):
    with busy_server(redis_server.url, stripe_stub, TRUSTED_PROXY_HOPS="1") as live:
        yield live


def release(server, opens_in_seconds: float, queue: dict) -> None:
    """Set Chapter II's release through the owner API: it opens ``opens_in_seconds`` from now, with ``queue``."""
    opens = datetime.fromtimestamp(time.time() + opens_in_seconds, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    requests.post(
        server.url + "/api/owner/chapters/chapter-ii/release",
        json={"opens_at": opens, "queue": queue},
        headers=OWNER,
        timeout=10,
    ).raise_for_status()


def test_200_concurrent_joins_and_polls_get_unique_tickets_and_none_is_lost(server, redis_server):
    redis_server.client().flushall()
    server.initialize_stock("chapter-ii", {"wool-coat/M": 5, "ridge-knit/M": 20})
    release(server, 3600, {"starts_minutes_before": 120, "admit_per_minute": 60, "pass_minutes": 10})
    fans = []
    for i in range(200):
        session = requests.Session()
        session.headers["X-Forwarded-For"] = f"198.51.{i // 100}.{i % 100 + 1}"
        # a connection per request: a kept-alive one the server closed while the machine was busy is not a lost join
        session.headers["Connection"] = "close"
        session.get(server.url + "/", timeout=60).raise_for_status()
        fans.append(session)
    barrier = threading.Barrier(40)

    def fan(i: int) -> tuple[int, int, list[int]]:
        session = fans[i]
        if i < 40:
            barrier.wait(timeout=120)
        joined = session.post(server.url + "/api/queue/chapter-ii/join", timeout=60)
        again = session.post(server.url + "/api/queue/chapter-ii/join", timeout=60)  # a second join: same ticket
        polls = [session.get(server.url + "/api/queue/chapter-ii", timeout=60).json()["position"] for _ in range(2)]
        assert joined.status_code == again.status_code == 200, joined.text
        assert joined.json()["state"] == again.json()["state"] == "waiting"
        return joined.json()["position"], again.json()["position"], polls

    with ThreadPoolExecutor(max_workers=40) as pool:
        answers = list(pool.map(fan, range(200)))
    final = [f.get(server.url + "/api/queue/chapter-ii", timeout=60).json()["position"] for f in fans]
    assert sorted(final) == list(range(1, 201))  # 200 distinct tickets, no join lost, no duplicate
    assert all(1 <= p <= 200 for a in answers for p in [a[0], a[1], *a[2]])
    line = requests.get(server.url + "/api/owner/chapters/chapter-ii/line", headers=OWNER, timeout=10).json()
    # 400 joins, 200 tickets: each second join kept its first ticket
    assert line["tickets"] == 200 and line["waiting"] == 200 and line["refused_address"] == 0
    members = redis_server.client().zcard("{shop}:line:chapter-ii:arrivals")
    assert members == 200


def test_a_join_and_a_look_are_one_store_round_trip_each(server, redis_server):
    redis_server.client().flushall()
    release(server, -1, {"starts_minutes_before": 10, "admit_per_minute": 60000, "pass_minutes": 10})  # admitting
    warm, fan = requests.Session(), requests.Session()
    for session in (warm, fan):
        session.get(server.url + "/", timeout=10)
    warm.post(server.url + "/api/queue/chapter-ii/join", timeout=10)  # loads the script on a fresh server
    answers = []
    assert redis_server.commands_during(
        lambda: answers.append(fan.post(server.url + "/api/queue/chapter-ii/join"))
    ) == ["EVALSHA"]
    assert redis_server.commands_during(lambda: answers.append(fan.get(server.url + "/api/queue/chapter-ii"))) == [
        "EVALSHA"
    ]
    assert answers[1].json()["state"] == "admitted"  # the look that let the fan through, pass included
    assert fan.cookies.get("line_pass_chapter-ii")
