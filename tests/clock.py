"""A clock the test moves, given to every part of the shop that reads the time."""

from __future__ import annotations

import time


class Clock:
    """The shop's clock, moved by the test: a hold lapses when the clock passes its end, with no waiting."""

    def __init__(self, now: float):
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def shop_clock(shop) -> Clock:
    """Give every part of the shop that reads the time (holds, orders, fulfilment) one movable clock."""
    clock = Clock(time.time())
    for part in (shop.inventory, shop.orders, shop.fulfillment, shop.checkout):
        part.clock = clock
    return clock
