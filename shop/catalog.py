"""The catalog: chapters, products, sizes and prices, read once at start.

A SKU is ``product/size`` (``balm-tee/M``). Product ids are unique across
chapters, so a SKU names its chapter.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from shop.errors import ConfigError

_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,47}$")
_SIZE = re.compile(r"^[A-Za-z0-9.-]{1,12}$")


@dataclass(frozen=True)
class Item:
    sku: str
    chapter: str
    product: str
    name: str
    size: str
    price: int


@dataclass(frozen=True)
class Product:
    id: str
    name: str
    price: int
    sizes: tuple[str, ...]
    image: str
    description: str
    chapter: str
    limit: int | None = None  # at most this many units per customer across all their orders (SPEC section 7)

    def sku(self, size: str) -> str:
        return f"{self.id}/{size}"


@dataclass(frozen=True)
class Chapter:
    id: str
    name: str
    products: tuple[Product, ...]

    @property
    def skus(self) -> list[str]:
        return [p.sku(s) for p in self.products for s in p.sizes]


@dataclass
class Catalog:
    currency: str
    chapters: list[Chapter]
    items: dict[str, Item] = field(default_factory=dict)

    def __post_init__(self):
        for chapter in self.chapters:
            for product in chapter.products:
                for size in product.sizes:
                    sku = product.sku(size)
                    self.items[sku] = Item(sku, chapter.id, product.id, product.name, size, product.price)

    def chapter(self, chapter_id: str) -> Chapter | None:
        return next((c for c in self.chapters if c.id == chapter_id), None)

    def product(self, product_id: str) -> Product | None:
        return next((p for c in self.chapters for p in c.products if p.id == product_id), None)

    def order_items(self, lines: dict[str, int]) -> list[dict]:
        """Order lines from SKU -> quantity, with names and prices from the catalog."""
        return [
            {
                "sku": sku,
                "chapter": self.items[sku].chapter,
                "name": self.items[sku].name,
                "size": self.items[sku].size,
                "quantity": qty,
                "unit_amount": self.items[sku].price,
            }
            for sku, qty in lines.items()
        ]

    @property
    def limits(self) -> dict[str, int]:
        """Product id -> per-customer limit, for the products that carry one."""
        return {p.id: p.limit for c in self.chapters for p in c.products if p.limit is not None}

    def item(self, sku: str) -> Item | None:
        return self.items.get(sku) if isinstance(sku, str) else None

    @classmethod
    def load(cls, path: Path) -> Catalog:
        try:
            data = json.loads(Path(path).read_text())
        except FileNotFoundError:
            raise ConfigError(
                f"CATALOG_PATH: no catalog at {path}; copy catalog.json there or set CATALOG_PATH"
            ) from None
        except json.JSONDecodeError as e:
            raise ConfigError(f"CATALOG_PATH: {path} is not valid JSON ({e})") from None
        return cls.from_dict(data, str(path))

    @classmethod
    def from_dict(cls, data: dict, source: str = "catalog") -> Catalog:
        def fail(what: str):
            raise ConfigError(f"{source}: {what}")

        if not isinstance(data, dict):
            fail("the catalog must be an object with currency and chapters")
        currency = data.get("currency")
        if not isinstance(currency, str) or not re.match(r"^[a-z]{3}$", currency):
            fail('currency must be a lower-case ISO code such as "eur"')
        chapters, seen = [], set()
        for c in data.get("chapters") or fail("chapters must be a non-empty list"):
            if not isinstance(c, dict) or not _ID.match(str(c.get("id", ""))):
                fail(f"chapter {c!r}: id must be lower-case letters, digits and '-'")
            products = []
            for p in c.get("products") or fail(f"chapter {c['id']}: products must be a non-empty list"):
                pid = p.get("id") if isinstance(p, dict) else None
                if not isinstance(pid, str) or not _ID.match(pid):
                    fail(f"chapter {c['id']}: product id {pid!r} must be lower-case letters, digits and '-'")
                if pid in seen:
                    fail(f"product id {pid!r} appears twice; product ids are unique across chapters")
                seen.add(pid)
                price = p.get("price")
                if not isinstance(price, int) or isinstance(price, bool) or price < 0:
                    fail(f"product {pid}: price must be a whole number of minor units (cents)")
                sizes = p.get("sizes") or ["OS"]
                if not all(isinstance(s, str) and _SIZE.match(s) for s in sizes) or len(set(sizes)) != len(sizes):
                    fail(f"product {pid}: sizes must be distinct short labels such as S, M, L")
                limit = p.get("limit")
                if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
                    fail(f"product {pid}: limit must be a whole number of 1 or more (units per customer), or left out")
                products.append(
                    Product(
                        pid,
                        str(p.get("name") or pid),
                        price,
                        tuple(sizes),
                        str(p.get("image") or ""),
                        str(p.get("description") or ""),
                        c["id"],
                        limit,
                    )
                )
            chapters.append(Chapter(c["id"], str(c.get("name") or c["id"]), tuple(products)))
        if len({c.id for c in chapters}) != len(chapters):
            fail("chapter ids must be unique")
        return cls(currency, chapters)
