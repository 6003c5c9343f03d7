"""Alerts out of the app: a JSON POST that Slack and Discord incoming webhooks both accept.

Sent after the store committed, with a short timeout, and never failing the request that caused it:
a failed send is recorded for Owner Mode instead. There is no background worker on serverless, so the
send happens inside the request, bounded by ALERT_TIMEOUT_SECONDS.
"""

from __future__ import annotations

import json
import logging
import time

from shop.orders import FLAG_HELP

log = logging.getLogger("shop.alert_sender")

ALERT_TIMEOUT_SECONDS = 2.0
SIGNATURE_ALERT_AT = (5, 50, 500)  # refused signatures in a day that raise an alert
# The order flags that are sent as alerts (their words: shop.orders.FLAG_HELP, as on the order page).
ALERTED_FLAGS = ("oversold", "needs_review", "amount_mismatch", "currency_mismatch", "disputed")


class AlertSender:
    def __init__(
        self,
        url: str | None,
        store,
        catalog,
        low_threshold: int,
        timeout: float = ALERT_TIMEOUT_SECONDS,
        clock=time.time,
    ):
        self.url = url
        self.store = store
        self.catalog = catalog
        self.low_threshold = low_threshold
        self.timeout = timeout
        self.clock = clock

    @property
    def enabled(self) -> bool:
        return bool(self.url)

    def send(self, kind: str, text: str) -> bool:
        """POST one alert; False (and recorded) if the receiver failed or was too slow."""
        if not self.url:
            return False
        body = json.dumps({"text": text, "content": text[:2000], "kind": kind}).encode()
        import urllib.error  # only when ALERT_WEBHOOK_URL is set: kept out of the cold start
        import urllib.request

        request = urllib.request.Request(
            self.url,
            data=body,
            method="POST",
            headers={"Content-Type": "application/json", "User-Agent": "atelier-shop"},
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                if 200 <= response.status < 300:
                    return True
                error = f"HTTP {response.status}"
        except urllib.error.HTTPError as e:
            error = f"HTTP {e.code}"
        except (urllib.error.URLError, TimeoutError, OSError) as e:
            error = str(getattr(e, "reason", e)) or type(e).__name__
        log.warning("alert %s not delivered: %s", kind, error)
        try:
            self.store.record_alert_failure({"at": int(self.clock() * 1000), "kind": kind, "error": error[:200]})
        except Exception:  # the store may be the thing that is down; the alert is lost, the answer is not
            log.exception("could not record the failed alert")
        return False

    def after_event(self, result: dict) -> None:
        """The alerts one applied webhook event raises: new paid order, stock running out, flags."""
        if not self.enabled or result.get("status") != "applied":
            return
        order_id, flags = result.get("order_id"), result.get("flags") or []
        if (
            result.get("order_status") == "paid"
            and result.get("stock") is not None
            or (result.get("order_status") == "paid" and "untracked_chapter" in flags)
        ):
            self.send("new_order", f"New paid order {order_id}.")
        for sku, (on_hand, held) in (result.get("stock") or {}).items():
            available = max(0, on_hand - held)
            item = self.catalog.item(sku)
            name = f"{item.name} {item.size}" if item else sku
            if available == 0:
                self.send("sold_out", f"{name} ({sku}) is sold out.")
            elif available <= self.low_threshold:
                self.send("low_stock", f"{name} ({sku}): only {available} left.")
        for flag in flags:
            if flag in ALERTED_FLAGS:
                self.send(flag, f"Order {order_id}: {flag.replace('_', ' ')}. {FLAG_HELP[flag]} Open it in Owner Mode.")

    def after_rejection(self, refused_today: int) -> None:
        if self.enabled and refused_today in SIGNATURE_ALERT_AT:
            self.send(
                "signature_failures",
                f"{refused_today} webhook deliveries refused today for a bad signature: "
                "forged events, or STRIPE_WEBHOOK_SECRET is not the endpoint's signing secret.",
            )
