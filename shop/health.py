"""Is the shop able to take orders? Each check says what is wrong and how to fix it.

A check is one small function of the facts health's one pipeline read (``gather``), the settings and
the clock (a ``Seen``); ``CHECKS`` runs them in the order an owner fixes things. The Stripe side
(``stripe=True``: one API call) is a second list, ``ENDPOINT_CHECKS``, on the endpoint Stripe names.
Reading health never replays the ledger: the stock check shows the last comparison the owner asked for.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from shop import owner_access
from shop.errors import ShopError

if TYPE_CHECKING:
    from shop.catalog import Catalog
    from shop.config import Settings

VERIFY_FIX = (
    "On the webhook health page press 'Compare stock with the ledger', or run: flask stock verify. "
    "It reads the whole ledger, so it runs only when asked."
)
WEEK_SECONDS = 7 * 86400
DAY_SECONDS = 86400


def _check(name: str, level: str, detail: str, fix: str = "") -> dict:
    return {"name": name, "level": level, "ok": level != "fail", "detail": detail, "fix": fix}


def _warn_if(name: str, warn: bool, detail: str, fix: str) -> dict:
    """A check that warns (with its fix) when ``warn`` holds, and is ok (no fix) otherwise."""
    return _check(name, "warn" if warn else "ok", detail, fix if warn else "")


def _age(seconds: float) -> str:
    if seconds < 120:
        return f"{int(seconds)} s ago"
    if seconds < 7200:
        return f"{int(seconds // 60)} min ago"
    if seconds < 172800:
        return f"{int(seconds // 3600)} h ago"
    return f"{int(seconds // 86400)} days ago"


def days_back(clock, n: int = 7) -> list[str]:
    """Today and the days before it (UTC), YYYYMMDD, newest first."""
    now = datetime.fromtimestamp(clock(), tz=UTC)
    return [(now - timedelta(days=i)).strftime("%Y%m%d") for i in range(n)]


def gather(shop, clock=time.time, *, orders: int = 0, attention: int = 0) -> dict:
    """What health (and Today) read from the store: one pipeline. Raises ShopError if the store cannot answer."""
    return shop.store.owner_snapshot(
        secrets.token_hex(8),
        days_back(clock),
        orders=orders,
        attention=attention,
        owner_failures=owner_access.FAILURES_KEPT,
    )


@dataclass(frozen=True)
class Seen:
    """What every check judges: the settings, the catalog, the store's facts and the clock.

    ``facts`` is None when no store is configured or it did not answer (``store_error`` says why):
    the checks that need the store then say nothing, and the store check says what to fix.
    """

    settings: Settings
    catalog: Catalog
    store_description: str
    facts: dict | None
    store_error: str | None
    clock: Callable[[], float]

    def ago(self, at_ms) -> float:
        """Seconds since a store timestamp (milliseconds)."""
        return self.clock() - int(at_ms) / 1000


def read_facts(shop, clock, facts: dict | None = None) -> Seen:
    """The one store read (``gather``) unless ``facts`` were read already; a store that fails is a fact too."""
    error = None
    if shop.settings.store.kind == "none":
        facts = None
    elif facts is None:
        try:
            facts = gather(shop, clock)
        except ShopError as e:
            error = e.message
    # Only a store that answered is asked its description: a backend that failed to start would fail again.
    description = shop.store.description if facts is not None else ""
    return Seen(shop.settings, shop.catalog, description, facts, error, clock)


# -- configuration --------------------------------------------------------------


def webhook_secret(seen: Seen) -> list[dict]:
    secrets_ = seen.settings.webhook_secrets
    if not secrets_:
        return [
            _check(
                "webhook_secret",
                "fail",
                "STRIPE_WEBHOOK_SECRET is not set: every Stripe event is refused (503).",
                "Copy the endpoint's signing secret (whsec_...) from Stripe Dashboard > Developers > Webhooks "
                "into STRIPE_WEBHOOK_SECRET and redeploy.",
            )
        ]
    if not all(x.startswith("whsec_") for x in secrets_):
        return [
            _check(
                "webhook_secret",
                "fail",
                "STRIPE_WEBHOOK_SECRET is set but a value does not look like whsec_...",
                "Use the endpoint's signing secret (whsec_...), not an API key.",
            )
        ]
    return [_check("webhook_secret", "ok", f"{len(secrets_)} signing secret(s) set, shaped whsec_...")]


def stripe_key(seen: Seen) -> list[dict]:
    s = seen.settings
    if s.stripe_secret_key:
        return [_check("stripe_key", "ok", f"STRIPE_SECRET_KEY is set ({s.key_mode or 'a'} key)")]
    return [
        _check(
            "stripe_key",
            "fail",
            "STRIPE_SECRET_KEY is not set: checkout cannot open Stripe sessions, so shoppers cannot pay, "
            "and line items cannot be looked up.",
            "Set STRIPE_SECRET_KEY to the secret key from Stripe Dashboard > Developers > API keys "
            "(sk_live_... for real sales, sk_test_... to try things out), then redeploy.",
        )
    ]


def store(seen: Seen) -> list[dict]:
    s = seen.settings
    if s.store.kind == "none":
        return [
            _check(
                "store",
                "fail",
                "No store is configured: orders cannot be saved, Stripe events get 503.",
                "Connect an Upstash / Vercel KV database (KV_REST_API_URL + KV_REST_API_TOKEN) or set REDIS_URL, then redeploy.",
            )
        ]
    if seen.facts is None:
        return [
            _check(
                "store",
                "fail",
                f"{s.store.kind} store ({s.store.source}): {seen.store_error}",
                "Check the store's address and token, and that the database is running.",
            )
        ]
    works = seen.facts["probe_ok"]
    return [
        _check(
            "store",
            "ok" if works else "fail",
            f"{seen.store_description}: write and read back " + ("work" if works else "returned a different value"),
            "" if works else "Check that the store is not read-only or evicting keys.",
        )
    ]


# -- what the store says ----------------------------------------------------------


def _with_facts(check: Callable[[Seen, dict], list[dict]]) -> Callable[[Seen], list[dict]]:
    """A check of the store's facts: says nothing when the store did not answer (the store check says why)."""

    def run(seen: Seen) -> list[dict]:
        return [] if seen.facts is None else check(seen, seen.facts)

    run.__name__ = run.__qualname__ = check.__name__
    run.__doc__ = check.__doc__
    return run


