"""Settings from the environment (SPEC section 2), checked once at start.

``load(environ, overrides)`` reads the variables, lets a test mapping replace
any of them, validates everything, and returns the values the app uses.
A malformed value stops the start with a message naming the variable.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from shop.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent

VARIABLES = (
    "STRIPE_SECRET_KEY",
    "STRIPE_WEBHOOK_SECRET",
    "STRIPE_API_BASE",
    "REDIS_URL",
    "KV_URL",
    "KV_REST_API_URL",
    "KV_REST_API_TOKEN",
    "UPSTASH_REDIS_REST_URL",
    "UPSTASH_REDIS_REST_TOKEN",
    "OWNER_PASSWORD",
    "SECRET_KEY",
    "LOW_STOCK_THRESHOLD",
    "CHECKOUT_HOLD_MINUTES",
    "CATALOG_PATH",
    "PUBLIC_URL",
    "PORT",
    "SHIPPING_COUNTRIES",
    "ALERT_WEBHOOK_URL",
    "VERCEL",
    "APP_ENV",
    "TRUSTED_PROXY_HOPS",
    "SHOPPER_MAX_HELD_UNITS",
    "ADDRESS_MAX_HELD_UNITS",
    "ADDRESS_CHECKOUTS_PER_MINUTE",
    "ADDRESS_MAX_TICKETS",
)

DEFAULT_SHIPPING_COUNTRIES = (
    "AT BE BG HR CY CZ DK EE FI FR DE GR HU IE IT LV LT LU MT NL PL PT RO SK SI ES SE GB CH NO".split()
)
STORE_VARIABLES = "REDIS_URL (or KV_URL), or KV_REST_API_URL + KV_REST_API_TOKEN, or UPSTASH_REDIS_REST_URL + UPSTASH_REDIS_REST_TOKEN"


@dataclass(frozen=True)
class StoreChoice:
    kind: str  # redis | upstash | embedded | none
    url: str | None = None
    token: str | None = None
    source: str = ""  # which variable chose it, for messages and the health page


@dataclass(frozen=True)
class Limits:
    """Anti-hoarding limits of a drop (SPEC section 7).

    The defaults are sized for a small brand whose shoppers may share one address: a mobile
    carrier's NAT or a campus network puts hundreds of people behind one IP, so an address may hold
    several carts' worth at once, while one script on one address cannot hold a chapter.
    """

    shopper_max_held_units: int = 10  # one open checkout: a generous cart, never a chapter
    address_max_held_units: int = 40  # about four shoppers' full carts behind one address at once
    address_checkouts_per_minute: int = 30  # a busy shared address, far below a script's loop
    address_max_tickets: int = 50  # line tickets per address per line: a carrier NAT's worth of fans


@dataclass(frozen=True)
class Settings:
    production: bool
    store: StoreChoice
    webhook_secrets: tuple[str, ...]
    stripe_secret_key: str | None
    stripe_api_base: str | None
    owner_password: str | None
    secret_key: str | None
    low_stock_threshold: int
    checkout_hold_minutes: int
    catalog_path: Path
    public_url: str | None
    shipping_countries: tuple[str, ...]
    alert_webhook_url: str | None = None
    port: int = 5000
    trusted_proxy_hops: int = 0
    limits: Limits = field(default_factory=Limits)
    warnings: tuple[str, ...] = field(default=())

    @property
    def key_mode(self) -> str | None:
        """``live`` or ``test``: the Stripe mode of STRIPE_SECRET_KEY (None when unset or of no known shape)."""
        return key_mode(self.stripe_secret_key)


def key_mode(secret_key: str | None) -> str | None:
    """``live`` or ``test`` for a Stripe secret or restricted key; None when unset or of no known shape."""
    for mode in ("live", "test"):
        if secret_key and secret_key.startswith((f"sk_{mode}_", f"rk_{mode}_")):
            return mode
    return None


def _clean(raw: Mapping[str, object], name: str) -> str | None:
    value = raw.get(name)
    if value is None:
        return None
    value = str(value).strip()
    return value or None


_WHOLE_NUMBER = re.compile(r"[+-]?[0-9]{1,4000}")


def whole_number(text: str | None) -> int | None:
    """A whole number written as text (``12``, `` +3 ``, ``-2``), or None when the text is not one.

    The one reader of counts typed by people: settings, Owner Mode's forms and CSV, and the CLI.
    """
    text = (text or "").strip()
    return int(text) if _WHOLE_NUMBER.fullmatch(text) else None


def _whole(raw, name: str, default: int, minimum: int) -> int:
    value = _clean(raw, name)
    if value is None:
        return default
    number = whole_number(value)
    if number is None:
        raise ConfigError(f"{name} must be a whole number, got {value!r}")
    if number < minimum:
        raise ConfigError(f"{name} must be {minimum} or more, got {number}")
    return number


def _choose_store(raw, production: bool) -> StoreChoice:
    for name in ("REDIS_URL", "KV_URL"):
        url = _clean(raw, name)
        if url:
            if urlsplit(url).scheme not in ("redis", "rediss", "unix"):
                raise ConfigError(
                    f"{name} must start with redis:// or rediss://, got {urlsplit(url).scheme or url!r}://..."
                )
            return StoreChoice("redis", url=url, source=name)
    for url_name, token_name in (
        ("KV_REST_API_URL", "KV_REST_API_TOKEN"),
        ("UPSTASH_REDIS_REST_URL", "UPSTASH_REDIS_REST_TOKEN"),
    ):
        url, token = _clean(raw, url_name), _clean(raw, token_name)
        if url or token:
            if not (url and token):
                missing = token_name if url else url_name
                raise ConfigError(f"{url_name} and {token_name} go together: {missing} is not set")
            if urlsplit(url).scheme not in ("https", "http"):
                raise ConfigError(f"{url_name} must be the https:// REST address of the database")
            return StoreChoice("upstash", url=url, token=token, source=url_name)
    if production:
        return StoreChoice("none", source="")
    return StoreChoice("embedded", source="no store variable set: embedded Redis under instance/")


def _webhook_secrets(raw) -> tuple[tuple[str, ...], list[str]]:
    """STRIPE_WEBHOOK_SECRET's comma-separated values, and a warning for each that is not shaped whsec_..."""
    secrets = tuple(s.strip() for s in (_clean(raw, "STRIPE_WEBHOOK_SECRET") or "").split(",") if s.strip())
    warnings = [
        "STRIPE_WEBHOOK_SECRET: a value does not start with whsec_; copy the endpoint's signing secret "
        "from Stripe Dashboard > Developers > Webhooks (or from `stripe listen`)"
        for secret in secrets
        if not secret.startswith("whsec_")
    ]
    return secrets, warnings


