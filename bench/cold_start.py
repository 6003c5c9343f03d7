"""Cold start: a fresh Python process imports the app and answers its first request (app.test_client()).

Run by bench/run.py (``make bench``), or alone: ``python bench/cold_start.py [redis_url]``. Each run is a
new interpreter; the time counted starts before the first import and ends when the first answer is in
(interpreter start-up itself is the same for both apps and is left out). The shop's app is compared with
a bare Flask app that answers the same two requests (a page, and a JSON POST) with nothing behind them.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

RUNS = int(os.environ.get("BENCH_COLD_RUNS", "7"))

# What each fresh process runs: an app is built as ``client`` (SHOP, BARE or BARE_HANDLER), then one request
# (REQUESTS) answers ``answer``; timed() wraps them so the time counts both.
SHOP = """
import app
client = app.app.test_client()
"""

BARE = """
from flask import Flask, jsonify, render_template_string, request
bare = Flask(__name__)

@bare.get("/")
@bare.get("/products/<product_id>")
def product(product_id="home"):
    return render_template_string("<h1>{{ name }}</h1>", name=product_id)

@bare.post("/api/webhooks/stripe")
def webhook():
    request.get_data()
    return jsonify(status="applied")

client = bare.test_client()
"""

# The bare handler: what any Flask webhook on Stripe and Redis does at least, the same work the shop's
# webhook cannot skip (the stripe library's signature check, a redis-py client, one command).
BARE_HANDLER = """
from flask import Flask, jsonify, request
bare = Flask(__name__)

@bare.post("/api/webhooks/stripe")
def webhook():
    import redis
    import stripe

    body = request.get_data()
    stripe.WebhookSignature.verify_header(body, request.headers["Stripe-Signature"], os.environ["STRIPE_WEBHOOK_SECRET"], 300)
    redis.Redis.from_url(os.environ["REDIS_URL"]).incr("{shop}:bench:cold")
    return jsonify(status="applied")

client = bare.test_client()
"""

REQUESTS = {
    "home page": "answer = client.get('/')",  # the storefront's first page: no store, no Stripe
    "product page": "answer = client.get('/products/balm-tee')",  # reads stock: redis-py comes in
    "webhook": (
        "signature, body = open(os.environ['BENCH_BODY'], 'rb').read().split(b'\\n', 1)\n"
        "answer = client.post('/api/webhooks/stripe', data=body, "
        "headers={'Stripe-Signature': signature.decode(), 'Content-Type': 'application/json'})"
    ),
}


def timed(app: str, request: str) -> str:
    """The code of one run: the clock starts before ``app`` is built and stops when ``request`` is answered."""
    return "\n".join(
        [
            "import json, os",
            "import time",
            "t0 = time.perf_counter()",
            app.strip("\n"),
            request,
            "assert answer.status_code == 200, answer.data",
            'print(json.dumps({"ms": (time.perf_counter() - t0) * 1000}))',
        ]
    )


def one_run(app: str, request: str, env: dict[str, str]) -> float:
    code = timed(app, request)
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-2000:])
    return json.loads(out.stdout.strip().splitlines()[-1])["ms"]


def measure(redis_url: str, runs: int = RUNS) -> dict[str, dict[str, float]]:
    """Median ms of ``runs`` fresh processes per app and request, run in alternation, and the ratio."""
    from tests.live_server import shop_env
    from tests.stripe_factory import WEBHOOK_SECRET, checkout_session, event, sign

    env = {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": str(ROOT),
        **shop_env(redis_url, APP_ENV="production", PUBLIC_URL="https://shop.example"),
    }
    samples = {(app, name): [] for app in ("shop", "bare") for name in REQUESTS}
    samples["handler", "webhook"] = []
    body_file = tempfile.NamedTemporaryFile(suffix=".event", delete=False).name
    try:
        for _ in range(runs):
            for name, request in REQUESTS.items():
                evt = json.dumps(event("checkout.session.completed", checkout_session(items="balm-tee/M")))
                Path(body_file).write_text(f"{sign(evt, WEBHOOK_SECRET)}\n{evt}")
                run_env = {**env, "BENCH_BODY": body_file}
                samples["shop", name].append(one_run(SHOP, request, run_env))
                samples["bare", name].append(one_run(BARE, request, run_env))
                if name == "webhook":
                    samples["handler", name].append(one_run(BARE_HANDLER, request, run_env))
    finally:
        os.unlink(body_file)
    result = {}
    for name in REQUESTS:
        shop, bare = statistics.median(samples["shop", name]), statistics.median(samples["bare", name])
        result[name] = {"shop_ms": shop, "bare_ms": bare, "ratio": shop / bare}
    handler = statistics.median(samples["handler", "webhook"])
    result["webhook"].update(handler_ms=handler, handler_ratio=result["webhook"]["shop_ms"] / handler)
    return result


def lines(result: dict) -> list[str]:
    found = [
        f"cold start, {name} ({RUNS} fresh processes each, median): shop {r['shop_ms']:.0f} ms, bare Flask "
        f"{r['bare_ms']:.0f} ms, ratio {r['ratio']:.2f}"
        for name, r in result.items()
    ]
    hook = result["webhook"]
    found.append(
        f"cold start, webhook against a bare Flask handler that also checks the signature with stripe and sends "
        f"one redis-py command: shop {hook['shop_ms']:.0f} ms, bare handler {hook['handler_ms']:.0f} ms, "
        f"ratio {hook['handler_ratio']:.2f}"
    )
    return found


if __name__ == "__main__":
    from tests.redis_server import RedisServer

    server = None
    if len(sys.argv) > 1:
        url = sys.argv[1]
    else:
        server = RedisServer().start()
        url = server.url
    try:
        from shop import create_app
        from shop.errors import Conflict
        from tests.conftest import app_config

        try:  # stock for the product page to read
            create_app(app_config({"REDIS_URL": url}), environ={}).extensions["shop"].inventory.initialize(
                "chapter-i", {}
            )
        except Conflict:
            pass
        print("\n".join(lines(measure(url))))
    finally:
        if server:
            server.stop()
