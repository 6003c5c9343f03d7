"""Every error the domain and the store raise, in one place.

The HTTP layer maps each class to one status code (``api/errors.py``); the
messages are written for the person who has to act on them.
"""

from __future__ import annotations


class ShopError(Exception):
    """Base class. ``status`` is the HTTP status the API answers with."""

    status = 400

    def __init__(self, message: str, **details):
        super().__init__(message)
        self.message = message
        self.details = details


class BadRequest(ShopError):
    status = 400


class NotFound(ShopError):
    status = 404


class Conflict(ShopError):
    status = 409


class Forbidden(ShopError):
    status = 403


class UnsupportedMediaType(ShopError):
    status = 415


class TooManyRequests(ShopError):
    """A rate limit: ``retry_after`` (seconds) becomes the Retry-After header."""

    status = 429


class NotConfigured(ShopError):
    """A setting the request needs is missing: the message names it."""

    status = 503


class StoreError(ShopError):
    """The store failed in a way nobody outside can fix by changing the request."""

    status = 500


class StoreUnavailable(StoreError):
    """The store could not be reached or answered with a fault: try again later."""

    status = 503


class StoreNotConfigured(StoreUnavailable, NotConfigured):
    """Production without an external store: writes are refused, never kept in memory."""


class StoreMisconfigured(StoreUnavailable):
    """The store answers but refuses us (read-only token, wrong password)."""


class NoScript(StoreError):
    """The script cache was flushed: load it again and retry."""


class PaymentProviderError(ShopError):
    """Stripe could not be reached or refused a call that should have worked."""

    status = 502


class ConfigError(Exception):
    """A setting is missing or malformed; raised once, at start."""


# -- what the store's scripts refuse, raised by their wrappers (shop/store/) -----------------------
# Each carries what the answer needs: the message and the JSON fields SPEC sections 5 to 7 name.


class OrderNotFound(NotFound):
    def __init__(self, order_id: str):
        super().__init__(f"no order {order_id!r}", order_id=order_id)


class StatusMoveRefused(Conflict):
    """The owner's move does not start from the order's status (shop/lifecycle.py OWNER_MOVES)."""

    def __init__(self, order_id: str, current: str, target: str, allowed: tuple[str, ...]):
        super().__init__(f"order {order_id} is {current}; it can become {target} only from {' or '.join(allowed)}")
        self.current = current


class NotRefundable(Conflict):
    def __init__(self, order_id: str, status: str):
        super().__init__(f"order {order_id} is {status}: only paid, shipped or delivered orders are refunded")


class NotRefunded(Conflict):
    def __init__(self, order_id: str, status: str):
        super().__init__(f"order {order_id} is {status}: only refunded orders can be restocked")


class RestockTooMany(Conflict):
    def __init__(self, skus: list[dict]):
        detail = ", ".join(f"{s['sku']}: {s['left']} left to restock" for s in skus)
        super().__init__(f"more units than the order sold and has not restocked yet ({detail})")


class ChapterNotInitialized(Conflict):
    """Stock of a chapter that is not tracked yet: the message names the chapter and what to do."""

    def __init__(self, message: str, chapter: str):
        super().__init__(message)
        self.chapter = chapter


class ChapterAlreadyInitialized(Conflict):
    def __init__(self, chapter_name: str):
        super().__init__(f"{chapter_name} is already initialized; use set or adjust to change its stock")


class StockBelowZero(Conflict):
    def __init__(self, skus: list[dict]):
        detail = ", ".join(f"{s['sku']} has {s['on_hand']}, change {s['delta']}" for s in skus)
        super().__init__(f"stock cannot go below zero: {detail}; nothing was changed", skus=skus)


class CheckoutRefused(Conflict):
    """The hold script refused a checkout (nothing was held); ``reason`` is its answer's name."""

    def __init__(self, message: str, reason: str, **details):
        super().__init__(message, **details)
        self.reason = reason


class CheckoutRateLimited(TooManyRequests):
    def __init__(self, retry_after: int):
        super().__init__(
            f"too many checkouts were started from your network in the last minute; "
            f"please wait {retry_after} seconds and try again",
            retry_after=retry_after,
        )


class LinePassRequired(Forbidden):
    """The chapter sells through a running waiting line and the shopper showed no pass for it: nothing was held.

    shop.checkout answers with the shopper's place in the line (shop.line.Line.refusal).
    """

    def __init__(self, chapter: str):
        super().__init__(f"{chapter} sells through a waiting line")
        self.chapter = chapter


class LineNotFound(NotFound):
    def __init__(self, chapter_name: str):
        super().__init__(f"{chapter_name} has no waiting line: it opens to everyone at its opening time")


class LineNotOpenYet(Conflict):
    def __init__(self, message: str, opens_at: str | None):
        super().__init__(message, opens_at=opens_at)


class LineRefused(Forbidden):
    """A join the line refuses: no shopper cookie, or the address already holds its most places."""