# An ignored event's mode -> (level, what it means, what to do): a live event on a test key loses real orders.
_MODE_MISMATCH = {
    "live": (
        "fail",
        " Real payments reach a shop running on a test key: their orders are not recorded.",
        "Point the live endpoint (Stripe Dashboard > Developers > Webhooks, test mode off) at the live shop, "
        "or give this shop its live key (sk_live_...) and the live endpoint's signing secret; then "
        "recover the ignored payments: flask reconcile --since 72h --apply",
    ),
    "test": (
        "warn",
        " A test-mode endpoint is wired to this live shop.",
        "In Stripe Dashboard (test mode on) > Developers > Webhooks, point that test endpoint at your test "
        "shop, or delete it; the live endpoint stays as it is.",
    ),
}


@_with_facts
def stripe_mode(seen: Seen, facts: dict) -> list[dict]:
    """The last event ignored because its mode is not the key's (SPEC section 4), while that still holds."""
    mismatch, key_mode = facts["livemode_mismatch"], seen.settings.key_mode
    if not mismatch.get("at") or key_mode is None:
        return []
    event_mode = "live" if mismatch.get("livemode") == "true" else "test"
    age = seen.ago(mismatch["at"])
    if event_mode == key_mode or age > WEEK_SECONDS:
        return []  # the key was changed since, or it is a week old
    what = (
        f"Stripe event {mismatch.get('id')} ({mismatch.get('type')}, {_age(age)}) was a {event_mode}-mode event "
        f"but STRIPE_SECRET_KEY is a {key_mode} key, so it was ignored: no order, no stock change."
    )
    level, meaning, fix = _MODE_MISMATCH[event_mode]
    return [_check("stripe_mode", level, what + meaning, fix)]


@_with_facts
def chapters(seen: Seen, facts: dict) -> list[dict]:
    """One check per chapter: is its stock initialized (else its sales take no stock)?"""
    checks = []
    for chapter in seen.catalog.chapters:
        name = f"chapter:{chapter.id}"
        if chapter.id in facts["initialized_chapters"]:
            checks.append(_check(name, "ok", f"{chapter.name} stock is initialized"))
            continue
        checks.append(
            _check(
                name,
                "warn",
                f"{chapter.name} stock is not initialized: its sales are recorded but no stock is taken.",
                f"Initialize {chapter.name} in Owner Mode (Stock > {chapter.name}) or: flask stock init {chapter.id}",
            )
        )
    return checks


