"""JSON API blueprints.

Vercel turns any api/*.py with a top-level ``app``, ``application`` or
``handler`` into a function of its own: no module here may use those names.
"""

from __future__ import annotations

from flask import Flask, current_app

from shop.services import Shop


def get_shop() -> Shop:
    """The shop's parts, built once in create_app."""
    return current_app.extensions["shop"]


def register_api(flask_app: Flask) -> None:
    from api.errors import register_error_handlers
    from api.owner import owner_api
    from api.webhooks import webhooks

    flask_app.register_blueprint(webhooks)
    flask_app.register_blueprint(owner_api)
    register_error_handlers(flask_app)
