"""POST /api/checkout (SPEC section 5): hold the cart's stock and open a Stripe Checkout."""

from __future__ import annotations

import json

from flask import Blueprint, jsonify, request
from werkzeug.exceptions import RequestEntityTooLarge

from shop.errors import BadRequest
from shop.web import get_shop, public_base_url, read_body

checkout_api = Blueprint("checkout_api", __name__)

MAX_BODY = 64 * 1024


@checkout_api.route("/api/checkout", methods=["POST"], provide_automatic_options=False)
def start_checkout():
    try:
        raw = read_body(MAX_BODY)
    except RequestEntityTooLarge:
        raise BadRequest("the cart is too large (over 64 KiB); send only sku and quantity per line") from None
    try:
        body = json.loads(raw)
    except ValueError:
        raise BadRequest('send the cart as JSON: {"items": [{"sku": "balm-tee/M", "quantity": 1}]}') from None
    except RecursionError:
        raise BadRequest(
            'the cart is JSON nested too deeply; send {"items": [{"sku": "balm-tee/M", "quantity": 1}]}'
        ) from None
    answer = get_shop().checkout.start(
        body, base_url=public_base_url(), idempotency_key=request.headers.get("Idempotency-Key")
    )
    return jsonify(answer), 201
