"""Stock against its ledger: verification (replay = counters) and the inventory report."""

from __future__ import annotations

import time

from shop.catalog import Catalog

DAY_MS = 86_400_000


def replay(store) -> tuple[dict[str, int], dict[str, int], int]:
    """On hand and held per SKU as the ledger tells it, from its first entry; and the entries read."""
    on_hand: dict[str, int] = {}
    held: dict[str, int] = {}
    count = 0
    for _, entry in store.ledger_all():
        sku = entry.get("sku", "")
        on_hand[sku] = on_hand.get(sku, 0) + int(entry.get("delta") or 0)
        held[sku] = held.get(sku, 0) + int(entry.get("held_delta") or 0)
        count += 1
    return on_hand, held, count


def verify(inventory, store, clock=time.time) -> dict:
    """Compare every counter with the ledger's replay; the result is stored for the health page.

    Returns: {"ok", "checked_at", "entries", "drift": [{"sku", "chapter", "field", "counter", "ledger"}]}.
    Held counters are compared with the ledger too, but only while no hold is open or expired-but-unreleased:
    a lapsed hold is released (and written to the ledger) by the next script that touches stock, which the
    stock read below is.
    """
    chapters = inventory.snapshot()  # drops expired holds first: their release entries join the ledger
    replayed_on_hand, replayed_held, entries = replay(store)
    drift = []
    for chapter in chapters:
        if not chapter["initialized"]:
            continue
        for row in chapter["skus"]:
            for field, replayed in (("on_hand", replayed_on_hand), ("held", replayed_held)):
                counter, ledger = row[field], replayed.get(row["sku"], 0)
                if counter != ledger:
                    drift.append(
                        {
                            "sku": row["sku"],
                            "chapter": chapter["id"],
                            "field": field,
                            "counter": counter,
                            "ledger": ledger,
                        }
                    )
    result = {"ok": not drift, "checked_at": int(clock() * 1000), "entries": entries, "drift": drift}
    store.save_stock_verification(result)
    return result


def report(inventory, store, catalog: Catalog, clock=time.time) -> list[dict]:
    """Per chapter and size: on hand, held, sold in the last 7 and 30 days, days of cover at the 30-day rate."""
    now_ms = int(clock() * 1000)
    sold_7: dict[str, int] = {}
    sold_30: dict[str, int] = {}
    for _, entry in store.ledger_all():
        if entry.get("reason") != "order_commit":
            continue
        age = now_ms - int(entry.get("at") or 0)
        units = -int(entry.get("delta") or 0)
        if age <= 30 * DAY_MS:
            sold_30[entry["sku"]] = sold_30.get(entry["sku"], 0) + units
            if age <= 7 * DAY_MS:
                sold_7[entry["sku"]] = sold_7.get(entry["sku"], 0) + units
    rows = []
    for chapter in inventory.snapshot():
        for row in chapter["skus"]:
            per_day = sold_30.get(row["sku"], 0) / 30
            on_hand = row["on_hand"]
            cover = round(on_hand / per_day, 1) if per_day and on_hand is not None else None
            rows.append(
                {
                    "chapter": chapter["name"],
                    "sku": row["sku"],
                    "size": row["size"],
                    "on_hand": on_hand,
                    "held": row["held"],
                    "sold_7d": sold_7.get(row["sku"], 0),
                    "sold_30d": sold_30.get(row["sku"], 0),
                    "days_of_cover": cover,
                }
            )
    return rows
