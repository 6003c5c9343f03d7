"""Owner Mode: the owner's pages at /owner, on the same domain functions as the owner API."""

from __future__ import annotations

from flask import Blueprint

owner = Blueprint("owner", __name__, url_prefix="/owner", template_folder="templates")

# Pages of the owner carry no inline script and may not be framed or leak their address.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
}


@owner.after_request
def security_headers(response):
    response.headers.update(SECURITY_HEADERS)
    return response


from owner import auth, views  # noqa: E402,F401  (routes register on import)
