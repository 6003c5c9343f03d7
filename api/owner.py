"""The owner JSON API under /api/owner (SPEC section 6), Bearer OWNER_PASSWORD."""

from __future__ import annotations

import functools

import orjson
from flask import Blueprint, jsonify, request

from shop import health
from shop.errors import BadRequest, NotConfigured, ShopError
from shop.web import client_address, get_owner_access, get_shop

owner_api = Blueprint("owner_api", __name__, url_prefix="/api/owner")

MAX_BODY = 64 * 1024
STOCK_ACTIONS = ("initialize", "set", "adjust")


class Unauthorized(ShopError):
    status = 401


def owner_token_required(view):
    """401 (with WWW-Authenticate) unless the Bearer token is OWNER_PASSWORD; 429 over the address's limit.

    A request without a token is not counted; a wrong one is, together with the login form's.
    """

    @functools.wraps(view)
    def wrapped(*args, **kwargs):
        if not get_shop().settings.owner_password:
            raise NotConfigured("set OWNER_PASSWORD to open the owner API; it is closed until then")
        scheme, _, token = (request.headers.get("Authorization") or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthorized("send Authorization: Bearer <OWNER_PASSWORD>")
        attempt = get_owner_access().try_credential(token.strip(), client_address(), request.path)
        if attempt.verdict != "ok":
            raise Unauthorized("send Authorization: Bearer <OWNER_PASSWORD>")
        return view(*args, **kwargs)

    return wrapped


@owner_api.after_request
def challenge(response):
    if response.status_code == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="owner"'
    response.headers["Cache-Control"] = "no-store"
    return response


def json_body() -> dict:
    """The body as a JSON object, read strictly (RFC 8259): no NaN, no half surrogate pairs."""
    request.max_content_length = MAX_BODY
    try:
        data = orjson.loads(request.get_data(cache=False)) if request.is_json else None
    except orjson.JSONDecodeError:
        data = None
    if not isinstance(data, dict):
        raise BadRequest("send a JSON object as the body (UTF-8, standard JSON), with Content-Type: application/json")
    return data


def limit_arg(default: int, maximum: int) -> int:
    raw = request.args.get("limit")
    if raw is None:
        return default
    # ASCII digits only, and few of them: int() refuses "²" and more than 4300 digits with a ValueError.
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 9 or not 1 <= int(raw) <= maximum:
        raise BadRequest(f"limit must be a whole number from 1 to {maximum}")
    return int(raw)


def text_arg(name: str) -> str | None:
    value = request.args.get(name)
    if value is not None and (value == "" or len(value) > 200):
        raise BadRequest(f"{name} must be non-empty text of at most 200 characters")
    return value


@owner_api.get("/stock")
@owner_token_required
def stock():
    return jsonify({"chapters": get_shop().inventory.snapshot()})


@owner_api.post("/stock/<chapter>/<action>")
@owner_token_required
def change_stock(chapter: str, action: str):
    inventory = get_shop().inventory
    if action not in STOCK_ACTIONS:
        raise BadRequest(f"unknown stock action {action!r}; use initialize, set or adjust")
    inventory.chapter(chapter)  # 404 for an unknown chapter before reading the body
    body = json_body()
    if action == "adjust":
        if "delta" not in body:
            raise BadRequest('send {"delta": {"<sku>": <units to add or take>}, "note": "..."}')
        return jsonify(inventory.adjust(chapter, body["delta"], note=body.get("note")))
    if "stock" not in body:
        raise BadRequest('send {"stock": {"<sku>": <units on hand>}}')
    change = inventory.initialize if action == "initialize" else inventory.set
    return jsonify(change(chapter, body["stock"], note=body.get("note")))


@owner_api.get("/orders")
@owner_token_required
def orders():
    orders_, next_cursor = get_shop().orders.page(
        status=text_arg("status"), limit=limit_arg(50, 200), cursor=text_arg("cursor")
    )
    return jsonify({"orders": orders_, "next_cursor": next_cursor})


@owner_api.get("/orders/<order_id>")
@owner_token_required
def order(order_id: str):
    return jsonify(get_shop().orders.get(order_id))


@owner_api.post("/orders/<order_id>/status")
@owner_token_required
def order_status(order_id: str):
    body = json_body()
    status = body.get("status")
    if not isinstance(status, str):
        raise BadRequest('send {"status": "shipped", "tracking": "..."}')
    return jsonify(get_shop().orders.set_status(order_id, status, tracking=body.get("tracking"), note=body.get("note")))


@owner_api.get("/ledger")
@owner_token_required
def ledger():
    entries, next_cursor = get_shop().inventory.ledger(
        sku=text_arg("sku"), reason=text_arg("reason"), limit=limit_arg(100, 500), cursor=text_arg("cursor")
    )
    return jsonify({"entries": entries, "next_cursor": next_cursor})


@owner_api.get("/health")
@owner_token_required
def owner_health():
    return jsonify(health.run_checks(get_shop(), stripe=request.args.get("stripe") == "1"))


@owner_api.post("/chapters/<chapter>/release")
@owner_token_required
def chapter_release(chapter: str):
    """Set when a chapter is on sale (SPEC section 7); answers the chapter object with its ``release``."""
    shop = get_shop()
    shop.inventory.chapter(chapter)  # 404 for an unknown chapter before reading the body
    return jsonify(shop.releases.set(chapter, json_body()))


@owner_api.get("/chapters/<chapter>/line")
@owner_token_required
def chapter_line(chapter: str):
    """A chapter's waiting line as the owner's Drop view shows it: waiting, admitted, refused joins, sold."""
    return jsonify(get_shop().line.watch(chapter))


@owner_api.post("/orders/<order_id>/refund")
@owner_token_required
def order_refund(order_id: str):
    """Refund an order through Stripe: 200 with the refund as Stripe created it; the order moves on Stripe's event.

    An ``Idempotency-Key`` header makes a repeated request one refund (without one, each request is its own).
    """
    body = json_body()
    unknown = sorted(set(body) - {"amount", "restock"})
    if unknown:
        raise BadRequest(f'unknown field(s) {", ".join(unknown)}; send {{"amount": <cents> or null, "restock": bool}}')
    refund = get_shop().refunds.refund(
        order_id, body.get("amount"), body.get("restock", False), key=request.headers.get("Idempotency-Key")
    )
    return jsonify(refund)
