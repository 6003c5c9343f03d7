"""POST /api/webhooks/stripe: verify, parse, apply in one store round trip (SPEC section 4).

Checked in this order: method, size, signature, JSON, store. Verification
uses the stripe library's ``WebhookSignature.verify_header`` on the raw bytes;
the body is then parsed once with ``json.loads`` (building StripeObjects with
``construct_event`` costs far more than the whole rest of the request).
"""

from __future__ import annotations

import json

import stripe
from flask import Blueprint, jsonify, request
from werkzeug.exceptions import RequestEntityTooLarge

from api import get_shop
from shop.errors import BadRequest, NotConfigured

webhooks = Blueprint("webhooks", __name__)

MAX_BODY = 1024 * 1024  # Stripe's events are far smaller; anything larger is not from Stripe.
TOLERANCE_SECONDS = 300


def read_body(limit: int) -> bytes:
    """The raw body, refusing (413) more than ``limit`` bytes, declared or chunked.

    A chunked body has no Content-Length, so the only honest check is to read
    at most one byte past the limit and stop there.
    """
    if request.content_length is not None and request.content_length > limit:
        raise RequestEntityTooLarge()
    stream, chunks, size = request.stream, [], 0
    while chunk := stream.read(min(65536, limit + 1 - size)):
        chunks.append(chunk)
        size += len(chunk)
        if size > limit:
            raise RequestEntityTooLarge()
    return b"".join(chunks)


def verify(payload: bytes, header: str | None, secrets: tuple[str, ...]) -> None:
    """Accept the body if any configured secret signed it (rotation, CLI beside Dashboard)."""
    if not header:
        raise BadRequest("no Stripe-Signature header: only Stripe's signed events are accepted")
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


@webhooks.route("/api/webhooks/stripe", methods=["POST"], provide_automatic_options=False)
def stripe_webhook():
    shop = get_shop()
    payload = read_body(MAX_BODY)
    if not shop.settings.webhook_secrets:
        raise NotConfigured(
            "set STRIPE_WEBHOOK_SECRET to this endpoint's signing secret (whsec_..., from Stripe Dashboard > "
            "Developers > Webhooks or `stripe listen`); events are refused until then and Stripe will retry them"
        )
    verify(payload, request.headers.get("Stripe-Signature"), shop.settings.webhook_secrets)
    try:
        event = json.loads(payload)
    except ValueError:
        raise BadRequest("the body is not JSON; send the event exactly as Stripe signed it") from None
    result = shop.fulfillment.handle(event)
    return jsonify(result)
