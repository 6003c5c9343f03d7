"""Fixtures: a real redis-server for the session, the app on it, signed Stripe deliveries."""

from __future__ import annotations

import pytest

from shop import create_app
from tests.redis_server import RedisServer
from tests.stripe_factory import WEBHOOK_SECRET, signed
from tests.stripe_stub import StripeStub

OWNER_PASSWORD = "owner-test-password"


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


@pytest.fixture
def redis_client(redis_server):
    client = redis_server.client()
    client.flushall()
    return client


@pytest.fixture
def make_app(redis_server, redis_client):
    """Build an app on the test redis-server; keyword arguments replace settings."""

    def make(**overrides):
        return create_app(app_config({"REDIS_URL": redis_server.url}, **overrides), environ={})

    return make


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


@pytest.fixture
def deliver(client):
    """POST one signed event to the webhook, as Stripe would."""

    def deliver_(evt: dict, **sign_kwargs):
        body, headers = signed(evt, **sign_kwargs)
        return client.post("/api/webhooks/stripe", data=body, headers=headers)

    return deliver_


@pytest.fixture
def deliver_to():
    """POST one signed event through a given test client."""

    def deliver_(client, evt: dict, **sign_kwargs):
        body, headers = signed(evt, **sign_kwargs)
        return client.post("/api/webhooks/stripe", data=body, headers=headers)

    return deliver_


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
