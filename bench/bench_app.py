"""The shop's app plus three bench-only routes; gunicorn serves it only under ``make bench``.

They share the webhook's gunicorn, Flask and Werkzeug, and receive the same signed bodies:

- ``POST /__bench/ok`` answers 200 and does nothing else: the framework's ceiling.
- ``POST /__bench/round-trip`` reads the body and makes one store round trip (PING): the least any
  handler that takes the event and touches Redis once can cost on this machine.
- ``POST /__bench/bare`` is the bare handler: signature check, ``json.loads``, one EVALSHA of a
  one-key script. The webhook adds what makes it correct: validation, the order, stock, holds,
  ledger, indexes, counters and a log line.
"""

import json

from flask import request

from api.webhooks import MAX_BODY, verify
from shop import create_app
from shop.web import get_shop, read_body

app = create_app()


@app.post("/__bench/ok")
def bench_ok():
    return {"status": "ok"}


@app.post("/__bench/round-trip")
def bench_round_trip():
    read_body(MAX_BODY)
    get_shop().store.backend.call("PING")
    return {"status": "ok"}


@app.post("/__bench/bare")
def bench_bare():
    shop = get_shop()
    body = read_body(MAX_BODY)
    verify(body, request.headers.get("Stripe-Signature"), shop.settings.webhook_secrets)
    event = json.loads(body)
    shop.store.hit_rate_limit(f"bench:{event['id']}", 100, 60)  # one EVALSHA, one key
    return {"status": "ok"}
