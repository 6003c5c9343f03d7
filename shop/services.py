"""The shop's parts, built once from the settings and shared by the web app and the CLI."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from shop.catalog import Catalog
from shop.checkout import Checkout
from shop.config import STORE_VARIABLES, Settings
from shop.fulfillment import Fulfillment
from shop.inventory import Inventory
from shop.line import Line, LineCookies
from shop.notify import Notifier
from shop.orders import Orders
from shop.refunds import Refunds
from shop.releases import Releases
from shop.shoppers import ShopperCookies
from shop.store import Store
from shop.store.backends import EmbeddedBackend, RedisBackend, UnconfiguredBackend, UpstashBackend
from shop.stripe_gateway import StripeGateway


def make_backend(settings: Settings, embedded_path: Path):
    """The backend the settings chose; the embedded one is started on first use."""
    choice = settings.store
    if choice.kind == "redis":
        return lambda: RedisBackend.from_url(choice.url)
    if choice.kind == "upstash":
        return lambda: UpstashBackend(choice.url, choice.token)
    if choice.kind == "embedded":
        return lambda: EmbeddedBackend.at(embedded_path)
    return UnconfiguredBackend(
        f"no store is configured and this is production, so nothing can be saved: set {STORE_VARIABLES} "
        "(on Vercel: Storage > connect an Upstash / KV database to the project), then redeploy"
    )


@dataclass
class Shop:
    settings: Settings
    catalog: Catalog
    store: Store
    gateway: StripeGateway
    inventory: Inventory
    orders: Orders
    fulfillment: Fulfillment
    checkout: Checkout
    notifier: Notifier
    shoppers: ShopperCookies
    releases: Releases
    refunds: Refunds
    line: Line
    line_cookies: LineCookies

    @classmethod
    def build(
        cls,
        settings: Settings,
        embedded_path: Path,
        *,
        stripe_timeout: float = 10,
        alert_timeout: float = 2.0,
    ) -> Shop:
        catalog = Catalog.load(settings.catalog_path)
        store = Store(make_backend(settings, embedded_path))
        gateway = StripeGateway(settings.stripe_secret_key, settings.stripe_api_base, timeout=stripe_timeout)
        inventory = Inventory(store, catalog, settings.low_stock_threshold)
        line = Line(store, inventory, settings)
        checkout = Checkout(store, catalog, gateway, settings)
        checkout.line = line
        return cls(
            settings=settings,
            catalog=catalog,
            store=store,
            gateway=gateway,
            inventory=inventory,
            orders=Orders(store),
            fulfillment=Fulfillment(store, catalog, gateway),
            checkout=checkout,
            notifier=Notifier(
                settings.alert_webhook_url, store, catalog, settings.low_stock_threshold, timeout=alert_timeout
            ),
            # The same fallback key create_app gives Flask in development.
            shoppers=ShopperCookies(settings.secret_key or "dev-only-not-secret"),
            releases=Releases(store, inventory),
            refunds=Refunds(store, gateway),
            line=line,
            line_cookies=LineCookies(settings.secret_key or "dev-only-not-secret"),
        )
