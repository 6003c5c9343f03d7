"""JSON API blueprints.

Vercel turns any api/*.py with a top-level ``app``, ``application`` or
``handler`` into a function of its own: no module here may use those names.
"""

from __future__ import annotations

from flask import Flask


def register_api(flask_app: Flask) -> None:
    from api.checkout import checkout_api
    from api.errors import register_error_handlers
    from api.openapi import openapi_api
    from api.owner import owner_api
    from api.queue import queue_api
    from api.webhooks import webhooks

    flask_app.register_blueprint(webhooks)
    flask_app.register_blueprint(owner_api)
    flask_app.register_blueprint(checkout_api)
    flask_app.register_blueprint(queue_api)
    flask_app.register_blueprint(openapi_api)
    register_error_handlers(flask_app)
