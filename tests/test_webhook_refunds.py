"""charge.refunded and refund.* events move a paid order to refunded / partially_refunded."""

from __future__ import annotations

import pytest

from tests.stripe_factory import checkout_session, event, fixture, new_id

# The whole module runs on each store backend (tests/conftest.py ALL_BACKENDS).
pytestmark = pytest.mark.backends()


def paid_order(deliver, shop, amount=9000):
    shop.inventory.initialize("chapter-i", {"balm-tee/M": 5})
    session = checkout_session(items="balm-tee/M*2", amount_subtotal=amount)
    answer = deliver(event("checkout.session.completed", session)).get_json()
    return answer["order_id"], session["payment_intent"]


def charge(payment_intent, amount_refunded, amount=9000):
    obj = fixture("charge")
    obj.update(
        payment_intent=payment_intent,
        amount=amount,
        amount_refunded=amount_refunded,
        refunded=amount_refunded >= amount,
    )
    return obj


def refund(payment_intent, amount, status="succeeded", refund_id=None):
    obj = fixture("refund")
    obj.update(id=refund_id or new_id("re"), payment_intent=payment_intent, amount=amount, status=status)
    return obj


def test_partial_then_full_refund(deliver, shop):
    order_id, pi = paid_order(deliver, shop)
    partial = deliver(event("charge.refunded", charge(pi, 4500))).get_json()
    assert partial["status"] == "applied" and partial["order_status"] == "partially_refunded"
    assert shop.orders.get(order_id)["amount_refunded"] == 4500
    full = deliver(event("charge.refunded", charge(pi, 9000))).get_json()
    assert full["order_status"] == "refunded"
    again = deliver(event("charge.refunded", charge(pi, 9000))).get_json()
    assert again["status"] == "duplicate"
    # Restocking is the owner's decision: refunds never move stock.
    assert shop.inventory.snapshot(["chapter-i"])[0]["skus"][1]["on_hand"] == 3


def test_refund_events_sum_per_refund(deliver, shop):
    order_id, pi = paid_order(deliver, shop)
    first = refund(pi, 3000)
    assert deliver(event("refund.created", first)).get_json()["order_status"] == "partially_refunded"
    assert deliver(event("refund.updated", first)).get_json()["status"] == "duplicate"  # same refund again
    second = refund(pi, 6000, status="pending")
    assert deliver(event("refund.created", second)).get_json()["order_status"] == "refunded"
    order = shop.orders.get(order_id)
    assert order["amount_refunded"] == 9000 and order["status"] == "refunded"


def test_failed_refund_does_not_count(deliver, shop):
    order_id, pi = paid_order(deliver, shop)
    assert deliver(event("refund.created", refund(pi, 9000, status="failed"))).get_json()["status"] == "duplicate"
    assert shop.orders.get(order_id)["status"] == "paid"


def test_refund_for_unknown_payment_is_ignored(deliver, shop):
    assert deliver(event("charge.refunded", charge("pi_unknown", 100))).get_json()["status"] == "ignored"


def test_refund_of_shipped_order(deliver, shop, client, owner_headers):
    order_id, pi = paid_order(deliver, shop)
    shipped = client.post(
        f"/api/owner/orders/{order_id}/status", json={"status": "shipped", "tracking": "TRK1"}, headers=owner_headers
    )
    assert shipped.status_code == 200 and shipped.get_json()["tracking"] == "TRK1"
    assert deliver(event("charge.refunded", charge(pi, 9000))).get_json()["order_status"] == "refunded"


def dispute(payment_intent, status="needs_response", dispute_id="du_test_1"):
    """A Stripe Dispute object (its field names), for the payment of the charge fixture."""
    charge = fixture("charge")
    return {
        "id": dispute_id,
        "object": "dispute",
        "amount": 9000,
        "charge": charge["id"],
        "currency": "eur",
        "payment_intent": payment_intent,
        "reason": "fraudulent",
        "status": status,
        "livemode": False,
    }


def test_dispute_flags_the_order_and_closing_records_the_outcome(deliver, shop):
    order_id, pi = paid_order(deliver, shop)
    opened = deliver(event("charge.dispute.created", dispute(pi))).get_json()
    assert opened["status"] == "applied" and opened["order_status"] == "paid"
    order = shop.orders.get(order_id)
    assert "disputed" in order["flags"] and order["dispute"]["reason"] == "fraudulent"
    closed = event("charge.dispute.closed", dispute(pi, status="lost"))
    assert deliver(closed).get_json()["status"] == "applied"
    assert deliver(closed).get_json()["status"] == "duplicate"
    order = shop.orders.get(order_id)
    assert order["dispute"]["status"] == "lost" and order["dispute"]["closed"] is True
    assert "dispute du_test_1 closed: lost" in [h.get("note") for h in order["history"]]
    assert shop.inventory.snapshot(["chapter-i"])[0]["skus"][1]["on_hand"] == 3  # stock untouched


def test_dispute_for_unknown_payment_is_ignored(deliver, shop):
    assert deliver(event("charge.dispute.created", dispute("pi_nobody"))).get_json()["status"] == "ignored"
