"""Who may act as the owner: the credential limit, the production rule for secrets, and session lifetimes.

SPEC section 8. One failed-credential limit per client address covers the login form and Bearer
tokens together, counted and checked in one store script (``owner_attempt.lua``). A session cookie
carries the store's session generation (logout bumps it), a keyed fingerprint of OWNER_PASSWORD (a
new password ends every session) and its login and last-seen times (12 h idle, 7 days at most), all
judged by the shop's clock.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import time
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass

from shop.errors import NotConfigured, ShopError

log = logging.getLogger("shop.owner")

# The value .env.example ships with (tests/test_owner_access.py checks the file still says so).
EXAMPLE_OWNER_PASSWORD = "change-me"
MIN_OWNER_PASSWORD = 12
MIN_SECRET_KEY = 32

FAILURE_LIMIT = 5  # wrong credentials per address per window; the next one is refused
FAILURE_WINDOW_SECONDS = 60
ALERT_FAILURES = 20  # wrong credentials (all addresses) within an hour that raise a warning and an alert
HOUR_SECONDS = 3600
FAILURES_KEPT = 200

SESSION_IDLE_SECONDS = 12 * 3600
SESSION_MAX_SECONDS = 7 * 86400
SEEN_REFRESH_SECONDS = 60  # the cookie's last-seen time is rewritten at most once a minute


class TooManyAttempts(ShopError):
    """Too many wrong owner credentials from one address: 429 with Retry-After."""

    status = 429


def weak_secret(settings) -> str | None:
    """In production, what makes the owner's secrets too weak to open Owner Mode (None: they are fine).

    Outside production the same rule is only a warning on the health page.
    """
    password, secret_key = settings.owner_password, settings.secret_key
    if password and len(password) < MIN_OWNER_PASSWORD:
        return (
            f"OWNER_PASSWORD is shorter than {MIN_OWNER_PASSWORD} characters: set it to a long passphrase "
            "(at least 12 characters) and redeploy; Owner Mode stays closed until then"
        )
    if password == EXAMPLE_OWNER_PASSWORD:
        return (
            "OWNER_PASSWORD is still the example value from .env.example: set it to a passphrase of your own "
            "(at least 12 characters) and redeploy; Owner Mode stays closed until then"
        )
    if len(secret_key or "") < MIN_SECRET_KEY:
        return (
            f"SECRET_KEY is shorter than {MIN_SECRET_KEY} characters: set it to a long random value "
            "(python -c 'import secrets; print(secrets.token_hex(32))') and redeploy; Owner Mode stays closed until then"
        )
    return None


@dataclass(frozen=True)
class Attempt:
    verdict: str  # ok | wrong | limited
    retry_after: int
    generation: int


class OwnerAccess:
    """The owner's credentials and sessions, on the shop's store and clock."""

    def __init__(self, store, settings, notifier, clock=time.time):
        self.store = store
        self.settings = settings
        self.notifier = notifier
        self.clock = clock
        self.weakness = weak_secret(settings)

    def require_open(self) -> None:
        """Refuse (503) Owner Mode and the owner API while a production secret breaks the rule."""
        if self.settings.production and self.weakness:
            raise NotConfigured(self.weakness)

    # -- credentials ------------------------------------------------------------

    def try_credential(self, given: str, address: str, route: str) -> Attempt:
        """Compare one password or token (constant time), then count and check it for ``address``.

        Raises:
            TooManyAttempts: the address is over the limit; the credential is refused even if right.
        """
        expected = self.settings.owner_password or ""
        right = bool(expected) and hmac.compare_digest(given.encode(), expected.encode())
        answer = self.store.owner_attempt(
            address,
            {
                "now": int(self.clock() * 1000),
                "ok": right,
                "limit": FAILURE_LIMIT,
                "window_ms": FAILURE_WINDOW_SECONDS * 1000,
                "hour_ms": HOUR_SECONDS * 1000,
                "alert_at": ALERT_FAILURES,
                "keep": FAILURES_KEPT,
                "entry": f"{route[:100]}|{address[:64]}",
            },
        )
        attempt = Attempt(answer["verdict"], int(answer["wait"]), int(answer["generation"]))
        if attempt.verdict == "wrong":
            log.warning("wrong owner credential from %s on %s", address, route)
        elif attempt.verdict == "limited":
            log.warning(
                "owner credential refused (429, %d s left) from %s on %s: more than %d wrong in %d s",
                attempt.retry_after,
                address,
                route,
                FAILURE_LIMIT,
                FAILURE_WINDOW_SECONDS,
            )
        if answer["alert"]:
            self.notifier.send(
                "owner_credentials",
                f"{ALERT_FAILURES} or more wrong owner passwords or tokens in the last hour (latest from {address} "
                f"on {route}). If it was not you, set a new long OWNER_PASSWORD and redeploy.",
            )
        if attempt.verdict == "limited":
            raise TooManyAttempts(
                f"too many wrong owner passwords from this address: wait {attempt.retry_after} seconds, then try again",
                retry_after=attempt.retry_after,
            )
        return attempt

    # -- sessions ---------------------------------------------------------------

    def fingerprint(self) -> str:
        """A keyed hash of OWNER_PASSWORD (never the password): a cookie from before a change no longer matches."""
        key = (self.settings.secret_key or "dev-only-not-secret").encode()
        return hmac.new(
            key, b"owner-password:" + (self.settings.owner_password or "").encode(), hashlib.sha256
        ).hexdigest()[:32]

    def start_session(self, session: MutableMapping, generation: int) -> None:
        now = int(self.clock())
        session.update({"owner": True, "gen": generation, "pw": self.fingerprint(), "since": now, "seen": now})

    def session_ended(self, session: Mapping, generation) -> str | None:
        """Why an owner session is over (None: it is valid).

        ``generation()`` reads the store, last and once; with ``generation=None`` only the cookie is judged
        (a page judges the generation after its own reads, before anything is sent).
        """
        if not session.get("owner"):
            return "not logged in"
        now = self.clock()
        if not hmac.compare_digest(str(session.get("pw", "")), self.fingerprint()):
            return "OWNER_PASSWORD changed since this login"
        since, seen = session.get("since"), session.get("seen")
        if not isinstance(since, int) or not isinstance(seen, int):
            return "a session from before lifetimes were kept"
        if now - since >= SESSION_MAX_SECONDS:
            return "older than 7 days"
        if now - seen >= SESSION_IDLE_SECONDS:
            return "idle for 12 hours"
        if generation is not None and session.get("gen") != generation():
            return "logged out"
        return None

    def touch(self, session: MutableMapping) -> None:
        """Move the last-seen time on, at most once a minute (each move rewrites the cookie)."""
        now = int(self.clock())
        if now - session.get("seen", 0) >= SEEN_REFRESH_SECONDS:
            session["seen"] = now

    def end_sessions(self) -> None:
        self.store.end_owner_sessions()
