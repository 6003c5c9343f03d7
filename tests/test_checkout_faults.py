"""The store fails between the hold and saving the Stripe session on the order (SPEC section 5).

Stripe has opened a session the shopper will never see: the shop expires it through the gateway and
releases the hold, so Stripe and the store agree: never an open session without its hold, never a hold
kept for a session nobody can pay. The shopper gets a 503 in words for a shopper.
"""

from __future__ import annotations

import pytest
import redis

from tests.redis_server import RedisServer
from tests.stripe_factory import event, signed

URL = "/api/checkout"
CART = {"items": [{"sku": "balm-tee/M", "quantity": 2}]}


def fail_at_attach(shop, monkeypatch, before=None):
    """Make the real client fail the checkout_attach script (and only it), as a dropped connection does.

    ``before`` runs first (e.g. SIGKILL the redis-server, so the failure is the server's, not ours).
    """
    attach = shop.store.scripts["checkout_attach"].sha
    client = shop.store.backend.client
    real = client.evalsha

    def evalsha(sha, *args, **kwargs):
        if sha == attach:
            if before is None:
                raise redis.exceptions.ConnectionError("Connection reset by peer (injected at checkout_attach)")
            before()
        return real(sha, *args, **kwargs)

    monkeypatch.setattr(client, "evalsha", evalsha)


def only_session(stub) -> dict:
    (session,) = stub.sessions.values()
    return session


def assert_shopper_words(response):
    assert response.status_code == 503
    message = response.get_json()["error"]
    assert message == (
        "your checkout could not be saved, so nothing was reserved or charged; please try again in a moment"
    )


@pytest.mark.backends("redis", "embedded", "upstash", "cluster")
def test_attach_failure_expires_the_session_and_releases_the_hold(make_app, stub, monkeypatch):
    app = make_app(STRIPE_SECRET_KEY="sk_test_stand_in", STRIPE_API_BASE=stub.base, PUBLIC_URL="http://127.0.0.1:5000")
    shop, client = app.extensions["shop"], app.test_client()
    shop.inventory.initialize("chapter-i", {"balm-tee/M": 3})
    if shop.store.backend.kind == "upstash":
        # REST: the fault is the HTTP call of that one script failing.
        from shop.errors import StoreUnavailable

        attach, real = shop.store.scripts["checkout_attach"].sha, shop.store.backend.evalsha

        def evalsha(sha, keys, args):
            if sha == attach:
                raise StoreUnavailable("the store is unreachable (injected at checkout_attach)")
            return real(sha, keys, args)

        monkeypatch.setattr(shop.store.backend, "evalsha", evalsha)
    else:
        fail_at_attach(shop, monkeypatch)

    response = client.post(URL, json=CART, headers={"Idempotency-Key": "cart-1"})
    assert_shopper_words(response)
    session = only_session(stub)
    assert session["status"] == "expired"  # nobody can pay it
    assert ("POST", f"/v1/checkout/sessions/{session['id']}/expire") in [(m, p) for m, p, _ in stub.requests]
    assert shop.inventory.availability(["balm-tee/M"])["balm-tee/M"] == 3  # and it holds nothing
    order_id = session["metadata"]["order_id"]
    assert shop.orders.get(order_id)["status"] == "expired"
    assert [(e["reason"], e["held_delta"]) for e in shop.inventory.ledger(sku="balm-tee/M")[0][:2]] == [
        ("release", -2),
        ("hold", 2),
    ]

    monkeypatch.undo()  # the store is back: the same submit (same Idempotency-Key) starts afresh
    retry = client.post(URL, json=CART, headers={"Idempotency-Key": "cart-1"})
    assert retry.status_code == 201 and retry.get_json()["order_id"] != order_id
    assert shop.inventory.availability(["balm-tee/M"])["balm-tee/M"] == 1


def test_store_killed_between_hold_and_attach(make_app, stub, monkeypatch):
    """SIGKILL of redis-server right after Stripe opened the session: the session is expired at once; the
    hold, which the dead store could not release, goes with Stripe's `checkout.session.expired` event."""
    server = RedisServer(appendonly=True).start()
    try:
        app = make_app(
            REDIS_URL=server.url,
            STRIPE_SECRET_KEY="sk_test_stand_in",
            STRIPE_API_BASE=stub.base,
            PUBLIC_URL="http://127.0.0.1:5000",
        )
        shop, client = app.extensions["shop"], app.test_client()
        shop.inventory.initialize("chapter-i", {"balm-tee/M": 3})
        fail_at_attach(shop, monkeypatch, before=server.kill)

        assert_shopper_words(client.post(URL, json=CART))
        session = only_session(stub)
        assert session["status"] == "expired"

        server.start()
        monkeypatch.undo()
        order_id = session["metadata"]["order_id"]
        assert shop.orders.get(order_id)["status"] == "pending"  # the dead store kept the hold it had written
        assert shop.inventory.availability(["balm-tee/M"])["balm-tee/M"] == 1
        body, headers = signed(event("checkout.session.expired", session))
        answer = client.post("/api/webhooks/stripe", data=body, headers=headers).get_json()
        assert answer["status"] == "applied" and answer["order_status"] == "expired"
        assert shop.inventory.availability(["balm-tee/M"])["balm-tee/M"] == 3
    finally:
        server.stop()


def test_stripe_down_too_still_releases_the_hold(make_app, stub, monkeypatch):
    """Expiring fails as well (Stripe answers 500): the hold is released all the same and the session, never
    shown to anyone, lapses at its expires_at, the end the hold had."""
    app = make_app(STRIPE_SECRET_KEY="sk_test_stand_in", STRIPE_API_BASE=stub.base, PUBLIC_URL="http://127.0.0.1:5000")
    shop, client = app.extensions["shop"], app.test_client()
    shop.inventory.initialize("chapter-i", {"balm-tee/M": 3})
    real_attach = shop.store.checkout_attach

    def attach(*args, **kwargs):
        stub.fail_with = "500"  # from here on Stripe fails too
        return real_attach(*args, **kwargs)

    monkeypatch.setattr(shop.store, "checkout_attach", attach)
    fail_at_attach(shop, monkeypatch)
    assert_shopper_words(client.post(URL, json=CART))
    stub.fail_with = None
    assert shop.inventory.availability(["balm-tee/M"])["balm-tee/M"] == 3
    assert shop.orders.get(only_session(stub)["metadata"]["order_id"])["status"] == "expired"
