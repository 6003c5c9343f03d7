"""Verified Stripe events -> frozen actions: one test per case, no Redis, no HTTP."""

from __future__ import annotations

import dataclasses
import json

import pytest

from shop.catalog import Catalog
from shop.config import ROOT
from shop.stripe_events import (
    DisputeEvent,
    Ignored,
    RefundEvent,
    SessionEvent,
    derived_order_id,
    event_action,
    for_order,
    under_own_session,
    with_line_items,
)
from tests.stripe_factory import checkout_session, event

CATALOG = Catalog.load(ROOT / "catalog.json")
BALM_M = {"sku": "balm-tee/M", "chapter": "chapter-i", "name": "Balm Tee", "size": "M", "unit_amount": 4500}


def session_event(event_type="checkout.session.completed", **session) -> SessionEvent:
    action = event_action(event(event_type, checkout_session(**session)), CATALOG)
    assert isinstance(action, SessionEvent)
    return action


@pytest.mark.parametrize(
    ("event_type", "payment_status", "kind"),
    [
        ("checkout.session.completed", "paid", "paid"),
        ("checkout.session.completed", "no_payment_required", "paid"),
        ("checkout.session.completed", "unpaid", "unpaid"),
        ("checkout.session.async_payment_succeeded", "paid", "paid"),
        ("checkout.session.async_payment_failed", "unpaid", "failed"),
        ("checkout.session.expired", "unpaid", "expired"),
    ],
)
def test_each_session_event_is_its_lifecycle_move(event_type, payment_status, kind):
    assert session_event(event_type, items="balm-tee/M", payment_status=payment_status).kind == kind


def test_a_paid_session_of_ours_names_its_order_items_price_customer_and_shipping():
    action = session_event(items="balm-tee/M*2", order_id="ord_abc123", email="Ada@Example.com", name="Ada")
    assert action.order_id == "ord_abc123"
    assert action.derived_order_id == derived_order_id(action.session_id)
    assert action.items == ({**BALM_M, "quantity": 2},)
    assert action.need_items is False and action.items_problem is None
    assert (action.amount_expected, action.expected_currency) == (9000, "eur")
    assert (action.amount_subtotal, action.amount_total, action.currency) == (9000, 9000, "eur")
    assert action.customer == {"email": "Ada@Example.com", "name": "Ada"}
    assert action.limit_email == "ada@example.com"
    assert action.shipping["address"]["city"] == "London"


def test_a_session_this_shop_did_not_start_gets_the_order_id_derived_from_the_session():
    action = session_event(items="balm-tee/M", client_reference_id="someone-elses-id")
    assert action.order_id == action.derived_order_id == derived_order_id(action.session_id)


def test_a_session_without_readable_items_asks_for_its_line_items_and_keeps_why():
    action = session_event(items="nope/XL*2")
    assert action.items is None and action.need_items is True
    assert action.items_problem.startswith("metadata.items 'nope/XL*2': unknown SKU")
    assert action.amount_expected is None


def test_an_event_without_a_session_id_is_ignored_saying_why():
    action = event_action(event("checkout.session.completed", {"id": 5}), CATALOG)
    assert isinstance(action, Ignored) and action.reason == "the event has no session id"


def test_the_envelope_carries_id_type_mode_source_payment_time_and_limits():
    evt = event("checkout.session.completed", checkout_session(items="balm-tee/M"), event_id="evt_1", livemode=True)
    evt["created"] = 1_700_000_000
    action = event_action(evt, CATALOG, source="reconcile")
    assert (action.event.event_id, action.event.event_type, action.event.livemode) == (
        "evt_1",
        "checkout.session.completed",
        True,
    )
    assert (action.event.source, action.event.paid_at) == ("reconcile", 1_700_000_000_000)
    assert dict(action.event.limits) == {"wool-coat": 1}


@pytest.mark.parametrize("created", [True, -5, 0, "1700000000", None])
def test_a_created_time_that_is_not_a_positive_integer_leaves_paid_at_to_the_store(created):
    evt = event("checkout.session.completed", checkout_session(items="balm-tee/M"))
    evt["created"] = created
    assert event_action(evt, CATALOG).event.paid_at is None


@pytest.mark.parametrize("created", [1, 1_700_000_000])
def test_any_positive_created_time_is_when_the_payment_was_made(created):
    # A retry days later is judged by this time (a release window, a limit), not by when it arrives.
    evt = event("checkout.session.completed", checkout_session(items="balm-tee/M"))
    evt["created"] = created
    assert event_action(evt, CATALOG).event.paid_at == created * 1000


def test_a_catalog_without_per_customer_limits_sends_the_script_no_limits():
    data = json.loads((ROOT / "catalog.json").read_text())
    for chapter in data["chapters"]:
        for product in chapter["products"]:
            product.pop("limit", None)
    unlimited = Catalog.from_dict(data)
    action = event_action(event("checkout.session.completed", checkout_session(items="wool-coat/L")), unlimited)
    assert action.for_script()["limits"] is None
    assert event_action(
        event("checkout.session.completed", checkout_session(items="wool-coat/L")), CATALOG
    ).for_script()["limits"] == {"wool-coat": 1}


