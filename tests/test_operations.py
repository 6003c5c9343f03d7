"""Reconciliation with Stripe's API and the Stripe-side doctor, against the stand-in."""

from __future__ import annotations

import json
import time

import pytest

from shop.stripe_events import HANDLED_EVENTS
from tests.stripe_factory import FIXTURES, checkout_session, event, fixture

pytestmark = pytest.mark.backends()

PUBLIC = "https://shop.example"


@pytest.fixture
def app(make_app, stub):
    app = make_app(
        STRIPE_SECRET_KEY="sk_test_stand_in", STRIPE_API_BASE=stub.base, PUBLIC_URL=PUBLIC, STRIPE_TIMEOUT_SECONDS=10
    )
    app.extensions["shop"].inventory.initialize("chapter-i", {"balm-tee/M": 10})
    return app


def paid_on_stripe(stub, items="balm-tee/M"):
    session = checkout_session(items=items)
    session.update(status="complete", created=int(time.time()) - 3600)
    stub.sessions[session["id"]] = session
    return session


def test_every_handled_event_is_one_an_endpoint_can_subscribe_to():
    """Against Stripe's 2022 list; refund.created/updated came later (they exist in today's API)."""
    allowed = set(json.loads((FIXTURES / "webhook_enabled_events.enum.json").read_text()))
    assert set(HANDLED_EVENTS) - allowed == {"refund.created", "refund.updated"}


def test_reconcile_finds_exactly_the_sessions_without_orders(runner, stub, deliver, shop):
    delivered = paid_on_stripe(stub)
    deliver(event("checkout.session.completed", delivered))
    missed = [paid_on_stripe(stub), paid_on_stripe(stub, items="balm-tee/M*2")]
    dry = runner.invoke(args=["reconcile", "--since", "72h"])
    assert dry.exit_code == 0, dry.output
    assert all(s["id"] in dry.output for s in missed) and delivered["id"] not in dry.output
    assert "dry run" in dry.output
    assert shop.inventory.availability(["balm-tee/M"])["balm-tee/M"] == 9  # a dry run changes nothing

    applied = runner.invoke(args=["reconcile", "--since", "72h", "--apply"])
    assert "applied 2" in applied.output
    assert shop.inventory.availability(["balm-tee/M"])["balm-tee/M"] == 6
    again = runner.invoke(args=["reconcile", "--since", "72h", "--apply"])
    assert "nothing missing" in again.output
    late = deliver(event("checkout.session.completed", missed[0]))  # Stripe's retry arrives after all
    assert late.get_json()["status"] == "duplicate"
    assert shop.inventory.availability(["balm-tee/M"])["balm-tee/M"] == 6


def test_reconcile_applies_undelivered_events(runner, stub, shop, deliver):
    """A refund whose event never got through (the endpoint answered 500 that day) is applied from Stripe's list."""
    session = paid_on_stripe(stub)
    order_id = deliver(event("checkout.session.completed", session)).get_json()["order_id"]
    charge = fixture("charge")
    charge.update(payment_intent=session["payment_intent"], amount=9000, amount_refunded=9000)
    lost = stub.record_event(event("charge.refunded", charge), delivered=False)
    stub.record_event(event("customer.created", {"id": "cus_1"}), delivered=False)  # not a type the shop handles
    dry = runner.invoke(args=["reconcile", "--since", "3d"])
    assert lost["id"] in dry.output and "cus_1" not in dry.output
    assert shop.orders.get(order_id)["status"] == "paid"
    runner.invoke(args=["reconcile", "--since", "3d", "--apply"])
    assert shop.orders.get(order_id)["status"] == "refunded"
    assert "nothing missing" in runner.invoke(args=["reconcile", "--since", "3d"]).output


def test_reconcile_rejects_a_bad_window(runner):
    result = runner.invoke(args=["reconcile", "--since", "soon"])
    assert result.exit_code != 0 and "72h" in result.output


@pytest.mark.parametrize("case", ["missing", "disabled", "events", "mode"])
def test_doctor_stripe_reds(runner, stub, case):
    url = PUBLIC + "/api/webhooks/stripe"
    if case == "missing":
        stub.endpoint("https://old.example/api/webhooks/stripe", list(HANDLED_EVENTS))
    elif case == "disabled":
        stub.endpoint(url, list(HANDLED_EVENTS), status="disabled")
    elif case == "events":
        stub.endpoint(url, ["checkout.session.completed"])
    elif case == "mode":
        stub.endpoint(url, list(HANDLED_EVENTS), livemode=True)
    result = runner.invoke(args=["doctor", "--stripe"])
    assert result.exit_code == 1
    expected = {
        "missing": "No Stripe webhook endpoint sends events to",
        "disabled": "is disabled",
        "events": "does not send: checkout.session.async_payment_succeeded",
        "mode": "live mode",
    }[case]
    assert expected in result.output


def test_doctor_stripe_green(runner, stub, client, owner_headers, deliver):
    stub.endpoint(PUBLIC + "/api/webhooks/stripe", ["*"])
    deliver(event("checkout.session.completed", checkout_session(items="balm-tee/M")))
    report = client.get("/api/owner/health?stripe=1", headers=owner_headers).get_json()
    names = {c["name"]: c["level"] for c in report["checks"]}
    assert names["stripe_endpoint"] == "ok" and names["stripe_events"] == "ok"
    assert "stripe_mode" not in names


def test_owner_mode_checks_stripe_for_missed_orders(client, stub, shop):
    from tests.test_owner_mode import login

    missed = paid_on_stripe(stub)
    client.token = login(client)
    listed = client.post("/owner/reconcile", data={"csrf_token": client.token, "since": "72h"})
    assert listed.status_code == 200 and missed["id"] in listed.get_data(as_text=True)
    assert shop.orders.search(missed["id"]) == []
    done = client.post("/owner/reconcile", data={"csrf_token": client.token, "since": "72h", "apply": "1"})
    assert "Applied 1" in done.get_data(as_text=True)
    assert shop.orders.search(missed["id"])[0]["status"] == "paid"
    stub.endpoint(PUBLIC + "/api/webhooks/stripe", ["checkout.session.completed"])
    page = client.get("/owner/health?stripe=1").get_data(as_text=True)
    assert "does not send: checkout.session.async_payment_succeeded" in page
