"""Drops (SPEC section 7): when a chapter is on sale, and who may buy how much of it.

Pure rules, no store and no clock of their own: the release state of a chapter at a time,
the owner's times read and written, a customer's email made comparable, the per-customer
limit arithmetic. The store's scripts apply the same rules atomically (checkout_hold.lua,
event_paid.lua); these functions are what the pages, the owner API and the tests use.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from shop.errors import BadRequest
from shop.line import check_queue

STATES = ("scheduled", "open", "closed")
TIME_FORM = "ISO-8601 with a time zone, e.g. 2026-12-04T17:00Z or 2026-12-04T18:00+01:00"
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,255}\.[^@\s]{2,63}$")


def parse_time(value, what: str) -> int | None:
    """An owner's ISO-8601 time (with a zone) -> ms since the epoch; None stays None."""
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise BadRequest(f"{what} must be a time written as {TIME_FORM}, or null")
    text = value.strip()
    try:
        moment = datetime.fromisoformat(text[:-1] + "+00:00" if text[-1:] in "zZ" else text)
    except ValueError:
        raise BadRequest(f"{what} {value!r} is not a time this shop can read: write it as {TIME_FORM}") from None
    if moment.tzinfo is None:
        raise BadRequest(
            f"{what} {value!r} has no time zone, so it would mean a different moment to each shopper: "
            f"add Z (UTC) or an offset, as in {TIME_FORM}"
        )
    return int(moment.timestamp() * 1000)


def iso_utc(ms: int | None) -> str | None:
    """ms -> ``2026-12-04T17:00:00Z`` (what ``<time datetime>`` and the API carry)."""
    if ms is None:
        return None
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def owner_words(ms: int | None) -> str | None:
    """ms -> ``Fri 4 Dec 2026, 17:00 UTC`` for the owner's pages and the CLI."""
    if ms is None:
        return None
    moment = datetime.fromtimestamp(ms / 1000, tz=UTC)
    return f"{moment:%a} {moment.day} {moment:%b %Y, %H:%M} UTC"


def check_window(opens_ms: int | None, closes_ms: int | None) -> None:
    if opens_ms is not None and closes_ms is not None and closes_ms <= opens_ms:
        raise BadRequest("closes_at must be after opens_at: a chapter cannot close before it opens")


def state(opens_ms: int | None, closes_ms: int | None, now_ms: int) -> str:
    """scheduled before opens_at, closed from closes_at, open otherwise (no release: open)."""
    if opens_ms is not None and now_ms < opens_ms:
        return "scheduled"
    if closes_ms is not None and now_ms >= closes_ms:
        return "closed"
    return "open"


def release_json(stored: dict | None, now_ms: int) -> dict:
    """A chapter's ``release`` object (SPEC section 7) from what the store keeps: {"opens_at", "closes_at"} in ms."""
    stored = stored or {}
    opens, closes = stored.get("opens_at"), stored.get("closes_at")
    return {
        "opens_at": iso_utc(opens),
        "closes_at": iso_utc(closes),
        "state": state(opens, closes, now_ms),
        "queue": stored.get("queue"),
    }


def normalize_email(value) -> str | None:
    """The customer a per-customer limit counts: lower case, ``+tag`` taken off the local part.

    ``Foo+x@Example.com`` and ``foo@example.com`` are one customer. None for anything that is
    not an email address.
    """
    if not isinstance(value, str):
        return None
    text = value.strip().lower()
    if not _EMAIL.match(text):
        return None
    local, _, domain = text.rpartition("@")
    local = local.split("+", 1)[0]
    return f"{local}@{domain}" if local else None


def check_email(value) -> str:
    """The shopper's email for a product with a per-customer limit, or 400 saying what to send."""
    email = normalize_email(value)
    if email is None:
        raise BadRequest(
            "enter your email address (like name@example.com): this cart holds a piece sold one per customer"
        )
    return email


def over_limit(limit: int, held: int, paid: int, wanted: int) -> bool:
    """Whether ``wanted`` more units would take a customer past ``limit`` (open checkouts + paid orders)."""
    return held + paid + wanted > limit


def limit_words(name: str, limit: int) -> str:
    return "one per customer" if limit == 1 else f"at most {limit} per customer"


class Releases:
    """The owner sets when a chapter is on sale; everyone reads its state by the shop's clock.

    The clock is the inventory's, so a test that moves the shop's clock moves the release with it.
    """

    def __init__(self, store, inventory):
        self.store = store
        self.inventory = inventory

    def get(self, chapter_id: str) -> dict:
        self.inventory.chapter(chapter_id)
        return release_json(self.store.releases().get(chapter_id), self.inventory.now_ms())

    def all(self) -> dict[str, dict]:
        """Every chapter's release, in one read."""
        stored, now = self.store.releases(), self.inventory.now_ms()
        return {c.id: release_json(stored.get(c.id), now) for c in self.inventory.catalog.chapters}

    def set(self, chapter_id: str, body) -> dict:
        """``{"opens_at", "closes_at", "queue"}`` -> the chapter object with its new ``release``.

        A time left out or null is no bound; both null clears the release (open once initialized).
        ``queue`` (shop.line.check_queue) turns the waiting line on; its tickets survive any change.
        """
        chapter = self.inventory.chapter(chapter_id)
        if not isinstance(body, dict):
            raise BadRequest('send {"opens_at": "2026-12-04T17:00Z", "closes_at": null, "queue": null}')
        unknown = sorted(set(body) - {"opens_at", "closes_at", "queue"})
        if unknown:
            raise BadRequest(f"unknown field(s) {', '.join(unknown)}; a release takes opens_at, closes_at and queue")
        queue = check_queue(body.get("queue"))
        opens = parse_time(body.get("opens_at"), "opens_at")
        closes = parse_time(body.get("closes_at"), "closes_at")
        check_window(opens, closes)
        if queue is not None and opens is None:
            raise BadRequest("a waiting line needs opens_at: the line is let through from the opening time on")
        self.store.set_release(chapter.id, opens, closes, queue)
        return self.inventory.snapshot([chapter.id])[0]
