"""One place that turns errors into HTTP answers: JSON under /api, a page elsewhere."""

from __future__ import annotations

import logging

from flask import Flask, jsonify, make_response, render_template, request
from werkzeug.exceptions import HTTPException

from shop.errors import ShopError, StoreUnavailable

log = logging.getLogger("shop.http")

# Details of a ShopError that its JSON answer carries beside "error" (SPEC sections 5 and 7).
_PUBLIC_DETAILS = ("skus", "opens_at", "closes_at", "product", "limit", "state", "position", "ahead", "eta_seconds")

_HTTP_HINTS = {
    404: "no such address; see the README for the API's routes",
    405: "this address does not take {method}; see the README for the methods it takes",
    413: "the body is too large",
}


def error_response(status: int, message: str, **extra):
    if request.path.startswith("/api/"):
        response = jsonify({"error": message, **extra})
    else:
        # Owner Mode's pages (an unknown order, an unknown page under /owner) keep Owner Mode's layout.
        owner = request.path == "/owner" or request.path.startswith("/owner/")
        page = "owner/error.html" if owner else "error.html"
        response = make_response(render_template(page, status=status, message=message))
    response.status_code = status
    return response


def register_error_handlers(flask_app: Flask) -> None:
    @flask_app.errorhandler(ShopError)
    def shop_error(e: ShopError):
        if isinstance(e, StoreUnavailable):
            log.warning("store unavailable on %s %s: %s", request.method, request.path, e.message)
        elif e.status >= 500:
            log.error("%s on %s %s: %s", type(e).__name__, request.method, request.path, e.message)
        extra = {k: v for k, v in e.details.items() if k in _PUBLIC_DETAILS}
        response = error_response(e.status, e.message, **extra)
        if e.details.get("retry_after") is not None:
            response.headers["Retry-After"] = str(e.details["retry_after"])
        return response

    @flask_app.errorhandler(HTTPException)
    def http_error(e: HTTPException):
        hint = _HTTP_HINTS.get(e.code, e.description or e.name).format(method=request.method)
        response = error_response(e.code or 500, hint)
        if e.code == 405 and hasattr(e, "valid_methods") and e.valid_methods:
            response.headers["Allow"] = ", ".join(e.valid_methods)
        return response

    @flask_app.errorhandler(Exception)
    def unexpected(e: Exception):
        log.exception("unexpected error on %s %s", request.method, request.path)
        return error_response(
            500, "something went wrong on our side; it was logged. Try again, and if it persists tell the shop."
        )
