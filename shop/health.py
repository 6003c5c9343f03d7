"""Is the shop able to take orders? Each check says what is wrong and how to fix it."""

from __future__ import annotations

import secrets
import time
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

from shop import owner_access
from shop.errors import ShopError


def _check(name: str, level: str, detail: str, fix: str = "") -> dict:
    return {"name": name, "level": level, "ok": level != "fail", "detail": detail, "fix": fix}


def _age(seconds: float) -> str:
    if seconds < 120:
        return f"{int(seconds)} s ago"
    if seconds < 7200:
        return f"{int(seconds // 60)} min ago"
    if seconds < 172800:
        return f"{int(seconds // 3600)} h ago"
    return f"{int(seconds // 86400)} days ago"


def _outcomes(days: list[dict]) -> dict[str, int]:
    totals: dict[str, int] = {}
    for day in days:
        for field, n in day.items():
            outcome = field.rsplit("|", 1)[-1]
            totals[outcome] = totals.get(outcome, 0) + int(n)
    return totals


def _event_counts_check(counts: list[dict]) -> dict:
    """Applied / duplicate / ignored / rejected deliveries today (UTC) and over 7 days."""

    def summary(totals):
        names = ("applied", "duplicate", "ignored", "rejected")
        text = ", ".join(f"{totals.get(k, 0)} {k}" for k in names)
        mismatched = totals.get("livemode_mismatch", 0)
        return text + (f", {mismatched} ignored for their Stripe mode" if mismatched else "")

    today, week = _outcomes(counts[:1]), _outcomes(counts)
    rejected_today = today.get("rejected", 0)
    level = "warn" if rejected_today else "ok"
    return _check(
        "events",
        level,
        f"today: {summary(today)}; 7 days: {summary(week)}. Failed deliveries (5xx) are "
        "retried by Stripe and show here once applied; the store cannot count its own outages.",
        "Deliveries were refused for a bad signature today: if they are Stripe's, STRIPE_WEBHOOK_SECRET "
        "is not this endpoint's signing secret."
        if rejected_today
        else "",
    )


VERIFY_FIX = (
    "On the webhook health page press 'Compare stock with the ledger', or run: flask stock verify. "
    "It reads the whole ledger, so it runs only when asked."
)


def _stock_ledger_check(result: dict | None, clock) -> dict:
    """The last comparison of the counters with the ledger replay, and its age: never run by reading a page."""
    if result is None:
        return _check(
            "stock_ledger", "warn", "the stock counters have not been compared with the ledger yet", VERIFY_FIX
        )
    age = clock() - result["checked_at"] / 1000
    when = _age(age)
    if result["ok"]:
        if age > 7 * 86400:
            return _check(
                "stock_ledger",
                "warn",
                f"stock counters matched the ledger when last compared, {when} ({result['entries']} entries)",
                VERIFY_FIX,
            )
        return _check(
            "stock_ledger", "ok", f"stock counters match the ledger ({result['entries']} entries, checked {when})"
        )
    drift = "; ".join(
        f"{d['sku']} {d['field']}: counter {d['counter']}, ledger {d['ledger']}" for d in result["drift"][:10]
    )
    return _check(
        "stock_ledger",
        "fail",
        f"stock counters differ from the ledger (checked {when}): {drift}",
        "Something changed stock outside the shop's scripts. Count the shelf, set the true numbers in Owner "
        "Mode (the ledger records the correction), then run: flask stock verify",
    )


def _stripe_mode_check(mismatch: dict, key_mode: str | None, clock) -> dict | None:
    """The last event ignored because its mode is not the key's (SPEC section 4), while that still holds."""
    if not mismatch.get("at") or key_mode is None:
        return None
    event_mode = "live" if mismatch.get("livemode") == "true" else "test"
    age = clock() - int(mismatch["at"]) / 1000
    if event_mode == key_mode or age > 7 * 86400:
        return None  # the key was changed since, or it is a week old
    what = (
        f"Stripe event {mismatch.get('id')} ({mismatch.get('type')}, {_age(age)}) was a {event_mode}-mode event "
        f"but STRIPE_SECRET_KEY is a {key_mode} key, so it was ignored: no order, no stock change."
    )
    if event_mode == "live":
        return _check(
            "stripe_mode",
            "fail",
            what + " Real payments reach a shop running on a test key: their orders are not recorded.",
            "Point the live endpoint (Stripe Dashboard > Developers > Webhooks, test mode off) at the live shop, "
            "or give this shop its live key (sk_live_...) and the live endpoint's signing secret; then "
            "recover the ignored payments: flask reconcile --since 72h --apply",
        )
    return _check(
        "stripe_mode",
        "warn",
        what + " A test-mode endpoint is wired to this live shop.",
        "In Stripe Dashboard (test mode on) > Developers > Webhooks, point that test endpoint at your test "
        "shop, or delete it; the live endpoint stays as it is.",
    )


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


