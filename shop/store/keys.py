"""Every Redis key of a shop, built in one place.

All keys share the Redis Cluster hash tag ``{shop}``, so every key one script
touches lives in the same slot: the same scripts run on one Redis, on Upstash
and on a Redis Cluster.
"""

from __future__ import annotations

import hashlib

from shop.lifecycle import STATUSES

TAG = "{shop}"


def key(*parts: str) -> str:
    """Build ``{shop}:part:part`` from its parts."""
    return ":".join((TAG, *parts))


STOCK = key("stock")  # hash sku -> units on hand
HELD = key("held")  # hash sku -> units held by open checkouts
HOLDS = key("holds")  # zset "order|chapter|sku|qty" -> hold end (ms; +inf: until paid)
CHAPTERS = key("chapters")  # hash chapter id -> ms when it was initialized
LEDGER = key("ledger")  # stream of stock changes
ORDERS = key("orders")  # lex zset "created_ms|order id", newest last
SESSION_ORDERS = key("session_orders")  # hash Checkout Session id -> order id
PAYMENT_ORDERS = key("payment_orders")  # hash PaymentIntent id -> order id; "<id>|limit_email" -> its customer
ATTENTION = key("orders", "attention")  # lex zset of orders with a flag the owner should see
ALERT_ACKS = key("alerts", "ack")  # hash alert id -> ms the owner acknowledged it
ALERT_FAILURES = key("alerts", "failed")  # list: latest alerts ALERT_WEBHOOK_URL did not take, capped
WEBHOOK = key("webhook")  # hash: the last event received, for health
WEBHOOK_LIVEMODE = key("webhook", "livemode")  # hash: the last event ignored for its livemode, for health
WEBHOOK_ERRORS = key("webhook", "errors")  # list: latest refused deliveries, newest first, capped
STATS_TOTAL = key("stats", "total")  # hash "type|outcome" -> count, forever
PROBE = key("probe")  # written by the health check's round trip
STOCK_VERIFIED = key("stock", "verified")  # JSON: the last comparison of the counters with the ledger
OWNER_GENERATION = key("owner", "generation")  # integer: bumped at logout, ends every owner session cookie
OWNER_FAILURES = key("owner", "failures")  # list: latest wrong owner credentials "ms|route|address", capped
OWNER_ALERTED = key("owner", "alerted")  # ms of the last "owner credentials under attack" alert
RELEASES = key("releases")  # hash chapter id -> JSON {"opens_at", "closes_at"} (ms or null): when it is on sale


def order(order_id: str) -> str:
    return key("order", order_id)


def event(event_id: str) -> str:
    return key("event", event_id)


def customer_orders(email: str | None) -> str:
    """Orders of one customer email (lex zset like ORDERS); the email is hashed, never a key in clear."""
    digest = hashlib.sha256((email or "").strip().lower().encode()).hexdigest()[:32]
    return key("orders", "email", digest)


def idempotency(idempotency_key: str | None) -> str:
    """The mark of a checkout's Idempotency-Key (hashed); a placeholder key when there is none."""
    digest = hashlib.sha256((idempotency_key or "").encode()).hexdigest()[:32] if idempotency_key else "none"
    return key("idem", digest)


def _digest(kind: str, value: str) -> str:
    return hashlib.sha256(f"{kind}:{value}".encode()).hexdigest()[:32]


def shopper(shopper_id: str) -> str:
    """String: the shopper's one open checkout, JSON {"order_id", "members"} (its hold members); lapses with it."""
    return key("shopper", _digest("shopper", shopper_id))


def address_holds(address: str) -> str:
    """Zset: hold members started from one client address -> hold end (ms); counted only while still in HOLDS."""
    return key("addr", _digest("addr", address), "holds")


def address_starts(address: str) -> str:
    """Zset: checkouts one client address started in the last minute (order id -> ms)."""
    return key("addr", _digest("addr", address), "starts")


def customer_paid(email: str | None) -> str:
    """Hash: units of each limited product one customer (normalized email) has paid for; a placeholder without one."""
    return key("customer", _digest("customer", email) if email else "none", "paid")


def customer_holds(email: str | None) -> str:
    """Zset: hold members of limited products one customer holds in open checkouts; counted only while in HOLDS."""
    return key("customer", _digest("customer", email) if email else "none", "holds")


def rate_limit(bucket: str) -> str:
    """Attempts of one client in one window (e.g. owner logins), hashed so no address is a key in clear."""
    return key("rate", hashlib.sha256(bucket.encode()).hexdigest()[:32])


def owner_attempts(address: str) -> str:
    """Wrong owner credentials from one client address in the current window (hashed: no address in clear)."""
    return key("owner", "attempts", hashlib.sha256(address.encode()).hexdigest()[:32])


def stats_day(day: str) -> str:
    """Per-day event counters; ``day`` is ``YYYYMMDD`` (UTC)."""
    return key("stats", "day", day)


def status_index(status: str) -> str:
    return key("orders", "status", status)


# One lex zset per status, in the order of ``STATUSES``; each key ends in its status name.
STATUS_INDEXES = tuple(status_index(s) for s in STATUSES)


# The keys every stock-moving script gets first, in this order (see scripts/_prelude.lua).
STOCK_KEYS = [STOCK, HELD, HOLDS, CHAPTERS, LEDGER]


# -- the line (SPEC section 7): one set of keys per chapter ------------------------------------------


def line(chapter: str, part: str) -> str:
    """One key of a chapter's line: ``arrivals`` (zset ticket -> arrival ms), ``shuffle`` (zset ticket -> random
    draw, tickets joined before opens_at), ``draws`` (hash ticket -> draw), ``addrs`` (hash address digest ->
    tickets), ``passes`` (hash ticket -> ms issued), ``stats`` (hash of counters)."""
    return key("line", chapter, part)


def line_address(address: str) -> str:
    """The field an address's ticket count is kept under (hashed: no address in clear)."""
    return _digest("line-addr", address)