@_with_facts
def last_event(seen: Seen, facts: dict) -> list[dict]:
    last = facts["last_event"]
    if not last.get("at"):
        return [
            _check(
                "last_event",
                "warn",
                "no Stripe event received yet",
                "Send a test event: stripe trigger checkout.session.completed, or Dashboard > Webhooks > Send test event.",
            )
        ]
    detail = (
        f"last Stripe event {last.get('id')} ({last.get('type')}) {_age(seen.ago(last['at']))}, "
        f"answered {last.get('outcome')}"
    )
    return [_check("last_event", "ok", detail)]


@_with_facts
def stock_ledger(seen: Seen, facts: dict) -> list[dict]:
    """The last comparison of the counters with the ledger replay, and its age: never run by reading a page."""
    result = facts["stock_verified"]
    if result is None:
        return [
            _check("stock_ledger", "warn", "the stock counters have not been compared with the ledger yet", VERIFY_FIX)
        ]
    age = seen.ago(result["checked_at"])
    when, entries = _age(age), result["entries"]
    if result["ok"] and age > WEEK_SECONDS:
        detail = f"stock counters matched the ledger when last compared, {when} ({entries} entries)"
        return [_check("stock_ledger", "warn", detail, VERIFY_FIX)]
    if result["ok"]:
        return [_check("stock_ledger", "ok", f"stock counters match the ledger ({entries} entries, checked {when})")]
    drift = "; ".join(
        f"{d['sku']} {d['field']}: counter {d['counter']}, ledger {d['ledger']}" for d in result["drift"][:10]
    )
    return [
        _check(
            "stock_ledger",
            "fail",
            f"stock counters differ from the ledger (checked {when}): {drift}",
            "Something changed stock outside the shop's scripts. Count the shelf, set the true numbers in Owner "
            "Mode (the ledger records the correction), then run: flask stock verify",
        )
    ]


def _outcomes(days: list[dict]) -> dict[str, int]:
    totals: dict[str, int] = {}
    for day in days:
        for field, n in day.items():
            outcome = field.rsplit("|", 1)[-1]
            totals[outcome] = totals.get(outcome, 0) + int(n)
    return totals


def _outcome_summary(totals: dict[str, int]) -> str:
    text = ", ".join(f"{totals.get(k, 0)} {k}" for k in ("applied", "duplicate", "ignored", "rejected"))
    mismatched = totals.get("livemode_mismatch", 0)
    return text + (f", {mismatched} ignored for their Stripe mode" if mismatched else "")


@_with_facts
def events(seen: Seen, facts: dict) -> list[dict]:
    """Applied / duplicate / ignored / rejected deliveries today (UTC) and over 7 days."""
    counts = facts["event_counts"]
    today, week = _outcomes(counts[:1]), _outcomes(counts)
    rejected_today = today.get("rejected", 0)
    return [
        _warn_if(
            "events",
            bool(rejected_today),
            f"today: {_outcome_summary(today)}; 7 days: {_outcome_summary(week)}. Failed deliveries (5xx) are "
            "retried by Stripe and show here once applied; the store cannot count its own outages.",
            "Deliveries were refused for a bad signature today: if they are Stripe's, STRIPE_WEBHOOK_SECRET "
            "is not this endpoint's signing secret.",
        )
    ]


@_with_facts
def webhook_errors(seen: Seen, facts: dict) -> list[dict]:
    errors = facts["webhook_errors"]
    if not errors:
        return []
    latest = "; ".join(f"{_age(seen.ago(e['at']))}: {e['error']}" for e in errors[:3])
    recent = any(seen.ago(e["at"]) < DAY_SECONDS for e in errors)
    return [
        _warn_if(
            "webhook_errors",
            recent,
            f"latest refused or failed deliveries: {latest}",
            "If these are real Stripe events, check STRIPE_WEBHOOK_SECRET and the store; Stripe "
            "retries failed deliveries for 3 days.",
        )
    ]


