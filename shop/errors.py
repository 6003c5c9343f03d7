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