def run_checks(shop, clock=time.time, stripe: bool = False, facts: dict | None = None) -> dict:
    """All checks, in the order an owner would fix them; ``stripe`` adds the Stripe side (an API call).

    The store is read once (``gather``: one pipeline), or not at all when ``facts`` are given.
    """
    from shop.stripe_events import key_mode

    s = shop.settings
    checks = []

    if not s.webhook_secrets:
        checks.append(
            _check(
                "webhook_secret",
                "fail",
                "STRIPE_WEBHOOK_SECRET is not set: every Stripe event is refused (503).",
                "Copy the endpoint's signing secret (whsec_...) from Stripe Dashboard > Developers > Webhooks "
                "into STRIPE_WEBHOOK_SECRET and redeploy.",
            )
        )
    elif not all(x.startswith("whsec_") for x in s.webhook_secrets):
        checks.append(
            _check(
                "webhook_secret",
                "fail",
                "STRIPE_WEBHOOK_SECRET is set but a value does not look like whsec_...",
                "Use the endpoint's signing secret (whsec_...), not an API key.",
            )
        )
    else:
        checks.append(
            _check("webhook_secret", "ok", f"{len(s.webhook_secrets)} signing secret(s) set, shaped whsec_...")
        )

    if not s.stripe_secret_key:
        checks.append(
            _check(
                "stripe_key",
                "fail",
                "STRIPE_SECRET_KEY is not set: checkout cannot open Stripe sessions, so shoppers cannot pay, "
                "and line items cannot be looked up.",
                "Set STRIPE_SECRET_KEY to the secret key from Stripe Dashboard > Developers > API keys "
                "(sk_live_... for real sales, sk_test_... to try things out), then redeploy.",
            )
        )
    else:
        checks.append(
            _check("stripe_key", "ok", f"STRIPE_SECRET_KEY is set ({key_mode(s.stripe_secret_key) or 'a'} key)")
        )

    if s.store.kind == "none":
        facts = None
        checks.append(
            _check(
                "store",
                "fail",
                "No store is configured: orders cannot be saved, Stripe events get 503.",
                "Connect an Upstash / Vercel KV database (KV_REST_API_URL + KV_REST_API_TOKEN) or set REDIS_URL, then redeploy.",
            )
        )
    else:
        try:
            facts = facts if facts is not None else gather(shop, clock)
            store_ok = facts["probe_ok"]
            checks.append(
                _check(
                    "store",
                    "ok" if store_ok else "fail",
                    f"{shop.store.description}: write and read back "
                    + ("work" if store_ok else "returned a different value"),
                    "" if store_ok else "Check that the store is not read-only or evicting keys.",
                )
            )
        except ShopError as e:
            facts = None
            checks.append(
                _check(
                    "store",
                    "fail",
                    f"{s.store.kind} store ({s.store.source}): {e.message}",
                    "Check the store's address and token, and that the database is running.",
                )
            )

    if facts is not None:
        mode_check = _stripe_mode_check(facts["livemode_mismatch"], key_mode(s.stripe_secret_key), clock)
        if mode_check:
            checks.append(mode_check)
        for chapter in shop.catalog.chapters:
            if chapter.id in facts["initialized_chapters"]:
                checks.append(_check(f"chapter:{chapter.id}", "ok", f"{chapter.name} stock is initialized"))
            else:
                checks.append(
                    _check(
                        f"chapter:{chapter.id}",
                        "warn",
                        f"{chapter.name} stock is not initialized: its sales are recorded but no stock is taken.",
                        f"Initialize {chapter.name} in Owner Mode (Stock > {chapter.name}) or: "
                        f"flask stock init {chapter.id}",
                    )
                )
        last = facts["last_event"]
        if last.get("at"):
            age = clock() - int(last["at"]) / 1000
            checks.append(
                _check(
                    "last_event",
                    "ok",
                    f"last Stripe event {last.get('id')} ({last.get('type')}) {_age(age)}, "
                    f"answered {last.get('outcome')}",
                )
            )
        else:
            checks.append(
                _check(
                    "last_event",
                    "warn",
                    "no Stripe event received yet",
                    "Send a test event: stripe trigger checkout.session.completed, or Dashboard > Webhooks > Send test event.",
                )
            )
        checks.append(_stock_ledger_check(facts["stock_verified"], clock))
        checks.append(_event_counts_check(facts["event_counts"]))
        errors = facts["webhook_errors"]
        if errors:
            latest = "; ".join(f"{_age(clock() - e['at'] / 1000)}: {e['error']}" for e in errors[:3])
            recent = any(clock() - e["at"] / 1000 < 86400 for e in errors)
            checks.append(
                _check(
                    "webhook_errors",
                    "warn" if recent else "ok",
                    f"latest refused or failed deliveries: {latest}",
                    "If these are real Stripe events, check STRIPE_WEBHOOK_SECRET and the store; Stripe "
                    "retries failed deliveries for 3 days."
                    if recent
                    else "",
                )
            )
        if s.alert_webhook_url:
            recent = [f for f in facts["alert_failures"] if clock() - f["at"] / 1000 < 86400]
            if recent:
                detail = "; ".join(f"{_age(clock() - f['at'] / 1000)}: {f['kind']} ({f['error']})" for f in recent)
                checks.append(
                    _check(
                        "alerts",
                        "warn",
                        f"alerts that did not reach ALERT_WEBHOOK_URL: {detail}",
                        "Check the incoming-webhook address in Slack or Discord and set ALERT_WEBHOOK_URL again.",
                    )
                )
            else:
                checks.append(_check("alerts", "ok", "alerts reach ALERT_WEBHOOK_URL"))
    if not s.owner_password:
        checks.append(
            _check(
                "owner_password",
                "fail",
                "OWNER_PASSWORD is not set: Owner Mode and the owner API are closed.",
                "Set OWNER_PASSWORD to a long passphrase and redeploy.",
            )
        )
    checks.extend(owner_access.health_checks(shop, facts["owner_failures"] if facts else None, clock))
    if s.production:
        url = urlsplit(s.public_url or "")
        if url.scheme != "https" or url.hostname in (None, "localhost", "127.0.0.1"):
            checks.append(
                _check(
                    "public_url",
                    "fail",
                    f"PUBLIC_URL is {s.public_url or 'not set'}: Stripe sends shoppers back there.",
                    "Set PUBLIC_URL to the shop's public https:// address.",
                )
            )
        else:
            checks.append(_check("public_url", "ok", f"PUBLIC_URL is {s.public_url}"))
    for warning in s.warnings:
        checks.append(_check("config", "warn", warning))

    if stripe:
        checks.extend(stripe_checks(shop))
    return {"ok": all(c["ok"] for c in checks), "checks": checks}


