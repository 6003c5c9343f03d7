"""The line's JSON routes (SPEC section 7): join a chapter's line, read your place in it.

``POST /api/queue/<chapter>/join`` gives the shopper a ticket (a signed cookie bound to their shopper
cookie and the chapter); ``GET /api/queue/<chapter>`` answers ``{"state", "position", "ahead",
"eta_seconds", "opens_at"}``, and the first answer that says ``admitted`` sets the pass: a signed cookie
valid ``pass_minutes`` and only with the shopper cookie it was given to, which ``POST /api/checkout``
asks for while the line runs. Each call is one store round trip (shop/store/scripts/line_visit.lua).
"""

from __future__ import annotations

import math

from flask import Blueprint, jsonify, request

from api.checkout import check_same_site
from shop.line import PASS_COOKIE, TICKET_COOKIE
from shop.shoppers import COOKIE
from shop.web import client_address, get_shop

queue_api = Blueprint("queue_api", __name__)
_SPEC_FIELDS = ("state", "position", "ahead", "eta_seconds", "opens_at")


def line_passes(shop, shopper_id: str | None) -> dict[str, str]:
    """The line passes a request carries: chapter -> 'ok' | 'expired' | 'other_shopper' (unsigned ones are left out)."""
    now = shop.inventory.now_ms()
    found = {}
    for name, value in request.cookies.items():
        if name.startswith(PASS_COOKIE):
            chapter = name[len(PASS_COOKIE) :]
            state = shop.line_cookies.read_pass(value, shopper_id, chapter, now)
            if state != "missing":
                found[chapter] = state
    return found


def _set_cookie(response, shop, name: str, value: str, expires_ms: int) -> None:
    seconds = max(1, math.ceil((expires_ms - shop.inventory.now_ms()) / 1000))
    response.set_cookie(
        name, value, max_age=seconds, httponly=True, samesite="Lax", secure=shop.settings.production, path="/"
    )


def _answer(shop, chapter: str, shopper_id: str | None, place: dict):
    """The SPEC's answer, with the ticket and (first time admitted, or lost) the pass set as cookies."""
    body = {k: place[k] for k in _SPEC_FIELDS}
    if place.get("message"):
        body["message"] = place["message"]
    response = jsonify(body)
    response.headers["Cache-Control"] = "no-store"
    if shopper_id and place.get("ticket_expires"):
        ticket = request.cookies.get(TICKET_COOKIE + chapter)
        now = shop.inventory.now_ms()
        if shop.line_cookies.read_ticket(ticket, shopper_id, chapter, now) != "ok":
            value = shop.line_cookies.ticket(shopper_id, chapter, place["ticket_expires"])
            _set_cookie(response, shop, TICKET_COOKIE + chapter, value, place["ticket_expires"])
    if shopper_id and place["state"] == "admitted" and place.get("pass_expires"):
        if line_passes(shop, shopper_id).get(chapter) != "ok":
            value = shop.line_cookies.pass_(shopper_id, chapter, place["pass_expires"])
            _set_cookie(response, shop, PASS_COOKIE + chapter, value, place["pass_expires"])
    return response


@queue_api.route("/api/queue/<chapter>/join", methods=["POST"], provide_automatic_options=False)
def join(chapter: str):
    """Take a place in the chapter's line (a second join keeps the first ticket)."""
    check_same_site()
    shop = get_shop()
    shopper_id = shop.shoppers.read(request.cookies.get(COOKIE))
    place = shop.line.visit(chapter, shopper_id, join=True, address=client_address())
    return _answer(shop, chapter, shopper_id, place)


@queue_api.get("/api/queue/<chapter>")
def place(chapter: str):
    """Where this shopper's ticket is in the chapter's line; admission sets the pass."""
    shop = get_shop()
    shopper_id = shop.shoppers.read(request.cookies.get(COOKIE))
    ticket = request.cookies.get(TICKET_COOKIE + chapter)
    holds_ticket = shop.line_cookies.read_ticket(ticket, shopper_id, chapter, shop.inventory.now_ms()) == "ok"
    place = shop.line.visit(chapter, shopper_id if holds_ticket else None, join=False)
    return _answer(shop, chapter, shopper_id, place)
