"""What the owner should look at now: derived from the store on read, until acknowledged."""

from __future__ import annotations

import time

from shop.errors import ShopError
from shop.orders import FLAG_HELP, order_json

ATTENTION_SCAN = 50  # flagged orders the alerts look at
RECENT_ORDERS = 5  # orders on the Today page


def _stock_alerts(chapters: list[dict]) -> list[dict]:
    """Sold out and low sizes of the chapters whose stock is tracked."""
    alerts = []
    for chapter in (c for c in chapters if c["initialized"]):
        for row in chapter["skus"]:
            name = f"{row['name']} {row['size']}"
            if row["sold_out"]:
                alerts.append(
                    {
                        "id": f"stock:{row['sku']}:sold_out:{row['on_hand']}",
                        "level": "warn",
                        "title": f"{name} is sold out",
                        "detail": f"{row['sku']} in {chapter['name']}: {row['on_hand']} on hand, {row['held']} held.",
                        "action": "Restock it on the stock page, or leave it sold out.",
                    }
                )
            elif row["low"]:
                alerts.append(
                    {
                        "id": f"stock:{row['sku']}:low:{row['available']}",
                        "level": "info",
                        "title": f"{name}: only {row['available']} left",
                        "detail": f"{row['sku']} in {chapter['name']}.",
                        "action": "Plan a restock if this size should stay on sale.",
                    }
                )
    return alerts


def _order_alert(order: dict) -> dict | None:
    """A flagged order, in FLAG_HELP's words (None: none of its flags needs the owner)."""
    flags = [f for f in order["flags"] if f in FLAG_HELP]
    if not flags:
        return None
    return {
        "id": f"order:{order['id']}:{','.join(sorted(flags))}",
        "level": "fail",
        "title": f"Order {order['id']}: {', '.join(f.replace('_', ' ') for f in flags)}",
        "detail": " ".join(FLAG_HELP[f] for f in flags),
        "order_id": order["id"],
        "action": "Open the order.",
    }


def _signature_alert(rejected_today: int, today: str) -> dict:
    return {
        "id": f"signatures:{today}:{rejected_today}",
        "level": "fail",
        "title": f"{rejected_today} webhook deliveries refused today for a bad signature",
        "detail": "Either someone is sending forged events, or STRIPE_WEBHOOK_SECRET is not this "
        "endpoint's signing secret (then real orders are being refused too).",
        "action": "Compare the secret in Stripe Dashboard > Developers > Webhooks with STRIPE_WEBHOOK_SECRET.",
    }


def build_alerts(chapters: list[dict], flagged: list[dict], rejected_today: int, today: str, acks) -> list[dict]:
    """Low stock, sold out, flagged orders and rejected signatures not yet acknowledged, most urgent first.

    Each alert's id names the state it describes (e.g. the units left), so a change raises it again.
    """
    alerts = _stock_alerts(chapters)
    alerts += [alert for alert in map(_order_alert, flagged) if alert]
    if rejected_today:
        alerts.append(_signature_alert(rejected_today, today))
    order = {"fail": 0, "warn": 1, "info": 2}
    return sorted((a for a in alerts if a["id"] not in acks), key=lambda a: order[a["level"]])


def _rejected(counts_today: dict) -> int:
    return sum(int(v) for k, v in counts_today.items() if k == "signature|rejected")


def current_alerts(shop, clock=time.time) -> list[dict]:
    """The alerts, read on their own (a stock read, the flagged orders, today's counters, the acknowledgements)."""
    today = time.strftime("%Y%m%d", time.gmtime(clock()))
    flagged, _ = shop.orders.attention(limit=ATTENTION_SCAN)
    return build_alerts(
        shop.inventory.snapshot(),
        flagged,
        _rejected(shop.store.event_counts([today])[0]),
        today,
        shop.store.alert_acks(),
    )


def today(shop, clock=time.time) -> dict:
    """The owner's Today page in at most three store round trips, and no ledger replay.

    1. one pipeline: health's facts, the acknowledgements and the newest order and attention index entries;
    2. the stock of the initialized chapters (one script; none when no chapter is initialized);
    3. the records of those orders (one pipeline; none when there are none).
    Returns the health report, the alerts, the latest orders and the chapters whose stock is not tracked.
    """
    from shop import health

    day = time.strftime("%Y%m%d", time.gmtime(clock()))
    try:
        facts = health.gather(shop, clock, orders=RECENT_ORDERS, attention=ATTENTION_SCAN)
    except ShopError:  # the store cannot answer: health says so (and how to fix it); nothing else to show
        report = health.run_checks(shop, clock)
        return {"report": report, "alerts": [], "recent": [], "untracked": [], "chapter_count": 0, "facts": None}
    report = health.run_checks(shop, clock, facts=facts)
    untracked = [
        {"id": c.id, "name": c.name} for c in shop.catalog.chapters if c.id not in facts["initialized_chapters"]
    ]
    tracked = [c.id for c in shop.catalog.chapters if c.id in facts["initialized_chapters"]]
    chapters = shop.inventory.snapshot(tracked) if tracked else []
    records = shop.store.orders_by_members(facts["recent_members"] + facts["attention_members"])
    orders = {order_id: order_json(record) for order_id, record in records.items()}
    recent = [orders[m.split("|", 1)[1]] for m in facts["recent_members"] if m.split("|", 1)[1] in orders]
    flagged = [orders[m.split("|", 1)[1]] for m in facts["attention_members"] if m.split("|", 1)[1] in orders]
    alerts = build_alerts(chapters, flagged, _rejected(facts["event_counts"][0]), day, facts["alert_acks"])
    return {
        "report": report,
        "alerts": alerts,
        "recent": recent,
        "untracked": untracked,
        "chapter_count": len(shop.catalog.chapters),
        "facts": facts,
    }


def acknowledge(shop, alert_id: str, clock=time.time) -> None:
    if isinstance(alert_id, str) and 0 < len(alert_id) <= 200:
        shop.store.acknowledge_alert(alert_id, int(clock() * 1000))
