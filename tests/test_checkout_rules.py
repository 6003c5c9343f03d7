"""Checkout's own rules, seen where a shopper or Stripe sees them: the cancel page, the session asked for."""

from __future__ import annotations

import pytest

from tests.stripe_factory import event

URL = "/api/checkout"


@pytest.fixture
def app(make_app, stub):
    app = make_app(
        STRIPE_SECRET_KEY="sk_test_stand_in",
        STRIPE_API_BASE=stub.base,
        PUBLIC_URL="http://127.0.0.1:5000",
        STRIPE_TIMEOUT_SECONDS=10,
    )
    app.extensions["shop"].inventory.initialize("chapter-i", {"balm-tee/M": 3, "balm-tee/L": 1, "tide-tote/OS": 5})
    return app


@pytest.fixture
def shop(app):
    return app.extensions["shop"]


def avail(shop, sku):
    return shop.inventory.availability([sku])[sku]


def test_cancel_page_when_stripes_expired_event_released_the_hold_first(
    app, client, shop, stub, deliver_to, monkeypatch
):
    """Stripe sends checkout.session.expired as soon as the page expires the session: the event may release the
    hold before the page does, and the page then says the checkout is expired, not that it released anything."""
    started = client.post(URL, json={"items": [{"sku": "balm-tee/M", "quantity": 2}]}).get_json()
    expire = shop.checkout.gateway.expire_session

    def expire_and_event_arrives(session_id):
        session = expire(session_id)
        expired = event("checkout.session.expired", stub.sessions[session_id])
        answer = deliver_to(app.test_client(), expired).get_json()
        assert answer["status"] == "applied"
        return session

    monkeypatch.setattr(shop.checkout.gateway, "expire_session", expire_and_event_arrives)
    page = client.get(f"/checkout/cancel?order_id={started['order_id']}").get_data(as_text=True)
    assert "back on sale" not in page and "This checkout is expired; there is nothing more to cancel." in page
    assert avail(shop, "balm-tee/M") == 3 and shop.orders.get(started["order_id"])["status"] == "expired"


def test_stripe_sends_the_shopper_back_under_a_public_url_with_a_path(make_app, stub):
    """A shop served under a path (PUBLIC_URL https://brand.example/SHOPX) gets its success and cancel pages
    there, the path's last letters kept."""
    app = make_app(
        STRIPE_SECRET_KEY="sk_test_stand_in",
        STRIPE_API_BASE=stub.base,
        PUBLIC_URL="https://brand.example/SHOPX/",
        STRIPE_TIMEOUT_SECONDS=10,
    )
    app.extensions["shop"].inventory.initialize("chapter-i", {"balm-tee/M": 3})
    started = app.test_client().post(URL, json={"items": [{"sku": "balm-tee/M", "quantity": 1}]}).get_json()
    _, _, params = [r for r in stub.requests if r[1] == "/v1/checkout/sessions"][-1]
    assert params["success_url"] == "https://brand.example/SHOPX/checkout/success?session_id={CHECKOUT_SESSION_ID}"
    assert params["cancel_url"] == f"https://brand.example/SHOPX/checkout/cancel?order_id={started['order_id']}"


def test_a_failover_before_the_session_is_saved_leaves_a_note_of_at_most_300_characters(
    client, shop, stub, monkeypatch
):
    """Redis words a script's write refused by a demoted replica at length: the order's history keeps the
    first 300 characters of the note, and the hold is released."""
    import redis

    attach = shop.store.scripts["checkout_attach"].sha
    backend_client = shop.store.backend.client
    real = backend_client.evalsha

    def evalsha(sha, *args, **kwargs):
        if sha == attach:
            raise redis.exceptions.ResponseError(
                "READONLY You can't write against a read only replica. script: " + attach + ", on @user_script:1."
            )
        return real(sha, *args, **kwargs)

    monkeypatch.setattr(backend_client, "evalsha", evalsha)
    refused = client.post(URL, json={"items": [{"sku": "balm-tee/M", "quantity": 2}]})
    monkeypatch.undo()
    assert refused.status_code == 503
    (session,) = stub.sessions.values()
    assert session["status"] == "expired"
    order = shop.orders.get(session["metadata"]["order_id"])
    note = order["history"][-1]["note"]
    assert order["status"] == "expired" and avail(shop, "balm-tee/M") == 3
    assert note.startswith(
        "the store failed before the session was saved: the store answered as a read-only replica (READONLY You"
    )
    assert len(note) == 300
