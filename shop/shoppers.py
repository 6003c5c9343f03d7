"""The shopper cookie (SPEC section 7): who a checkout belongs to, signed so nobody can claim another's.

The storefront sets it on every HTML page when it is missing; ``POST /api/checkout`` reads it. Its
value is a random id signed with the app's SECRET_KEY (itsdangerous); a missing or forged cookie
is simply a new shopper. No Flask here: the web layers set and read the cookie.
"""

from __future__ import annotations

import secrets

from itsdangerous import BadSignature, URLSafeSerializer

COOKIE = "shopper"
MAX_AGE = 365 * 86400
_SALT = "shop.shopper"


class ShopperCookies:
    def __init__(self, secret_key: str):
        self._serializer = URLSafeSerializer(secret_key, salt=_SALT)

    def new(self) -> tuple[str, str]:
        """A fresh shopper: (id, cookie value)."""
        shopper_id = secrets.token_urlsafe(16)
        return shopper_id, self._serializer.dumps(shopper_id)

    def read(self, value: str | None) -> str | None:
        """The shopper id of a cookie value, or None when it is missing or not signed by us."""
        if not value or len(value) > 200:
            return None
        try:
            shopper_id = self._serializer.loads(value)
        except BadSignature:
            return None
        return shopper_id if isinstance(shopper_id, str) and 0 < len(shopper_id) <= 64 else None
