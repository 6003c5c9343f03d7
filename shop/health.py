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
        return ", ".join(f"{totals.get(k, 0)} {k}" for k in names)

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


def _stock_ledger_check(shop, clock) -> dict:
    """Counters = ledger replay; verified again when the last check is a day old (or never ran)."""
    from shop import stock_audit

    result = shop.store.last_stock_verification()
    if result is None or clock() * 1000 - result["checked_at"] > 86_400_000:
        result = stock_audit.verify(shop.inventory, shop.store, clock)
    when = _age(clock() - result["checked_at"] / 1000)
    if result["ok"]:
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


def run_checks(shop, clock=time.time, stripe: bool = False) -> dict:
    """All checks, in the order an owner would fix them; ``stripe`` adds the Stripe side (an API call)."""
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

    store_ok = False
    if s.store.kind == "none":
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
            store_ok = shop.store.round_trip(secrets.token_hex(8))
            level = "ok" if store_ok else "fail"
            checks.append(
                _check(
                    "store",
                    level,
                    f"{shop.store.description}: write and read back "
                    + ("work" if store_ok else "returned a different value"),
                    "" if store_ok else "Check that the store is not read-only or evicting keys.",
                )
            )
        except ShopError as e:
            checks.append(
                _check(
                    "store",
                    "fail",
                    f"{s.store.kind} store ({s.store.source}): {e.message}",
                    "Check the store's address and token, and that the database is running.",
                )
            )

    if store_ok:
        for chapter in shop.inventory.snapshot():
            if chapter["initialized"]:
                checks.append(_check(f"chapter:{chapter['id']}", "ok", f"{chapter['name']} stock is initialized"))
            else:
                checks.append(
                    _check(
                        f"chapter:{chapter['id']}",
                        "warn",
                        f"{chapter['name']} stock is not initialized: its sales are recorded but no stock is taken.",
                        f"Initialize {chapter['name']} in Owner Mode or: flask stock init {chapter['id']}",
                    )
                )
        last = shop.store.last_event()
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
            mode_live = last.get("livemode") == "true"
            if s.stripe_secret_key and s.stripe_secret_key.startswith(("sk_live", "rk_live")) != mode_live:
                checks.append(
                    _check(
                        "stripe_mode",
                        "fail",
                        f"events arrive in {'live' if mode_live else 'test'} mode but STRIPE_SECRET_KEY is a "
                        f"{'test' if mode_live else 'live'} key",
                        "Use the key and the webhook secret of the same mode (Dashboard > Developers, test-mode toggle).",
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
        checks.append(_stock_ledger_check(shop, clock))
        days = [(datetime.fromtimestamp(clock(), tz=UTC) - timedelta(days=i)).strftime("%Y%m%d") for i in range(7)]
        counts = shop.store.event_counts(days)
        checks.append(_event_counts_check(counts))
        errors = shop.store.recent_webhook_errors(5)
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

    if s.alert_webhook_url and store_ok:
        failures = shop.store.alert_failures(3)
        recent = [f for f in failures if clock() - f["at"] / 1000 < 86400]
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
    if not s.stripe_secret_key:
        checks.append(
            _check(
                "stripe_key",
                "warn",
                "STRIPE_SECRET_KEY is not set: checkout and line-item lookups cannot work.",
                "Set STRIPE_SECRET_KEY to the secret key (sk_...) from Dashboard > Developers > API keys.",
            )
        )
    if not s.owner_password:
        checks.append(
            _check(
                "owner_password",
                "fail",
                "OWNER_PASSWORD is not set: Owner Mode and the owner API are closed.",
                "Set OWNER_PASSWORD to a long passphrase and redeploy.",
            )
        )
    checks.extend(owner_access.health_checks(shop, clock))
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
