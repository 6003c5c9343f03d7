"""What the web layers (api/, owner/, storefront/) share: the shop accessor, the body reader, the client
address, the shop's own base address, the security headers and the error answer.

Only the HTTP layers import this module; domain code never does.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from flask import current_app, jsonify, make_response, render_template, request
from werkzeug.exceptions import RequestEntityTooLarge

if TYPE_CHECKING:
    from shop.owner_access import OwnerAccess
    from shop.parts import Shop

# A Host header naming this machine (with an optional port), and nothing else.
LOOPBACK_HOST = re.compile(r"^(?:127\.0\.0\.1|localhost|\[::1\])(?::[0-9]{1,5})?")

# Every response (HTML pages, errors and redirects included) carries these; no inline script or style
# runs, no page may be framed, and other sites learn at most our origin.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'",
    "Referrer-Policy": "strict-origin-when-cross-origin",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
}
# Pages with a customer's or the owner's data: never kept by a browser or a shared cache.
NO_STORE_PREFIXES = ("/owner", "/api/owner", "/checkout/success", "/checkout/cancel")


def get_shop() -> Shop:
    """The shop's parts, built once in create_app."""
    return current_app.extensions["shop"]


def get_owner_access() -> OwnerAccess:
    """The owner's credential limit and session rules, built once in create_app."""
    return current_app.extensions["owner_access"]


def error_response(status: int, message: str, **extra):
    """An error answer: JSON ``{"error": message, ...}`` under /api, a page elsewhere (api/errors.py maps errors to it)."""
    if request.path.startswith("/api/"):
        response = jsonify({"error": message, **extra})
    else:
        # Owner Mode's pages (an unknown order, an unknown page under /owner) keep Owner Mode's layout.
        owner = request.path == "/owner" or request.path.startswith("/owner/")
        page = "owner/error.html" if owner else "error.html"
        response = make_response(render_template(page, status=status, message=message))
    response.status_code = status
    return response


def public_base_url() -> str:
    """The shop's own base address for links that leave the site (Stripe's success and cancel URLs).

    PUBLIC_URL when set (production requires it). In development without it, the request's Host only
    when it names this machine (``make run`` on another PORT), else http://127.0.0.1:$PORT: a Host
    header written by a client never sends shoppers elsewhere.
    """
    settings = get_shop().settings
    if settings.public_url:
        return settings.public_url
    host = (request.host or "").lower()
    if LOOPBACK_HOST.fullmatch(host) and request.scheme in ("http", "https"):
        return f"{request.scheme}://{host}"
    return f"http://127.0.0.1:{settings.port}"


def owner_side_open() -> None:
    """before_request: in production, Owner Mode and the owner API answer 503 while a secret is weak.

    By path, so every address under /owner and /api/owner is closed, unknown ones too; the storefront,
    checkout and the webhook go on working.
    """
    if request.path == "/owner" or request.path.startswith(("/owner/", "/api/owner/")) or request.path == "/api/owner":
        get_owner_access().require_open()


def add_security_headers(response):
    """after_request: the security headers on every answer; no-store on private pages."""
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    if request.path.startswith(NO_STORE_PREFIXES):
        response.headers["Cache-Control"] = "no-store"
    return response


def client_address() -> str:
    """The client's address, as every limit counts it.

    ``create_app`` wraps the app in Werkzeug's ProxyFix with ``TRUSTED_PROXY_HOPS``: only that many
    ``X-Forwarded-For`` entries, counted from the right (the ones our own proxies appended), are
    believed, so a value a client writes at the left of the header never changes its bucket.
    """
    return request.remote_addr or "unknown"


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
