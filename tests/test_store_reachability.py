"""A worker whose Redis is down, refuses the password, or is a cluster not yet up when the worker starts.

Each answers 503 with a message that says what to do, changes nothing, and works on the next request
once the store is back: no restart of the app is needed.
"""

from __future__ import annotations

import time

import pytest

from shop import create_app
from tests.conftest import OWNER_PASSWORD, app_config
from tests.redis_server import RedisCluster, RedisServer
from tests.stripe_factory import checkout_session, event

OWNER = {"Authorization": f"Bearer {OWNER_PASSWORD}"}


def app_on(url: str):
    return create_app(app_config({"REDIS_URL": url}), environ={}).test_client()


def sell_one(client, deliver_to) -> dict:
    """Initialize a chapter and deliver one paid session: the answer of the webhook."""
    initialized = client.post("/api/owner/stock/chapter-i/initialize", json={"stock": {"balm-tee/M": 3}}, headers=OWNER)
    assert initialized.status_code == 200, initialized.get_json()
    answer = deliver_to(client, event("checkout.session.completed", checkout_session(items="balm-tee/M")))
    assert answer.status_code == 200, answer.get_json()
    return answer.get_json()


@pytest.fixture
def stopped_server():
    server = RedisServer()  # a free port, nothing listening yet
    yield server
    server.stop()


def test_redis_down_when_the_worker_starts_is_503_then_served_once_it_is_up(stopped_server, deliver_to):
    client = app_on(stopped_server.url)
    answer = deliver_to(client, event("checkout.session.completed", checkout_session(items="balm-tee/M")))
    assert answer.status_code == 503
    assert "unreachable" in answer.get_json()["error"] and "try again" in answer.get_json()["error"]
    assert client.get("/api/owner/stock", headers=OWNER).status_code == 503

    stopped_server.start()
    assert sell_one(client, deliver_to)["status"] == "applied"


@pytest.mark.parametrize("credentials", [":wrong-password@", ""], ids=["wrong", "missing"])
def test_a_refused_password_is_a_503_that_names_redis_url(stopped_server, deliver_to, credentials):
    stopped_server.start()
    stopped_server.client().config_set("requirepass", "right-password")
    client = app_on(f"redis://{credentials}127.0.0.1:{stopped_server.port}/0")
    answer = deliver_to(client, event("checkout.session.completed", checkout_session(items="balm-tee/M")))
    assert answer.status_code == 503
    message = answer.get_json()["error"]
    assert "REDIS_URL" in message and "password" in message, message
    assert "unreachable" not in message  # the server answered: waiting will not help
    owner = client.post("/api/owner/stock/chapter-i/initialize", json={"stock": {"balm-tee/M": 3}}, headers=OWNER)
    assert owner.status_code == 503 and "REDIS_URL" in owner.get_json()["error"]
    assert stopped_server.client(password="right-password").dbsize() == 0

    right = app_on(f"redis://:right-password@127.0.0.1:{stopped_server.port}/0")
    assert sell_one(right, deliver_to)["status"] == "applied"


def test_a_cluster_not_yet_up_when_the_worker_starts_is_used_as_a_cluster_once_it_is(deliver_to):
    """The URL names a node that does not own the shop's slot: only a cluster client can serve it."""
    cluster = RedisCluster()
    node = cluster.nodes[1]  # slots 5461-10922; {shop} hashes to 3808, on the first node
    try:
        client = app_on(node.url)
        answer = deliver_to(client, event("checkout.session.completed", checkout_session(items="balm-tee/M")))
        assert answer.status_code == 503 and "unreachable" in answer.get_json()["error"]

        cluster.start()
        assert sell_one(client, deliver_to)["status"] == "applied"
        assert node.client().dbsize() == 0  # everything went to the node that owns the slot
        assert cluster.nodes[0].client().dbsize() > 0
    finally:
        cluster.stop()


def test_a_cluster_that_lost_a_master_answers_503_and_keeps_what_it_had(deliver_to):
    """CLUSTERDOWN is a passing fault (a failover, a restart): 503 so Stripe retries, never a 500."""
    cluster = RedisCluster().start()
    try:
        client = app_on(cluster.url)
        assert sell_one(client, deliver_to)["status"] == "applied"
        cluster.nodes[2].kill()  # not the shop's node: the cluster as a whole stops serving
        wait_for_state(cluster.nodes[0], "fail")

        answer = deliver_to(client, event("checkout.session.completed", checkout_session(items="balm-tee/M")))
        assert answer.status_code == 503, answer.get_json()
        assert "cluster is down" in answer.get_json()["error"] and "try again" in answer.get_json()["error"]

        cluster.nodes[2].start()
        wait_for_state(cluster.nodes[0], "ok")
        assert (
            deliver_to(client, event("checkout.session.completed", checkout_session(items="balm-tee/M"))).status_code
            == 200
        )
        stock = client.get("/api/owner/stock", headers=OWNER).get_json()
        assert next(r for r in stock["chapters"][0]["skus"] if r["sku"] == "balm-tee/M")["on_hand"] == 1
    finally:
        cluster.stop()


def wait_for_state(node: RedisServer, state: str) -> None:
    deadline = time.monotonic() + 60
    while node.client().cluster("info").get("cluster_state") != state:
        assert time.monotonic() < deadline, f"cluster_state never became {state}"
        time.sleep(0.1)
