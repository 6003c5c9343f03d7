"""What the owner should look at now: derived from the store on read, until acknowledged."""

from __future__ import annotations

import time

from shop.orders import FLAG_HELP


def current_alerts(shop, clock=time.time) -> list[dict]:
    """Low stock, sold out, flagged orders and rejected signatures not yet acknowledged, most urgent first.

    Each alert's id names the state it describes (e.g. the units left), so a change raises it again.
    """
    alerts = []
    for chapter in shop.inventory.snapshot():
        if not chapter["initialized"]:
            continue
        for row in chapter["skus"]:
            if row["sold_out"]:
                alerts.append(
                    {
                        "id": f"stock:{row['sku']}:sold_out:{row['on_hand']}",
                        "level": "warn",
                        "title": f"{row['name']} {row['size']} is sold out",
                        "detail": f"{row['sku']} in {chapter['name']}: {row['on_hand']} on hand, {row['held']} held.",
                        "action": "Restock it on the stock page, or leave it sold out.",
                    }
                )
            elif row["low"]:
                alerts.append(
                    {
                        "id": f"stock:{row['sku']}:low:{row['available']}",
                        "level": "info",
                        "title": f"{row['name']} {row['size']}: only {row['available']} left",
                        "detail": f"{row['sku']} in {chapter['name']}.",
                        "action": "Plan a restock if this size should stay on sale.",
                    }
                )
    flagged, _ = shop.orders.attention(limit=50)
    for order in flagged:
        flags = [f for f in order["flags"] if f in FLAG_HELP]
        if not flags:
            continue
        alerts.append(
            {
                "id": f"order:{order['id']}:{','.join(sorted(flags))}",
                "level": "fail",
                "title": f"Order {order['id']}: {', '.join(f.replace('_', ' ') for f in flags)}",
                "detail": " ".join(FLAG_HELP[f] for f in flags),
                "order_id": order["id"],
                "action": "Open the order.",
            }
        )
    today = time.strftime("%Y%m%d", time.gmtime(clock()))
    rejected = sum(int(v) for k, v in shop.store.event_counts([today])[0].items() if k == "signature|rejected")
    if rejected:
        alerts.append(
            {
                "id": f"signatures:{today}:{rejected}",
                "level": "fail",
                "title": f"{rejected} webhook deliveries refused today for a bad signature",
                "detail": "Either someone is sending forged events, or STRIPE_WEBHOOK_SECRET is not this "
                "endpoint's signing secret (then real orders are being refused too).",
                "action": "Compare the secret in Stripe Dashboard > Developers > Webhooks with STRIPE_WEBHOOK_SECRET.",
            }
        )
    acked = shop.store.alert_acks()
    order = {"fail": 0, "warn": 1, "info": 2}
    return sorted((a for a in alerts if a["id"] not in acked), key=lambda a: order[a["level"]])


def acknowledge(shop, alert_id: str, clock=time.time) -> None:
    if isinstance(alert_id, str) and 0 < len(alert_id) <= 200:
        shop.store.acknowledge_alert(alert_id, int(clock() * 1000))
