"""The order lifecycle's rules, each a named predicate (no Redis)."""

from __future__ import annotations

import pytest

from shop import lifecycle
from shop.lifecycle import (
    CHECKOUT_MOVES,
    OWNER_MOVES,
    RANK,
    RESTOCKABLE,
    STATUSES,
    STRIPE_MOVES,
    owner_may,
    stripe_may,
)

STRIPE_STEPS = [(kind, s, t) for kind, move in STRIPE_MOVES.items() for s in move.source for t in move.target]
OWNER_STEPS = [(s, t) for t, sources in OWNER_MOVES.items() for s in sources]


def test_every_status_has_a_rank_and_every_move_names_known_statuses():
    assert set(RANK) == set(STATUSES)
    named = {s for move in STRIPE_MOVES.values() for s in (*move.source, *move.target)}
    named |= {s for t, sources in OWNER_MOVES.items() for s in (t, *sources)}
    named |= {s for move in CHECKOUT_MOVES.values() for s in (*move.source, *move.target)}
    assert named | set(RESTOCKABLE) <= set(STATUSES)


def test_a_checkout_starts_an_order_at_the_start_and_lets_it_go_forward():
    assert CHECKOUT_MOVES["start"].target == ("pending",)
    assert min(RANK, key=RANK.get) == "pending"
    release = CHECKOUT_MOVES["release"]
    assert all(RANK[t] > RANK[s] for s in release.source for t in release.target)


def test_units_go_back_on_the_shelf_only_after_money_went_back():
    assert all(RANK[s] >= RANK["partially_refunded"] for s in RESTOCKABLE)


@pytest.mark.parametrize(("kind", "source", "target"), STRIPE_STEPS)
def test_every_stripe_move_goes_forward(kind, source, target):
    # A second partial refund stays partially refunded (more money refunded): the one move to the same status.
    if (source, target) == ("partially_refunded", "partially_refunded"):
        return
    assert RANK[target] > RANK[source]


@pytest.mark.parametrize(("source", "target"), OWNER_STEPS)
def test_every_owner_move_goes_forward(source, target):
    assert RANK[target] > RANK[source]


@pytest.mark.parametrize("target", ["pending", "awaiting_payment", "payment_failed", "expired", "refunded"])
def test_the_owner_cannot_set_a_status_only_stripe_sets(target):
    assert not any(owner_may(source, target) for source in STATUSES)


@pytest.mark.parametrize("source", ["payment_failed", "pending", "awaiting_payment", "expired", "refunded"])
def test_the_owner_cannot_call_an_order_paid_that_stripe_did_not_see_paid(source):
    assert not owner_may(source, "paid")


def test_the_owner_may_ship_a_paid_order_deliver_a_shipped_one_and_clear_a_review():
    assert owner_may("paid", "shipped")
    assert owner_may("shipped", "delivered")
    assert owner_may("needs_review", "paid")
    assert not owner_may("paid", "delivered")


def test_a_late_payment_revives_an_expired_or_failed_checkout():
    assert stripe_may("paid", "expired")
    assert stripe_may("paid", "payment_failed")


@pytest.mark.parametrize("current", ["paid", "shipped", "delivered", "refunded", "needs_review"])
def test_a_paid_event_again_is_a_duplicate_once_paid_or_reviewed(current):
    assert not stripe_may("paid", current)


@pytest.mark.parametrize("current", ["pending", "awaiting_payment", "payment_failed", "expired", "refunded"])
def test_only_a_paid_order_can_be_refunded(current):
    assert not stripe_may("refund", current)


def test_a_dispute_moves_no_order():
    assert not any(stripe_may("dispute", s) for s in STATUSES)


def test_reconciliation_looks_again_only_at_open_or_lapsed_checkouts():
    assert set(STATUSES) - lifecycle.COMPLETED == {"pending", "expired"}
