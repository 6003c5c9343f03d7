"""POST /api/checkout (SPEC sections 5 and 7): hold the cart's stock and open a Stripe Checkout.

Before anything is read or held: a request another site's page made is refused (403), and a body
that is not JSON (a cross-site form or a ``text/plain`` fetch needs no CORS preflight) is refused
(415). A request with neither Origin nor Sec-Fetch-Site (a script) goes on to the limits, which
the store judges atomically with the hold.
"""

from __future__ import annotations

import json
from urllib.parse import urlsplit

from flask import Blueprint, jsonify, request
from werkzeug.exceptions import RequestEntityTooLarge

from shop.errors import BadRequest, Forbidden, UnsupportedMediaType
from shop.shoppers import COOKIE
from shop.web import client_address, get_shop, public_base_url, read_body

checkout_api = Blueprint("checkout_api", __name__)

MAX_BODY = 64 * 1024
# Sec-Fetch-Site values a browser sends for our own pages' fetches ("none": typed or bookmarked).
# "same-site" is refused too: a sibling subdomain (a blog, a campaign page) is another app whose
# pages must not be able to start checkouts on a shopper's behalf.
_OWN_FETCH_SITES = ("same-origin", "none")


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def check_same_site() -> None:
    """403 when the Origin or Sec-Fetch-Site header says another site's page sent this request."""
    fetch_site = request.headers.get("Sec-Fetch-Site")
    if fetch_site is not None and fetch_site.strip().lower() not in _OWN_FETCH_SITES:
        raise Forbidden("checkout starts only from this shop's own pages; open the shop and check out from your cart")
    origin = request.headers.get("Origin")
    if origin is not None:
        if origin.strip().lower() != _origin(public_base_url()):
            raise Forbidden(
                "checkout starts only from this shop's own pages; open the shop and check out from your cart"
            )


def check_json_body() -> None:
    if request.mimetype != "application/json":
        raise UnsupportedMediaType(
            'send the cart as JSON with Content-Type: application/json: {"items": [{"sku": "balm-tee/M", "quantity": 1}]}'
        )


@checkout_api.route("/api/checkout", methods=["POST"], provide_automatic_options=False)
def start_checkout():
    check_same_site()
    check_json_body()
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
    shop = get_shop()
    shopper_id = shop.shoppers.read(request.cookies.get(COOKIE))
    from api.queue import line_passes

    answer = shop.checkout.start(
        body,
        base_url=public_base_url(),
        idempotency_key=request.headers.get("Idempotency-Key"),
        shopper_id=shopper_id,
        address=client_address(),
        passes=line_passes(shop, shopper_id),
    )
    return jsonify(answer), 201
