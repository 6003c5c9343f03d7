"""A redis-server restarted under a multi-worker gunicorn: the next request on every worker succeeds.

Each worker holds pooled connections that the restart closed. Before a pooled connection is used,
redis-py polls it (no round trip) and reconnects one the server closed, so no request pays for an
earlier connection's death (SPEC invariant 11); and in steady state a webhook is still one EVALSHA.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import requests

from tests.conftest import OWNER_PASSWORD
from tests.live_server import LiveServer, shop_env
from tests.redis_server import RedisServer
from tests.stripe_factory import checkout_session, event, signed

OWNER = {"Authorization": f"Bearer {OWNER_PASSWORD}"}
WORKERS = 4
ROUNDS = 3 * WORKERS  # more requests than workers, sent four at a time: every worker gets some


def webhook(url: str) -> requests.Response:
    body, headers = signed(event("checkout.session.completed", checkout_session(items="balm-tee/M")))
    return requests.post(url + "/api/webhooks/stripe", data=body, headers=headers, timeout=10)


def owner_stock(url: str) -> requests.Response:
    return requests.get(url + "/api/owner/stock", headers=OWNER, timeout=10)


def health(url: str) -> requests.Response:
    return requests.get(url + "/api/owner/health", headers=OWNER, timeout=10)


def checkout(url: str) -> requests.Response:
    return requests.post(url + "/api/checkout", json={"items": [{"sku": "harbour-shirt/S", "quantity": 1}]}, timeout=10)


def all_kinds(url: str) -> list[tuple[str, requests.Response]]:
    """ROUNDS of each kind of request, four at a time, so each lands on whichever worker is free."""
    calls = [(name, fn) for _ in range(ROUNDS) for name, fn in KINDS.items()]
    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        return list(pool.map(lambda call: (call[0], call[1](url)), calls))


KINDS = {"webhook": webhook, "owner_stock": owner_stock, "health": health, "checkout": checkout}


def failures(answers: list[tuple[str, requests.Response]]) -> list[str]:
    return [f"{name}: {r.status_code} {r.text[:200]}" for name, r in answers if r.status_code >= 300]


def test_every_request_after_a_store_restart_succeeds(stub):
    redis_server = RedisServer(appendonly=True).start()
    live = LiveServer(
        shop_env(redis_server.url, STRIPE_SECRET_KEY="sk_test_recovery", STRIPE_API_BASE=stub.base),
        workers=WORKERS,
    ).start()
    try:
        live.initialize_stock("chapter-i", {"balm-tee/M": 500, "harbour-shirt/S": 500})
        assert failures(all_kinds(live.url)) == []  # every worker has pooled connections now

        redis_server.stop()  # a clean restart: the server closes every connection
        redis_server.start()

        answers = all_kinds(live.url)
        assert failures(answers) == []
        by_kind = {name: [r.json() for n, r in answers if n == name] for name in KINDS}
        assert [a["status"] for a in by_kind["webhook"]] == ["applied"] * ROUNDS
        assert all(a["session_id"].startswith("cs_") for a in by_kind["checkout"])
        stores = [next(c for c in a["checks"] if c["name"] == "store") for a in by_kind["health"]]
        assert all(c["level"] == "ok" and "write and read back work" in c["detail"] for c in stores), stores
        balm = [
            next(r for c in a["chapters"] for r in c["skus"] if r["sku"] == "balm-tee/M")["on_hand"]
            for a in by_kind["owner_stock"]
        ]
        assert all(0 < n < 500 for n in balm), balm
        final = next(r for c in owner_stock(live.url).json()["chapters"] for r in c["skus"] if r["sku"] == "balm-tee/M")
        assert final["on_hand"] == 500 - 2 * ROUNDS  # each webhook took exactly one unit, before and after

        # Steady state: a webhook is one EVALSHA on a connection already open (no PING, no reconnect,
        # no script load); the commands the script runs inside count too, so only these are looked at.
        client = redis_server.client()
        probes = ("cmdstat_evalsha", "cmdstat_ping", "cmdstat_script|load", "cmdstat_hello", "cmdstat_client|setinfo")
        seen = []
        for _ in range(WORKERS * 2):
            client.config_resetstat()
            connections = client.info("stats")["total_connections_received"]
            assert webhook(live.url).json()["status"] == "applied"
            stats = client.info("commandstats")
            new = client.info("stats")["total_connections_received"] - connections
            seen.append({"new_connections": new, **{p: stats.get(p, {}).get("calls", 0) for p in probes}})
        one = {"new_connections": 0, "cmdstat_evalsha": 1, **dict.fromkeys(probes[1:], 0)}
        assert seen == [one] * len(seen), seen
    finally:
        live.stop()
        redis_server.stop()


def test_threads_of_a_worker_do_not_wait_for_each_other(redis_server):
    """A command blocked on the server (BLPOP) does not hold another thread's command: each takes a pooled connection.

    With one shared connection the second command could only be sent after the first answered, that is
    after this test pushes the value, which it does only once the second command is back.
    """
    import threading

    from shop.store.backends import RedisBackend

    backend = RedisBackend.from_url(redis_server.url)
    backend.call("DEL", "{shop}:test:wake")
    blocked_answer = []
    blocked = threading.Thread(target=lambda: blocked_answer.append(backend.call("BLPOP", "{shop}:test:wake", 4)))
    blocked.start()
    try:
        deadline = 100
        while not any(c.get("cmd") == "blpop" for c in redis_server.client().client_list()) and deadline:
            threading.Event().wait(0.02)  # until the BLPOP is waiting on the server
            deadline -= 1
        other = []
        second = threading.Thread(target=lambda: other.append(backend.call("INCR", "{shop}:test:other")))
        second.start()
        second.join(timeout=3)
        assert other and not blocked_answer  # answered while the first thread still waits
    finally:
        redis_server.client().rpush("{shop}:test:wake", "go")
        blocked.join(timeout=10)
    assert [list(a) for a in blocked_answer] == [["{shop}:test:wake", "go"]]


def test_a_master_demoted_to_replica_answers_503_and_the_next_request_connects_again(make_app, deliver_to):
    """A failover that leaves our connections on the old master, now a replica: READONLY for every write.

    The answer is a 503 that says so (Stripe retries), nothing is written, and the idle pooled connections
    are closed, so the request after the failover connects again instead of talking to the replica forever.
    """
    master, other = RedisServer().start(), RedisServer().start()
    try:
        app = make_app(REDIS_URL=master.url)
        client, shop = app.test_client(), app.extensions["shop"]
        shop.inventory.initialize("chapter-i", {"balm-tee/M": 5})
        first = deliver_to(client, event("checkout.session.completed", checkout_session(items="balm-tee/M")))
        assert first.get_json()["status"] == "applied"
        admin = master.client(single_connection_client=True)
        me = str(admin.client_id())

        def app_connections():
            # Not the test's own connection, nor the replication link to the new master (flag M) that
            # appears in the list once the demoted server has connected to it.
            return [c for c in admin.client_list() if c["id"] != me and "M" not in c.get("flags", "")]

        assert app_connections()  # the app's pooled connection, idle
        admin.replicaof("127.0.0.1", other.port)  # demoted: it now follows an empty master
        refused = deliver_to(client, event("checkout.session.completed", checkout_session(items="balm-tee/M")))
        assert refused.status_code == 503
        assert "read-only replica" in refused.get_json()["error"] and "failover" in refused.get_json()["error"]
        assert app_connections() == []  # the pool's connections are closed

        admin.replicaof("NO", "ONE")  # promoted again (its data: its own, or the other's if it synced)
        chapter = shop.inventory.snapshot(["chapter-i"])[0]
        if not chapter["initialized"]:
            chapter = shop.inventory.initialize("chapter-i", {"balm-tee/M": 5})
        before = chapter["skus"][1]["on_hand"]
        again = deliver_to(client, event("checkout.session.completed", checkout_session(items="balm-tee/M")))
        assert again.get_json()["status"] == "applied"
        assert shop.inventory.snapshot(["chapter-i"])[0]["skus"][1]["on_hand"] == before - 1
    finally:
        master.stop()
        other.stop()
