"""The shop backend: create_app builds the Flask app around the shop's parts."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path

from flask import Flask
from flask.sessions import SecureCookieSessionInterface

from shop import config as shop_config
from shop.owner_access import OwnerAccess
from shop.parts import Shop
from shop.web import add_security_headers, owner_side_open


class CachedSerializerSessionInterface(SecureCookieSessionInterface):
    """Flask builds the cookie's signing serializer on every request, even one without a cookie
    (every Stripe event); build it once per secret key."""

    _cached: tuple | None = None

    def get_signing_serializer(self, app):
        if self._cached is None or self._cached[0] != app.secret_key:
            self._cached = (app.secret_key, super().get_signing_serializer(app))
        return self._cached[1]


def read_settings(overrides: Mapping[str, object] | None, environ: Mapping[str, str] | None) -> shop_config.Settings:
    """The environment (and ``.env`` in development when ``environ`` is None), then ``overrides``, validated."""
    if environ is None:
        production = os.environ.get("VERCEL") or (os.environ.get("APP_ENV") or "").lower() == "production"
        if not production:  # .env is a development file: production never imports python-dotenv
            from dotenv import load_dotenv

            load_dotenv(shop_config.ROOT / ".env")
        environ = os.environ
    raw = {name: environ.get(name) for name in shop_config.VARIABLES}
    raw.update({k: v for k, v in (overrides or {}).items() if k in shop_config.VARIABLES})
    return shop_config.load(raw)


def _flask_app(settings: shop_config.Settings, overrides: Mapping[str, object] | None) -> Flask:
    """The Flask app itself: proxies believed, cookies, and the plain Flask config of ``overrides``."""
    root = shop_config.ROOT
    app = Flask(
        __name__,
        root_path=str(root),
        instance_path=str(root / "instance"),
        template_folder="templates",
        static_folder="static",
    )
    app.session_interface = CachedSerializerSessionInterface()
    if settings.trusted_proxy_hops:
        from werkzeug.middleware.proxy_fix import ProxyFix

        # Believe only the X-Forwarded-For entries our own proxies appended (shop.web.client_address).
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=settings.trusted_proxy_hops, x_proto=settings.trusted_proxy_hops)
    # "/api/owner/orders//status" is a missing order id (404 in JSON), not a redirect to another address.
    app.url_map.merge_slashes = False
    app.config.update(
        SECRET_KEY=settings.secret_key or "dev-only-not-secret",
        JSON_SORT_KEYS=False,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.production,
    )
    # Anything else in overrides (e.g. EMBEDDED_STORE_PATH, TESTING) is plain Flask config.
    app.config.update({k: v for k, v in (overrides or {}).items() if k not in shop_config.VARIABLES})
    return app


def _log_to_stderr() -> None:
    """The shop's loggers print to stderr (Vercel's log) unless something configured them already."""
    if not logging.getLogger("shop").handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        logging.getLogger("shop").addHandler(handler)
        logging.getLogger("shop").setLevel(logging.INFO)


def _register_web_layers(app: Flask) -> None:
    from api import register_api
    from owner import owner
    from shop.cli import register_cli
    from storefront import storefront

    register_api(app)
    app.register_blueprint(storefront)
    app.register_blueprint(owner)
    register_cli(app)


def create_app(overrides: Mapping[str, object] | None = None, environ: Mapping[str, str] | None = None) -> Flask:
    """Build the app: environment (and ``.env`` in development), then ``overrides`` (tests).

    Args:
        overrides: values that replace environment variables by name (tests use it).
        environ: the environment to read; ``os.environ`` when None.
    """
    settings = read_settings(overrides, environ)
    app = _flask_app(settings, overrides)
    embedded_path = Path(app.config.get("EMBEDDED_STORE_PATH") or Path(app.instance_path) / "shop.rdb")
    shop = app.extensions["shop"] = Shop.build(
        settings,
        embedded_path,
        stripe_timeout=app.config.get("STRIPE_TIMEOUT_SECONDS", 10),
        alert_timeout=app.config.get("ALERT_TIMEOUT_SECONDS", 2.0),
    )
    app.extensions["owner_access"] = OwnerAccess(shop.store, settings, shop.notifier)
    app.before_request(owner_side_open)
    app.after_request(add_security_headers)
    _log_to_stderr()
    _register_web_layers(app)
    return app
