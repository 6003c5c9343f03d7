"""A session fulfilled by another caller than Stripe's webhook (reconciliation, the success page) is recorded
as the webhook's would be, but health's "last Stripe event" stays the webhook's own: the owner reads it
to know whether Stripe reaches the endpoint."""

from __future__ import annotations

from tests.stripe_factory import checkout_session, event


def last_event_detail(client, owner_headers) -> str:
    report = client.get("/api/owner/health", headers=owner_headers).get_json()
    return next(c["detail"] for c in report["checks"] if c["name"] == "last_event")


def test_a_reconciled_session_is_fulfilled_without_posing_as_the_webhooks_last_event(shop, client, owner_headers):
    shop.inventory.initialize("chapter-i", {"balm-tee/M": 5})
    session = checkout_session(items="balm-tee/M*2")
    answer = shop.fulfillment.fulfil_session(session, source="reconcile")
    assert (answer["status"], answer["order_status"]) == ("applied", "paid")
    assert shop.orders.get(answer["order_id"])["items"][0]["quantity"] == 2
    assert shop.inventory.availability(["balm-tee/M"])["balm-tee/M"] == 3
    assert last_event_detail(client, owner_headers) == "no Stripe event received yet"


def test_the_webhooks_own_delivery_is_the_last_stripe_event(shop, client, owner_headers, deliver):
    deliver(event("checkout.session.completed", checkout_session(items="balm-tee/M"), event_id="evt_from_stripe"))
    shop.fulfillment.fulfil_session(checkout_session(items="balm-tee/M"), source="success_page")
    detail = last_event_detail(client, owner_headers)
    assert detail.startswith("last Stripe event evt_from_stripe (checkout.session.completed)")
    assert detail.endswith("answered applied")
