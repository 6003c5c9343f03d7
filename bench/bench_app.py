"""The shop's app plus one trivial route, for the benchmark only.

``POST /__bench/ok`` answers 200 from the same gunicorn, Flask and Werkzeug as
the webhook and does nothing else: the ceiling the webhook is measured against.
"""

from shop import create_app

app = create_app()


@app.post("/__bench/ok")
def bench_ok():
    return {"status": "ok"}