def _stripe_key(raw) -> str | None:
    stripe_key = _clean(raw, "STRIPE_SECRET_KEY")
    if stripe_key and not stripe_key.startswith(("sk_", "rk_")):
        raise ConfigError(
            "STRIPE_SECRET_KEY must be a secret or restricted key (sk_... or rk_...), not a publishable key"
        )
    return stripe_key


def _http_url(raw, name: str, message: str) -> str | None:
    """An optional http(s):// address; ConfigError(``message``) for any other scheme."""
    url = _clean(raw, name)
    if url and urlsplit(url).scheme not in ("http", "https"):
        raise ConfigError(message)
    return url


def _secret_key(raw, production: bool) -> str | None:
    secret_key = _clean(raw, "SECRET_KEY")
    if production and not secret_key:
        raise ConfigError(
            "SECRET_KEY is required in production: set it to a long random value (python -c 'import secrets; print(secrets.token_hex(32))')"
        )
    return secret_key


def _public_url(raw, production: bool) -> str | None:
    public_url = _clean(raw, "PUBLIC_URL")
    if public_url:
        if urlsplit(public_url).scheme not in ("http", "https") or not urlsplit(public_url).netloc:
            raise ConfigError(
                f"PUBLIC_URL must be the shop's address such as https://shop.example.com, got {public_url!r}"
            )
        return public_url.rstrip("/")
    if production:
        raise ConfigError(
            "PUBLIC_URL is required in production: set it to the shop's public address such as "
            "https://shop.example.com (Stripe sends shoppers back there; it is never taken from the request)"
        )
    return None


def _shipping_countries(raw) -> tuple[str, ...]:
    countries_raw = _clean(raw, "SHIPPING_COUNTRIES")
    countries = (
        tuple(c.strip().upper() for c in countries_raw.split(",") if c.strip())
        if countries_raw
        else tuple(DEFAULT_SHIPPING_COUNTRIES)
    )
    bad = [c for c in countries if len(c) != 2 or not c.isalpha()]
    if bad:
        raise ConfigError(
            f"SHIPPING_COUNTRIES must be two-letter ISO codes separated by commas; not codes: {', '.join(bad)}"
        )
    return countries


def _catalog_path(raw) -> Path:
    catalog_path = Path(_clean(raw, "CATALOG_PATH") or "catalog.json")
    return catalog_path if catalog_path.is_absolute() else ROOT / catalog_path


def _limits(raw) -> Limits:
    return Limits(
        shopper_max_held_units=_whole(raw, "SHOPPER_MAX_HELD_UNITS", Limits.shopper_max_held_units, 1),
        address_max_held_units=_whole(raw, "ADDRESS_MAX_HELD_UNITS", Limits.address_max_held_units, 1),
        address_checkouts_per_minute=_whole(
            raw, "ADDRESS_CHECKOUTS_PER_MINUTE", Limits.address_checkouts_per_minute, 1
        ),
        address_max_tickets=_whole(raw, "ADDRESS_MAX_TICKETS", Limits.address_max_tickets, 1),
    )


def load(raw: Mapping[str, object]) -> Settings:
    """Validate the raw variables; raise ConfigError with the variable's name on the first bad one."""
    production = bool(_clean(raw, "VERCEL")) or (_clean(raw, "APP_ENV") or "").lower() == "production"
    secrets, warnings = _webhook_secrets(raw)
    stripe_key = _stripe_key(raw)
    api_base = _http_url(raw, "STRIPE_API_BASE", "STRIPE_API_BASE must be an http(s):// address")
    secret_key = _secret_key(raw, production)
    public_url = _public_url(raw, production)
    countries = _shipping_countries(raw)
    alert_url = _http_url(
        raw,
        "ALERT_WEBHOOK_URL",
        "ALERT_WEBHOOK_URL must be an http(s):// address (a Slack or Discord incoming webhook)",
    )
    return Settings(
        production=production,
        store=_choose_store(raw, production),
        webhook_secrets=secrets,
        stripe_secret_key=stripe_key,
        stripe_api_base=api_base,
        owner_password=_clean(raw, "OWNER_PASSWORD"),
        secret_key=secret_key,
        low_stock_threshold=_whole(raw, "LOW_STOCK_THRESHOLD", 5, 0),
        checkout_hold_minutes=_whole(raw, "CHECKOUT_HOLD_MINUTES", 30, 30),
        catalog_path=_catalog_path(raw),
        public_url=public_url,
        shipping_countries=countries,
        alert_webhook_url=alert_url,
        port=_whole(raw, "PORT", 5000, 1),
        trusted_proxy_hops=_whole(raw, "TRUSTED_PROXY_HOPS", 1 if _clean(raw, "VERCEL") else 0, 0),
        limits=_limits(raw),
        warnings=tuple(dict.fromkeys(warnings)),
    )
