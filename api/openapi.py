"""GET /api/openapi.json: the OpenAPI 3.1 document of the JSON API (public: it holds no secrets).

The document is a data file beside this module, read once and served as it is;
tests/test_openapi.py checks it against the routes and the answers.
"""

from __future__ import annotations

import functools
from pathlib import Path

from flask import Blueprint, current_app

openapi_api = Blueprint("openapi_api", __name__)

DOCUMENT = Path(__file__).with_name("openapi.json")


@functools.cache
def document() -> bytes:
    return DOCUMENT.read_bytes()


@openapi_api.get("/api/openapi.json")
def openapi_document():
    return current_app.response_class(document(), mimetype="application/json")
