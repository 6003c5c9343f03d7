"""An order's life: its statuses, the moves Stripe's events make, the moves the owner makes.

The one source of truth for both languages: the store's scripts receive the statuses a move may
start from (``Move.source``) with each call, and ``shop.store.keys`` builds one index per status.

    pending --(paid)--> paid --(owner)--> shipped --(owner)--> delivered
       |  \\--(unpaid)--> awaiting_payment --(paid)--> paid        \\--(refund)--> partially_refunded / refunded
       |--(failed)--> payment_failed --(paid: a later success)--> paid
       \\--(expired)--> expired --(paid: a late payment)--> paid
    A paid event that names nothing this shop sells: needs_review --(owner)--> paid
"""

from __future__ import annotations

from dataclasses import dataclass

STATUSES = (
    "pending",
    "awaiting_payment",
    "paid",
    "shipped",
    "delivered",
    "payment_failed",
    "expired",
    "refunded",
    "partially_refunded",
    "needs_review",
)

# How far on an order is: a move never goes to a lower rank. Statuses of one rank are alternatives.
RANK = {
    "pending": 0,
    "awaiting_payment": 1,
    "expired": 2,
    "payment_failed": 2,
    "needs_review": 3,
    "paid": 4,
    "shipped": 5,
    "delivered": 6,
    "partially_refunded": 7,
    "refunded": 8,
}


@dataclass(frozen=True)
class Move:
    """From which statuses a move may start, and the statuses it may end in."""

    source: tuple[str, ...]
    target: tuple[str, ...]

    def allows(self, status: str | None) -> bool:
        return status in self.source


# What each kind of Stripe event may do to an existing order. From any other status the event
# comes too late (or again): it is a duplicate. A dispute moves nothing (it flags the order).
STRIPE_MOVES = {
    "paid": Move(("pending", "awaiting_payment", "expired", "payment_failed"), ("paid", "needs_review")),
    "unpaid": Move(("pending",), ("awaiting_payment",)),
    "failed": Move(("pending", "awaiting_payment"), ("payment_failed",)),
    "expired": Move(("pending",), ("expired",)),
    # A second partial refund keeps the order partially refunded, with more refunded.
    "refund": Move(("paid", "shipped", "delivered", "partially_refunded"), ("partially_refunded", "refunded")),
}

# What the owner may set by hand (target -> the statuses it may come from). Stripe drives the rest.
OWNER_MOVES = {
    "shipped": ("paid",),
    "delivered": ("shipped",),
    "paid": ("needs_review",),
}

# What a shopper's checkout does to its order: starting one stores a new order, letting it go (the shopper
# cancels, or Stripe would not open the session) ends it before any payment.
CHECKOUT_MOVES = {
    "start": Move((), ("pending",)),
    "release": Move(("pending",), ("expired",)),
}

# The statuses in which the owner may put an order's units back on the shelf: after a refund.
RESTOCKABLE = ("refunded", "partially_refunded")

# A checkout whose completion the order already knows (reconciliation has nothing to add): every
# status but the open checkout and the lapsed one.
COMPLETED = frozenset(s for s in STATUSES if s not in ("pending", "expired"))


def owner_may(current: str | None, target: str) -> bool:
    """Whether the owner may move an order in ``current`` to ``target`` by hand."""
    return current in OWNER_MOVES.get(target, ())


def stripe_may(kind: str, current: str | None) -> bool:
    """Whether an event of ``kind`` may move an order in ``current`` (a dispute never moves one)."""
    move = STRIPE_MOVES.get(kind)
    return move is not None and move.allows(current)
