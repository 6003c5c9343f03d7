"""Drop limits under concurrency: gunicorn with several worker processes and threads, one redis-server.

Addresses come from X-Forwarded-For through TRUSTED_PROXY_HOPS=1 (one trusted proxy in front), so
the test can speak as one address or as fifty. Every shopper is a browser with its own cookie.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from tests.conftest import OWNER_PASSWORD
from tests.live_server import busy_server

OWNER = {"Authorization": f"Bearer {OWNER_PASSWORD}"}
# Chapter I: eight SKUs of 20 units, 160 in all.
SKUS = ["balm-tee/S", "balm-tee/M", "balm-tee/L", "balm-tee/XL", "harbour-shirt/S", "harbour-shirt/M"]
SKUS += ["harbour-shirt/L", "tide-tote/OS"]


@pytest.fixture(scope="module")
def server(redis_server, stripe_stub):
    with busy_server(redis_server.url, stripe_stub, TRUSTED_PROXY_HOPS="1", PUBLIC_URL="http://shop.test") as live:
        yield live


@pytest.fixture
def live(server, redis_server, stub):
    redis_server.client().flushall()
    server.initialize_stock("chapter-i", dict.fromkeys(SKUS, 20))
    return server


def held(live) -> dict[str, int]:
    stock = requests.get(live.url + "/api/owner/stock", headers=OWNER, timeout=10).json()["chapters"][0]
    return {r["sku"]: r["held"] for r in stock["skus"]}


def browser(live) -> requests.Session:
    """A shopper: a session that opened the shop and carries its signed cookie."""
    session = requests.Session()
    session.get(live.url + "/", timeout=10).raise_for_status()
    assert session.cookies.get("shopper")
    return session


def storm(live, count: int, address, units: int = 4):
    """``count`` shoppers check out at once, shopper i from address(i), each for ``units`` of one SKU."""
    shoppers = [browser(live) for _ in range(count)]
    barrier = threading.Barrier(count)
    seen_held: list[int] = []
    stop = threading.Event()

    def watch():
        while not stop.is_set():
            seen_held.append(sum(held(live).values()))

    def checkout(i):
        barrier.wait(timeout=30)
        return shoppers[i].post(
            live.url + "/api/checkout",
            json={"items": [{"sku": SKUS[i % len(SKUS)], "quantity": units}]},
            headers={"X-Forwarded-For": address(i)},
            timeout=60,
        )

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        with ThreadPoolExecutor(max_workers=count) as pool:
            answers = list(pool.map(checkout, range(count)))
    finally:
        stop.set()
        watcher.join(timeout=30)
    assert not [a.text for a in answers if a.status_code >= 500]
    return answers, seen_held


def test_one_address_never_holds_more_than_its_cap(live, redis_server, stub):
    answers, seen = storm(live, 50, lambda i: "203.0.113.50")
    codes = [a.status_code for a in answers]
    assert codes.count(201) == 10 and codes.count(409) == 40  # 40 units = the default ADDRESS_MAX_HELD_UNITS
    assert all("at most 40 at once" in a.json()["error"] for a in answers if a.status_code == 409)
    assert max(seen) <= 40
    assert sum(held(live).values()) == 40
    store_held = redis_server.client().hgetall("{shop}:held")
    assert sum(int(v) for v in store_held.values()) == 40
    assert len([r for r in stub.requests if r[1] == "/v1/checkout/sessions"]) == 10


def test_fifty_addresses_hold_the_chapter_fully_and_never_more(live, redis_server):
    answers, seen = storm(live, 50, lambda i: f"198.51.100.{i + 1}")
    codes = [a.status_code for a in answers]
    assert codes.count(201) == 40 and codes.count(409) == 10
    assert all(a.json()["skus"][0]["available"] == 0 for a in answers if a.status_code == 409)
    assert max(seen) <= 160
    assert held(live) == dict.fromkeys(SKUS, 20)
    assert sum(int(v) for v in redis_server.client().hgetall("{shop}:held").values()) == 160


def test_cross_site_and_text_plain_hold_nothing(live):
    shopper = browser(live)
    body = '{"items": [{"sku": "balm-tee/M", "quantity": 4}]}'
    cross = shopper.post(
        live.url + "/api/checkout", data=body, headers={"Content-Type": "text/plain", "Origin": "https://evil.example"}
    )
    assert cross.status_code == 403
    plain = shopper.post(live.url + "/api/checkout", data=body, headers={"Content-Type": "text/plain"})
    assert plain.status_code == 415
    fetch = shopper.post(
        live.url + "/api/checkout",
        data=body,
        headers={"Content-Type": "application/json", "Sec-Fetch-Site": "cross-site"},
    )
    assert fetch.status_code == 403
    assert sum(held(live).values()) == 0


def test_one_checkout_start_is_two_store_round_trips(live, redis_server):
    """The hold (every limit inside it) is one EVALSHA; remembering the Stripe session is the second.

    Counted with MONITOR, which names each command a client sent (a script's own calls say "lua").
    """
    shopper = browser(live)
    warm = shopper.post(  # the first call of a script on a fresh server also loads it (SCRIPT LOAD)
        live.url + "/api/checkout", json={"items": [{"sku": "balm-tee/S", "quantity": 1}]}, timeout=30
    )
    assert warm.status_code == 201
    shopper = browser(live)
    answers = []

    def start():
        answers.append(
            shopper.post(
                live.url + "/api/checkout",
                json={"items": [{"sku": "balm-tee/M", "quantity": 1}]},
                headers={"X-Forwarded-For": "192.0.2.1"},
                timeout=30,
            )
        )

    checkout_commands = redis_server.commands_during(start)
    assert answers[0].status_code == 201
    assert checkout_commands == ["EVALSHA", "EVALSHA"]