@_with_facts
def alerts(seen: Seen, facts: dict) -> list[dict]:
    """Alerts that did not reach ALERT_WEBHOOK_URL in the last day (only when it is set)."""
    if not seen.settings.alert_webhook_url:
        return []
    recent = [f for f in facts["alert_failures"] if seen.ago(f["at"]) < DAY_SECONDS]
    if not recent:
        return [_check("alerts", "ok", "alerts reach ALERT_WEBHOOK_URL")]
    detail = "; ".join(f"{_age(seen.ago(f['at']))}: {f['kind']} ({f['error']})" for f in recent)
    return [
        _check(
            "alerts",
            "warn",
            f"alerts that did not reach ALERT_WEBHOOK_URL: {detail}",
            "Check the incoming-webhook address in Slack or Discord and set ALERT_WEBHOOK_URL again.",
        )
    ]


# -- the owner's side (SPEC section 8) and production ----------------------------------


def owner_password(seen: Seen) -> list[dict]:
    if seen.settings.owner_password:
        return []
    return [
        _check(
            "owner_password",
            "fail",
            "OWNER_PASSWORD is not set: Owner Mode and the owner API are closed.",
            "Set OWNER_PASSWORD to a long passphrase and redeploy.",
        )
    ]


def owner_secrets(seen: Seen) -> list[dict]:
    """Secrets too weak for production: Owner Mode is closed there, a warning elsewhere."""
    weakness = owner_access.weak_secret(seen.settings)
    if not weakness:
        return []
    production = seen.settings.production
    closed = "Owner Mode is closed (503): " if production else "In production Owner Mode would be closed: "
    detail, fix = closed + weakness.split(":")[0], weakness.split(": ", 1)[1]
    return [_check("owner_secrets", "fail" if production else "warn", detail, fix)]


@_with_facts
def owner_credentials(seen: Seen, facts: dict) -> list[dict]:
    """Wrong owner passwords or tokens in the last hour, from the latest ones health's pipeline read."""
    entries = facts["owner_failures"]
    hour_ms = owner_access.HOUR_SECONDS * 1000
    now_ms = seen.clock() * 1000
    recent = [e.split("|", 2) for e in entries if now_ms - int(e.split("|", 1)[0]) < hour_ms]
    if len(recent) < owner_access.ALERT_FAILURES:
        return [_check("owner_credentials", "ok", f"{len(recent)} wrong owner passwords or tokens in the last hour")]
    _, route, address = recent[0]
    count = f"{len(recent)}+" if len(recent) == len(entries) == owner_access.FAILURES_KEPT else str(len(recent))
    return [
        _check(
            "owner_credentials",
            "warn",
            f"{count} wrong owner passwords or tokens in the last hour; the latest from {address} on {route}.",
            "If this was not you, someone is guessing: set a new long OWNER_PASSWORD and redeploy. Each address is "
            f"refused for {owner_access.FAILURE_WINDOW_SECONDS} s after {owner_access.FAILURE_LIMIT} wrong tries.",
        )
    ]


def public_url(seen: Seen) -> list[dict]:
    s = seen.settings
    if not s.production:
        return []
    url = urlsplit(s.public_url or "")
    if url.scheme == "https" and url.hostname not in (None, "localhost", "127.0.0.1"):
        return [_check("public_url", "ok", f"PUBLIC_URL is {s.public_url}")]
    return [
        _check(
            "public_url",
            "fail",
            f"PUBLIC_URL is {s.public_url or 'not set'}: Stripe sends shoppers back there.",
            "Set PUBLIC_URL to the shop's public https:// address.",
        )
    ]


def config_warnings(seen: Seen) -> list[dict]:
    return [_check("config", "warn", warning) for warning in seen.settings.warnings]


# In the order an owner fixes things: what stops payments first, then what the store says, then the rest.
CHECKS: tuple[Callable[[Seen], list[dict]], ...] = (
    webhook_secret,
    stripe_key,
    store,
    stripe_mode,
    chapters,
    last_event,
    stock_ledger,
    events,
    webhook_errors,
    alerts,
    owner_password,
    owner_secrets,
    owner_credentials,
    public_url,
    config_warnings,
)


def run_checks(shop, clock=time.time, stripe: bool = False, facts: dict | None = None) -> dict:
    """All checks, in the order an owner would fix them; ``stripe`` adds the Stripe side (an API call).

    The store is read once (``gather``: one pipeline), or not at all when ``facts`` are given.
    """
    seen = read_facts(shop, clock, facts)
    checks = [result for check in CHECKS for result in check(seen)]
    if stripe:
        checks.extend(stripe_checks(shop))
    return {"ok": all(c["ok"] for c in checks), "checks": checks}


# -- the Stripe side: one API call ----------------------------------------------------------


