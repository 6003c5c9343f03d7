"""What the web layers (api/, owner/, storefront/) share: the shop accessor, the body reader, the client address.

Only the HTTP layers import this module; domain code never does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask import current_app, request
from werkzeug.exceptions import RequestEntityTooLarge

if TYPE_CHECKING:
    from shop.services import Shop


def get_shop() -> Shop:
    """The shop's parts, built once in create_app."""
    return current_app.extensions["shop"]


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
