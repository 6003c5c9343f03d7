"""JSON API blueprints.

Vercel turns any api/*.py with a top-level ``app``, ``application`` or
``handler`` into a function of its own: no module here may use those names.
"""

from __future__ import annotations

from flask import Flask, current_app, request
from werkzeug.exceptions import RequestEntityTooLarge

from shop.services import Shop


def get_shop() -> Shop:
    """The shop's parts, built once in create_app."""
    return current_app.extensions["shop"]


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


def register_api(flask_app: Flask) -> None:
    from api.checkout import checkout_api
    from api.errors import register_error_handlers
    from api.openapi import openapi_api
    from api.owner import owner_api
    from api.webhooks import webhooks

    flask_app.register_blueprint(webhooks)
    flask_app.register_blueprint(owner_api)
    flask_app.register_blueprint(checkout_api)
    flask_app.register_blueprint(openapi_api)
    register_error_handlers(flask_app)
