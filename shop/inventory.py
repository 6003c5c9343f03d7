"""Per-chapter stock: initialize, set, adjust, read, with every change in the ledger."""

from __future__ import annotations

import time

from shop import releases
from shop.catalog import Catalog, Chapter
from shop.errors import BadRequest, NotFound

MAX_UNITS = 1_000_000
LEDGER_REASONS = ("initialize", "set", "adjust", "hold", "release", "order_commit", "refund_restock")


def available(on_hand: int, held: int) -> int:
    """Units that can still be sold: on hand less what open checkouts hold, never below zero (as in _prelude.lua)."""
    return max(0, on_hand - held)


def _whole(value, what: str, *, minimum: int | None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise BadRequest(f"{what} must be a whole number, got {value!r}")
    if minimum is not None and value < minimum:
        raise BadRequest(f"{what} must be {minimum} or more, got {value}")
    if abs(value) > MAX_UNITS:
        raise BadRequest(f"{what} must be at most {MAX_UNITS:,} units")
    return value


class Inventory:
    def __init__(self, store, catalog: Catalog, low_threshold: int, clock=time.time):
        self.store = store
        self.catalog = catalog
        self.low_threshold = low_threshold
        self.clock = clock

    def now_ms(self) -> int:
        return int(self.clock() * 1000)

    def chapter(self, chapter_id: str) -> Chapter:
        chapter = self.catalog.chapter(chapter_id)
        if chapter is None:
            known = ", ".join(c.id for c in self.catalog.chapters)
            raise NotFound(f"no chapter {chapter_id!r}; chapters are: {known}")
        return chapter

    def _chapter_json(self, chapter: Chapter, initialized: bool, rows: list, windows: dict) -> dict:
        skus = []
        for sku, on_hand, held in rows or []:
            item = self.catalog.items[sku]
            row = {"sku": sku, "product": item.product, "name": item.name, "size": item.size}
            if initialized:
                can_sell = available(on_hand, held)
                row.update(
                    on_hand=on_hand,
                    held=held,
                    available=can_sell,
                    low=0 < can_sell <= self.low_threshold,
                    sold_out=can_sell == 0,
                )
            else:
                row.update(on_hand=None, held=None, available=None, low=False, sold_out=False)
            skus.append(row)
        return {
            "id": chapter.id,
            "name": chapter.name,
            "initialized": initialized,
            "skus": skus,
            "release": releases.release_json(windows.get(chapter.id), self.now_ms()),
        }

    def snapshot(self, chapter_ids: list[str] | None = None) -> list[dict]:
        """Stock of the given chapters (all by default), expired holds dropped first."""
        chapters = [self.chapter(c) for c in chapter_ids] if chapter_ids else self.catalog.chapters
        result, windows = self.store.read_stock_and_releases([[c.id, c.skus] for c in chapters], self.now_ms())
        return [
            self._chapter_json(c, initialized, rows, windows)
            for c, (_, initialized, rows) in zip(chapters, result, strict=True)
        ]

    def availability(self, skus: list[str]) -> dict[str, int | None]:
        """Units each SKU can still be sold (None: its chapter is not initialized)."""
        by_chapter: dict[str, list[str]] = {}
        for sku in skus:
            by_chapter.setdefault(self.catalog.items[sku].chapter, []).append(sku)
        out = {}
        for chapter in self.snapshot(list(by_chapter)):
            for row in chapter["skus"]:
                if row["sku"] in skus:
                    out[row["sku"]] = row["available"]
        return out

    def _changes(self, chapter: Chapter, mapping, what: str, *, minimum: int | None) -> list[list]:
        if not isinstance(mapping, dict):
            raise BadRequest(f'{what} must be an object of SKU to number, e.g. {{"{chapter.skus[0]}": 10}}')
        allowed = set(chapter.skus)
        changes = []
        for sku, n in mapping.items():
            if sku not in allowed:
                item = self.catalog.item(sku)
                where = f"it belongs to {item.chapter}" if item else "the catalog has no such SKU"
                raise BadRequest(f"{what}: {sku!r} is not a SKU of {chapter.id} ({where})")
            changes.append([sku, _whole(n, f"{what}[{sku!r}]", minimum=minimum)])
        return changes

    def _change(
        self, mode: str, chapter: Chapter, changes: list, actor: str, note: str | None, ref: str | None
    ) -> dict:
        if note is not None and (not isinstance(note, str) or len(note) > 500):
            raise BadRequest("note must be text of at most 500 characters")
        request = {
            "mode": mode,
            "chapter": chapter.id,
            "changes": changes,
            "skus": chapter.skus,
            "actor": actor,
            "note": note or "",
            "ref": ref or "",
        }
        result = self.store.change_stock(request, self.now_ms(), chapter_name=chapter.name)
        return self._chapter_json(chapter, True, result["rows"], self.store.releases())

    def initialize(self, chapter_id: str, stock: dict, *, actor: str = "owner", note: str | None = None) -> dict:
        """Start tracking a chapter: every SKU gets the given count, unnamed ones 0."""
        chapter = self.chapter(chapter_id)
        given = dict(self._changes(chapter, stock, "stock", minimum=0))
        return self._change(
            "initialize", chapter, [[sku, given.get(sku, 0)] for sku in chapter.skus], actor, note, None
        )

    def set(self, chapter_id: str, stock: dict, *, actor: str = "owner", note: str | None = None) -> dict:
        chapter = self.chapter(chapter_id)
        return self._change("set", chapter, self._changes(chapter, stock, "stock", minimum=0), actor, note, None)

    def adjust(
        self, chapter_id: str, delta: dict, *, actor: str = "owner", note: str | None = None, ref: str | None = None
    ) -> dict:
        """Add or take units; all or nothing, refused (409) if any SKU would go below zero."""
        chapter = self.chapter(chapter_id)
        return self._change("adjust", chapter, self._changes(chapter, delta, "delta", minimum=None), actor, note, ref)

    def ledger(
        self, *, sku: str | None = None, reason: str | None = None, limit: int = 100, cursor: str | None = None
    ) -> tuple[list[dict], str | None]:
        if sku is not None and self.catalog.item(sku) is None:
            raise BadRequest(f"unknown sku {sku!r}; SKUs look like product/size, e.g. {next(iter(self.catalog.items))}")
        if reason is not None and reason not in LEDGER_REASONS:
            raise BadRequest(f"unknown reason {reason!r}; use one of: {', '.join(LEDGER_REASONS)}")
        entries, next_cursor = self.store.ledger_page(sku=sku, reason=reason, limit=limit, cursor=cursor)
        return [ledger_json(entry_id, fields) for entry_id, fields in entries], next_cursor


def ledger_json(entry_id: str, f: dict) -> dict:
    from shop.orders import iso

    return {
        "id": entry_id,
        "at": iso(f.get("at")),
        "chapter": f.get("chapter"),
        "sku": f.get("sku"),
        "reason": f.get("reason"),
        "delta": int(f.get("delta") or 0),
        "on_hand": int(f.get("on_hand") or 0),
        "held_delta": int(f.get("held_delta") or 0),
        "held": int(f.get("held") or 0),
        "ref": f.get("ref") or None,
        "actor": f.get("actor") or None,
        "note": f.get("note") or None,
    }