@dataclass(frozen=True)
class Endpoint:
    """The webhook endpoint Stripe sends this shop's events to, and the address it should have."""

    data: dict
    target: str
    key_live: bool


def _stripe_unaskable(settings) -> dict | None:
    """Why Stripe cannot be asked about the endpoint (None: it can)."""
    if not settings.stripe_secret_key:
        return _check(
            "stripe_endpoint",
            "fail",
            "STRIPE_SECRET_KEY is not set, so Stripe cannot be asked.",
            "Set STRIPE_SECRET_KEY (Dashboard > Developers > API keys).",
        )
    if not settings.public_url:
        return _check(
            "stripe_endpoint",
            "fail",
            "PUBLIC_URL is not set, so the endpoint's address is unknown.",
            "Set PUBLIC_URL to the shop's public https:// address.",
        )
    return None


def _find_endpoint(shop, target: str) -> Endpoint | dict:
    """The enabled-or-not endpoint at ``target`` as Stripe lists it, or the failed check that says why not."""
    from shop.stripe_events import HANDLED_EVENTS

    try:
        endpoints = shop.gateway.webhook_endpoints()
    except ShopError as e:
        return _check(
            "stripe_endpoint",
            "fail",
            f"Stripe could not be asked: {e.message}",
            "Check STRIPE_SECRET_KEY and that the server can reach api.stripe.com.",
        )
    matching = [e for e in endpoints if (e.get("url") or "").rstrip("/") == target]
    if matching:
        return Endpoint(matching[0], target, shop.settings.key_mode == "live")
    others = ", ".join(e.get("url") or "?" for e in endpoints) or "none"
    return _check(
        "stripe_endpoint",
        "fail",
        f"No Stripe webhook endpoint sends events to {target} (endpoints: {others}).",
        f"Dashboard > Developers > Webhooks > Add endpoint: URL {target}, events: {', '.join(HANDLED_EVENTS)}; "
        "then put its signing secret into STRIPE_WEBHOOK_SECRET.",
    )


def endpoint_enabled(endpoint: Endpoint) -> list[dict]:
    data, target = endpoint.data, endpoint.target
    if data.get("status") == "enabled":
        return [_check("stripe_endpoint", "ok", f"endpoint {data['id']} is enabled for {target}")]
    return [
        _check(
            "stripe_endpoint",
            "fail",
            f"The endpoint {data['id']} is {data.get('status')}: "
            "Stripe sends it nothing (it disables endpoints that fail for days).",
            f"Dashboard > Developers > Webhooks > {target} > Enable; then reconcile: flask reconcile --since 72h --apply",
        )
    ]


def endpoint_events(endpoint: Endpoint) -> list[dict]:
    from shop.stripe_events import HANDLED_EVENTS

    enabled = set(endpoint.data.get("enabled_events") or [])
    missing = [] if "*" in enabled else [t for t in HANDLED_EVENTS if t not in enabled]
    if not missing:
        return [_check("stripe_events", "ok", "the endpoint sends every event the shop handles")]
    return [
        _check(
            "stripe_events",
            "fail",
            f"The endpoint does not send: {', '.join(missing)}.",
            f"Dashboard > Developers > Webhooks > {endpoint.target} > Update details > add those events.",
        )
    ]


def endpoint_mode(endpoint: Endpoint) -> list[dict]:
    endpoint_live = endpoint.data.get("livemode") is True
    if endpoint.key_live == endpoint_live:
        return []
    return [
        _check(
            "stripe_mode",
            "fail",
            f"STRIPE_SECRET_KEY is a {'live' if endpoint.key_live else 'test'} key but the endpoint is in "
            f"{'live' if endpoint_live else 'test'} mode.",
            "Use the key and the endpoint (and its signing secret) of the same mode.",
        )
    ]


ENDPOINT_CHECKS: tuple[Callable[[Endpoint], list[dict]], ...] = (endpoint_enabled, endpoint_events, endpoint_mode)


def stripe_checks(shop) -> list[dict]:
    """The Stripe side, through its API: is there an enabled endpoint at PUBLIC_URL for every handled event?"""
    unaskable = _stripe_unaskable(shop.settings)
    if unaskable:
        return [unaskable]
    found = _find_endpoint(shop, shop.settings.public_url + "/api/webhooks/stripe")
    if not isinstance(found, Endpoint):
        return [found]
    return [result for check in ENDPOINT_CHECKS for result in check(found)]
