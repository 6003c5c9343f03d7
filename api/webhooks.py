"""POST /api/webhooks/stripe: verify, parse, apply in one store round trip (SPEC section 4).

Checked in this order: method, size, signature, JSON, store. Verification
uses the stripe library's ``WebhookSignature.verify_header`` on the raw bytes;
the body is then parsed once with orjson (building StripeObjects with
``construct_event`` costs far more than the whole rest of the request).
"""

from __future__ import annotations

import json
import logging
import time

import orjson
from flask import Blueprint, current_app, request

from shop import stripe_events
from shop.errors import BadRequest, NotConfigured, ShopError
from shop.fulfillment import check_envelope
from shop.web import client_address, get_shop, read_body

webhooks = Blueprint("webhooks", __name__)
log = logging.getLogger("shop.webhook")

MAX_BODY = 1024 * 1024  # Stripe's events are far smaller; anything larger is not from Stripe.
TOLERANCE_SECONDS = 300


def verify(payload: bytes, header: str | None, secrets: tuple[str, ...]) -> None:
    """Accept the body if any configured secret signed it (rotation, CLI beside Dashboard)."""
    if not header:
        raise BadRequest("no Stripe-Signature header: only Stripe's signed events are accepted")
    # Imported here, by the first delivery: any stripe submodule runs the package's __init__ (its HTTP
    # clients, ~140 ms), so a narrower import saves nothing, and the storefront never pays for it.
    import stripe

    for secret in secrets:
        try:
            stripe.WebhookSignature.verify_header(payload, header, secret, TOLERANCE_SECONDS)
            return
        except stripe.SignatureVerificationError:
            continue
        except (ValueError, IndexError, UnicodeDecodeError):
            break
    raise BadRequest(
        "the Stripe-Signature does not match this body, or it is older than 5 minutes: check that "
        "STRIPE_WEBHOOK_SECRET is this endpoint's signing secret and that the body was not changed on the way"
    )


def parse_json(payload: bytes):
    """The verified body as Python objects: orjson, and Python's json for what orjson refuses but
    JSON allows (integers beyond 64 bits), so a signed event is never turned away for its numbers."""
    try:
        return orjson.loads(payload)
    except orjson.JSONDecodeError:
        pass
    try:
        return json.loads(payload)
    except ValueError:
        raise BadRequest("the body is not JSON; send the event exactly as Stripe signed it") from None
    except RecursionError:
        raise BadRequest("the body is JSON nested too deeply to be a Stripe event; nothing was applied") from None


@webhooks.route("/api/webhooks/stripe", methods=["POST"], provide_automatic_options=False)
def stripe_webhook():
    shop = get_shop()
    payload = read_body(MAX_BODY)
    if not shop.settings.webhook_secrets:
        raise NotConfigured(
            "set STRIPE_WEBHOOK_SECRET to this endpoint's signing secret (whsec_..., from Stripe Dashboard > "
            "Developers > Webhooks or `stripe listen`); events are refused until then and Stripe will retry them"
        )
    try:
        verify(payload, request.headers.get("Stripe-Signature"), shop.settings.webhook_secrets)
    except BadRequest as e:
        log.warning("stripe webhook rejected from %s (%d bytes): %s", client_address(), len(payload), e.message)
        try:  # counted for the owner's alerts; the answer is 400 whatever the store does
            now = time.time()
            refused = shop.store.count_rejected(
                time.strftime("%Y%m%d", time.gmtime(now)),
                f"signature refused from {client_address()}",
                int(now * 1000),
            )
        except ShopError:
            refused = 0
        shop.notifier.after_rejection(refused)
        raise
    event = check_envelope(parse_json(payload))
    mismatch = stripe_events.livemode_mismatch(event, shop.settings.stripe_secret_key)
    if mismatch:
        # A test endpoint wired to a live shop, or the reverse: changes no order and no stock; counted
        # and remembered in one pipeline, and raised on the health page and Today.
        now = time.time()
        shop.store.count_livemode_mismatch(mismatch, int(now * 1000), time.strftime("%Y%m%d", time.gmtime(now)))
        log.warning(
            "stripe event %s (%s) ignored: it is a %s-mode event but STRIPE_SECRET_KEY is a %s key; point this "
            "endpoint at the shop whose key is of the same mode",
            mismatch["event_id"],
            mismatch["event_type"],
            mismatch["event_mode"],
            mismatch["key_mode"],
        )
        return current_app.response_class(orjson.dumps({"status": "ignored"}), mimetype="application/json")
    result = shop.fulfillment.handle(event)
    shop.notifier.after_event(result)  # after the commit; bounded by its timeout, never fails the answer
    answer = {k: result[k] for k in ("status", "order_id", "order_status") if result.get(k) is not None}
    return current_app.response_class(orjson.dumps(answer), mimetype="application/json")