def test_charge_refunded_gives_the_total_refunded():
    action = event_action(event("charge.refunded", {"payment_intent": "pi_1", "amount_refunded": 700}), CATALOG)
    assert isinstance(action, RefundEvent)
    assert (action.payment_intent, dict(action.refund), action.order_id) == ("pi_1", {"charge_refunded": 700}, None)


@pytest.mark.parametrize(("status", "counts"), [("succeeded", True), ("pending", True), ("failed", False)])
def test_a_refund_event_counts_only_while_the_refund_stands(status, counts):
    obj = {"id": "re_1", "payment_intent": "pi_1", "amount": 300, "status": status}
    action = event_action(event("refund.updated", obj), CATALOG)
    assert dict(action.refund) == {"refund_id": "re_1", "amount": 300, "counts": counts}


@pytest.mark.parametrize(
    ("event_type", "obj", "reason"),
    [
        ("charge.refunded", {"amount_refunded": 700}, "the event names no payment intent"),
        ("refund.created", {"payment_intent": "pi_1", "amount": 1}, "the refund has no id"),
        ("charge.dispute.created", {"id": "dp_1"}, "the dispute names no payment intent"),
        ("customer.created", {"id": "cus_1"}, "event type not handled"),
    ],
)
def test_events_that_name_nothing_usable_are_ignored_saying_why(event_type, obj, reason):
    action = event_action(event(event_type, obj), CATALOG)
    assert isinstance(action, Ignored) and action.reason == reason


@pytest.mark.parametrize(("event_type", "closed"), [("charge.dispute.created", False), ("charge.dispute.closed", True)])
def test_a_dispute_records_its_state_and_whether_it_is_closed(event_type, closed):
    obj = {"id": "dp_1", "payment_intent": "pi_1", "status": "won", "reason": "fraudulent", "amount": 9000}
    action = event_action(event(event_type, obj), CATALOG)
    assert isinstance(action, DisputeEvent)
    assert dict(action.dispute) == {
        "id": "dp_1",
        "status": "won",
        "reason": "fraudulent",
        "amount": 9000,
        "closed": closed,
    }


def test_actions_are_frozen():
    action = session_event(items="balm-tee/M")
    with pytest.raises(dataclasses.FrozenInstanceError):
        action.order_id = "ord_other"  # type: ignore[misc]


def test_a_conflicting_session_retries_with_a_new_action_under_its_own_id():
    first = session_event(items="balm-tee/M", order_id="ord_reused1")
    second = under_own_session(first)
    assert second.order_id == first.derived_order_id
    assert first.order_id == "ord_reused1"  # the first action is unchanged


def test_line_items_of_the_shop_become_the_items_of_a_new_action():
    first = session_event(items=None)
    line = {"quantity": 2, "price": {"metadata": {"sku": "balm-tee/M"}, "product": {"metadata": {}}}}
    second = with_line_items(first, CATALOG, [line], None)
    assert second.items == ({**BALM_M, "quantity": 2},) and second.amount_expected == 9000
    assert second.need_items is False and second.review_reason is None
    assert first.items is None and first.need_items is True


def test_line_items_that_cannot_be_read_send_the_order_to_review_naming_both_ways():
    first = session_event(items=None)
    second = with_line_items(first, CATALOG, None, "the line items could not be read from Stripe: timeout")
    assert second.items is None and second.need_items is False
    assert second.review_reason == "metadata.items is missing; the line items could not be read from Stripe: timeout"


def test_line_items_that_are_not_the_shops_send_the_order_to_review_naming_them():
    line = {"quantity": 1, "description": "Gift card", "price": {"metadata": {}, "product": {"metadata": {}}}}
    second = with_line_items(session_event(items=None), CATALOG, [line], None)
    assert (
        second.review_reason
        == "metadata.items is missing; line item 'Gift card' carries no sku (price or product metadata)"
    )


def test_a_refund_with_no_order_for_its_payment_is_ignored_and_one_with_an_order_is_addressed_to_it():
    action = event_action(event("charge.refunded", {"payment_intent": "pi_1", "amount_refunded": 1}), CATALOG)
    assert for_order(action, None, None) == Ignored(action.event, "no order has this payment")
    addressed = for_order(action, "ord_1", "ada@example.com")
    assert (addressed.order_id, addressed.limit_email) == ("ord_1", "ada@example.com")
    assert action.order_id is None


def test_what_the_script_reads_leaves_out_what_only_python_needs():
    sent = session_event(items="nope/XL").for_script()
    assert "derived_order_id" not in sent and "items_problem" not in sent and "event" not in sent
    assert sent["kind"] == "paid" and sent["need_items"] is True and sent["items"] is None
