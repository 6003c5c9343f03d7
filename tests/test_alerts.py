"""ALERT_WEBHOOK_URL: alerts out of the app, to a local HTTP receiver; a failing receiver never fails the webhook."""

from __future__ import annotations

import json
import threading

import pytest
from werkzeug.serving import WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

from tests.stripe_factory import checkout_session, event

pytestmark = pytest.mark.backends()


class _Quiet(WSGIRequestHandler):
    def log_request(self, *args, **kwargs):
        pass


class Receiver:
    """A Slack/Discord-like incoming webhook on loopback: records posts, or hangs, or fails, as told."""

    def __init__(self):
        self.posts: list[dict] = []
        self.mode = "ok"
        self.hanging = threading.Event()
        self.release = threading.Event()
        self.finished = threading.Event()  # a hanging request was answered
        self._server = make_server("127.0.0.1", 0, self._wsgi, threaded=True, request_handler=_Quiet)
        self.url = f"http://127.0.0.1:{self._server.server_port}/hook"
        # A short poll: shutdown() waits for it, after every test.
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def _wsgi(self, environ, start_response):
        request = Request(environ)
        self.posts.append(json.loads(request.get_data()))
        if self.mode == "hang":
            self.hanging.set()
            self.release.wait(timeout=30)
            self.finished.set()
        status = 500 if self.mode == "fail" else 200
        return Response("ok", status)(environ, start_response)

    def kinds(self):
        return [p["kind"] for p in self.posts]

    def stop(self):
        self.release.set()
        self._server.shutdown()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.stop()


def alerting_app(make_app, receiver, timeout):
    app = make_app(ALERT_WEBHOOK_URL=receiver.url, ALERT_TIMEOUT_SECONDS=timeout)
    app.extensions["shop"].inventory.initialize("chapter-i", {"balm-tee/M": 2, "balm-tee/L": 9})
    return app


@pytest.fixture
def app(make_app, receiver):
    """A receiver that answers is always waited for: a timeout no loaded machine reaches."""
    return alerting_app(make_app, receiver, timeout=10)


def test_paid_order_and_sold_out_are_announced(deliver, receiver):
    assert deliver(event("checkout.session.completed", checkout_session(items="balm-tee/M*2"))).status_code == 200
    assert receiver.kinds() == ["new_order", "sold_out"]
    assert all(p["text"] == p["content"] for p in receiver.posts)  # Slack reads text, Discord content
    deliver(event("checkout.session.completed", checkout_session(items="balm-tee/L*5")))
    assert receiver.kinds()[-2:] == ["new_order", "low_stock"] and "only 4 left" in receiver.posts[-1]["text"]


def test_oversold_and_needs_review_are_announced(deliver, receiver):
    deliver(event("checkout.session.completed", checkout_session(items="balm-tee/M*3")))
    assert "oversold" in receiver.kinds()
    deliver(event("checkout.session.completed", checkout_session(items="nothing/we-sell")))
    assert receiver.kinds()[-1] == "needs_review"


def test_duplicates_announce_nothing(deliver, receiver):
    evt = event("checkout.session.completed", checkout_session(items="balm-tee/L"))
    deliver(evt)
    count = len(receiver.posts)
    assert deliver(evt).get_json()["status"] == "duplicate"
    assert len(receiver.posts) == count


def test_a_hanging_receiver_does_not_hold_the_answer(make_app, receiver, deliver_to, owner_headers):
    client = alerting_app(make_app, receiver, timeout=0.5).test_client()
    receiver.mode = "hang"
    response = deliver_to(client, event("checkout.session.completed", checkout_session(items="balm-tee/L")))
    assert response.status_code == 200 and response.get_json()["status"] == "applied"
    # The answer came back while the receiver still hangs: the send gave up at the alert timeout.
    assert receiver.hanging.wait(timeout=10) and not receiver.finished.is_set()
    checks = {c["name"]: c for c in client.get("/api/owner/health", headers=owner_headers).get_json()["checks"]}
    assert checks["alerts"]["level"] == "warn" and "new_order" in checks["alerts"]["detail"]


def test_a_failing_receiver_is_recorded(deliver, receiver, shop):
    receiver.mode = "fail"
    assert deliver(event("checkout.session.completed", checkout_session(items="balm-tee/L"))).status_code == 200
    assert shop.store.alert_failures(1)[0]["error"] == "HTTP 500"


def test_repeated_signature_failures_are_announced(client, receiver):
    for _ in range(5):
        assert (
            client.post("/api/webhooks/stripe", data=b"{}", headers={"Stripe-Signature": "t=1,v1=0"}).status_code == 400
        )
    assert receiver.kinds() == ["signature_failures"] and "5 webhook deliveries" in receiver.posts[0]["text"]