def stripe_checks(shop) -> list[dict]:
    """The Stripe side, through its API: is there an enabled endpoint at PUBLIC_URL for every handled event?"""
    from shop.stripe_events import HANDLED_EVENTS

    s = shop.settings
    if not s.stripe_secret_key:
        return [
            _check(
                "stripe_endpoint",
                "fail",
                "STRIPE_SECRET_KEY is not set, so Stripe cannot be asked.",
                "Set STRIPE_SECRET_KEY (Dashboard > Developers > API keys).",
            )
        ]
    if not s.public_url:
        return [
            _check(
                "stripe_endpoint",
                "fail",
                "PUBLIC_URL is not set, so the endpoint's address is unknown.",
                "Set PUBLIC_URL to the shop's public https:// address.",
            )
        ]
    target = s.public_url + "/api/webhooks/stripe"
    add_it = (
        f"Dashboard > Developers > Webhooks > Add endpoint: URL {target}, events: {', '.join(HANDLED_EVENTS)}; "
        "then put its signing secret into STRIPE_WEBHOOK_SECRET."
    )
    try:
        endpoints = shop.gateway.webhook_endpoints()
    except ShopError as e:
        return [
            _check(
                "stripe_endpoint",
                "fail",
                f"Stripe could not be asked: {e.message}",
                "Check STRIPE_SECRET_KEY and that the server can reach api.stripe.com.",
            )
        ]
    matching = [e for e in endpoints if (e.get("url") or "").rstrip("/") == target]
    if not matching:
        others = ", ".join(e.get("url") or "?" for e in endpoints) or "none"
        return [
            _check(
                "stripe_endpoint",
                "fail",
                f"No Stripe webhook endpoint sends events to {target} (endpoints: {others}).",
                add_it,
            )
        ]
    endpoint = matching[0]
    checks = []
    if endpoint.get("status") != "enabled":
        checks.append(
            _check(
                "stripe_endpoint",
                "fail",
                f"The endpoint {endpoint['id']} is {endpoint.get('status')}: "
                "Stripe sends it nothing (it disables endpoints that fail for days).",
                f"Dashboard > Developers > Webhooks > {target} > Enable; then reconcile: "
                "flask reconcile --since 72h --apply",
            )
        )
    else:
        checks.append(_check("stripe_endpoint", "ok", f"endpoint {endpoint['id']} is enabled for {target}"))
    enabled = set(endpoint.get("enabled_events") or [])
    missing = [] if "*" in enabled else [t for t in HANDLED_EVENTS if t not in enabled]
    if missing:
        checks.append(
            _check(
                "stripe_events",
                "fail",
                f"The endpoint does not send: {', '.join(missing)}.",
                f"Dashboard > Developers > Webhooks > {target} > Update details > add those events.",
            )
        )
    else:
        checks.append(_check("stripe_events", "ok", "the endpoint sends every event the shop handles"))
    key_live = s.stripe_secret_key.startswith(("sk_live", "rk_live"))
    endpoint_live = endpoint.get("livemode") is True
    if key_live != endpoint_live:
        checks.append(
            _check(
                "stripe_mode",
                "fail",
                f"STRIPE_SECRET_KEY is a {'live' if key_live else 'test'} key but the endpoint is in "
                f"{'live' if endpoint_live else 'test'} mode.",
                "Use the key and the endpoint (and its signing secret) of the same mode.",
            )
        )
    return checks
