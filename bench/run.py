"""make bench: the webhook against the framework ceiling, side by side in one run.

Starts its own redis-server and the app under gunicorn (production settings),
drives POST /api/webhooks/stripe with signed, distinct checkout.session.completed
events (10 % duplicates) using wrk (a separate process), and at the same
concurrency the trivial route, a one-round-trip route and the bare handler of
the same gunicorn (bench/bench_app.py). The routes take turns in short slices,
in alternating order, so a slow moment of the machine falls on all of them.
Also: server CPU per request, Redis commands per event, the owner's orders page
with 1k / 100k / 1M orders, a py-spy profile of a worker, the webhook under
gunicorn threads against workers only (two gunicorns taking turns), and the cold
start (bench/cold_start.py); the results are appended to bench/results.md.
BENCH_PARTS (default: all of levels,profile,orders,threads,cold) runs only some;
BENCH_BASELINE=<git revision> adds that revision's app to the threads comparison.
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

import psutil  # noqa: E402
import redis  # noqa: E402
import requests  # noqa: E402

from bench.machine import cpu_model, redis_version  # noqa: E402
from tests.live_server import LiveServer, shop_env  # noqa: E402
from tests.order_fill import fill_orders  # noqa: E402
from tests.redis_server import RedisServer  # noqa: E402
from tests.stripe_factory import WEBHOOK_SECRET, checkout_session, event, sign  # noqa: E402

# BENCH_LEVELS / BENCH_ORDERS shorten a run while trying something; `make bench` runs them all.
LEVELS = [int(n) for n in os.environ.get("BENCH_LEVELS", "1,4,16,32").split(",")]
SECONDS = int(os.environ.get("BENCH_SECONDS", "8"))  # per route and level, split into SLICES turns
SLICES = 4
ROUTES = {
    "webhook": "/api/webhooks/stripe",
    "bare": "/__bench/bare",
    "round trip": "/__bench/round-trip",
    "trivial": "/__bench/ok",
}
WORKERS = int(os.environ.get("BENCH_WORKERS", "4"))
ORDER_COUNTS = [int(n) for n in os.environ.get("BENCH_ORDERS", "1000,100000,1000000").split(",")]
PARTS = set(os.environ.get("BENCH_PARTS", "levels,profile,orders,threads,cold").split(","))
BASELINE = os.environ.get("BENCH_BASELINE")  # a git revision: its app joins the threads comparison
THREADS = 4
OWNER = "bench-owner-passphrase"  # production rules: 12+ characters (SECRET_KEY 32+ below)
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


def run_wrk(wrk: str, url: str, connections: int, bodies: str, seconds: int = SECONDS, offset: int = 0) -> dict:
    threads = min(connections, 2)
    env = {**os.environ, "BENCH_BODIES": bodies, "BENCH_THREADS": str(threads), "BENCH_OFFSET": str(offset)}
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


class ServerCpu:
    """CPU seconds (user + system) of gunicorn (master and workers) and of redis-server, not of wrk."""

    def __init__(self, live: LiveServer, redis_server: RedisServer):
        self.app = [psutil.Process(pid) for pid in (live.process.pid, *live.worker_pids())]
        self.redis = psutil.Process(redis_server.process.pid)

    def __call__(self) -> tuple[float, float]:
        return sum(sum(p.cpu_times()[:2]) for p in self.app), sum(self.redis.cpu_times()[:2])


def measure_level(wrk: str, live: LiveServer, client: redis.Redis, cpu: ServerCpu, level: int) -> dict:
    """Every route at one concurrency, in SLICES turns of alternating order; totals per route."""
    totals = {
        name: {"requests": 0, "seconds": 0.0, "errors": 0, "app": 0.0, "redis": 0.0, "slices": []} for name in ROUTES
    }
    commands: Counter = Counter()
    bodies = {name: bodies_file(12_000 if level == 1 else 24_000) for name in ROUTES}
    seconds = max(1, SECONDS // SLICES)
    try:
        for turn in range(SLICES):
            for name in list(ROUTES) if turn % 2 == 0 else list(reversed(ROUTES)):
                before_calls = command_calls(client) if name == "webhook" else None
                app_before, redis_before = cpu()
                result = run_wrk(wrk, live.url + ROUTES[name], level, bodies[name], seconds, totals[name]["requests"])
                app_after, redis_after = cpu()
                if before_calls is not None:
                    commands += command_calls(client) - before_calls
                total = totals[name]
                total["requests"] += result["requests"]
                total["seconds"] += result["duration_us"] / 1e6
                total["errors"] += result["non2xx"] + result["socket_errors"]
                total["app"] += app_after - app_before
                total["redis"] += redis_after - redis_before
                total["slices"].append(result)
    finally:
        for path in bodies.values():
            os.unlink(path)
    for total in totals.values():
        n = max(1, total["requests"])
        total["rps"] = total["requests"] / total["seconds"]
        total.update(merged_percentiles(total["slices"]))
        total["cpu_us"] = (total["app"] + total["redis"]) * 1e6 / n
    events = max(1, totals["webhook"]["requests"])
    totals["commands_per_event"] = sum(v for k, v in commands.items() if k != "info") / events
    totals["evalsha_per_event"] = commands["evalsha"] / events
    return totals


def merged_percentiles(turns: list[dict]) -> dict:
    """p50 / p95 / p99 of all turns together: each turn's 1000 quantiles weighted by its requests."""
    points = sorted((q, r["requests"] / 1000) for r in turns for q in r["quantiles"])
    total = sum(weight for _, weight in points)
    found, seen = {}, 0.0
    for value, weight in points:
        seen += weight
        for name, share in (("p50", 0.50), ("p95", 0.95), ("p99", 0.99)):
            if name not in found and seen >= share * total:
                found[name] = value
    return found


HEADER = (
    "conns | webhook ev/s  p50 ms  p95 ms  p99 ms errors | trivial rq/s  p50 ms  p99 ms | ratio | "
    "bare  1 RT | cpu us/req hook triv | cmds/ev EVALSHA/ev"
)


def row_line(level: int, t: dict) -> str:
    hook, trivial = t["webhook"], t["trivial"]
    return (
        f"{level:>5} | {hook['rps']:>12.0f} {hook['p50'] / 1000:>7.2f} {hook['p95'] / 1000:>7.2f} "
        f"{hook['p99'] / 1000:>7.2f} {hook['errors']:>6} | {trivial['rps']:>12.0f} {trivial['p50'] / 1000:>7.2f} "
        f"{trivial['p99'] / 1000:>7.2f} | {hook['rps'] / trivial['rps']:>5.0%} | "
        f"{t['bare']['rps'] / trivial['rps']:>4.0%} {t['round trip']['rps'] / trivial['rps']:>5.0%} | "
        f"{hook['cpu_us']:>15.0f} {trivial['cpu_us']:>4.0f} | {t['commands_per_event']:>7.1f} "
        f"{t['evalsha_per_event']:>10.2f}"
    )


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
            return "Redis round trip (redis-py, sending the command and reading the answer)"
        if "stripe/" in frame:
            return "signature check (stripe.WebhookSignature)"
        if "json/" in frame:
            return "JSON (Python's json; orjson runs in C and counts as our code)"
        if re.search(r"[( /](shop|api)/", frame):
            return "our code (shop/, api/)"
        if "werkzeug/" in frame or "flask/" in frame:
            return "framework (Flask, Werkzeug)"
        if "gunicorn/util.py" in frame and ("write" in frame or "close" in frame):
            return "framework (gunicorn: sending the answer, closing the connection)"
        if "gunicorn/" in frame:
            return "framework (gunicorn: accepting, reading and parsing the request)"
    return "other"


def production_env(redis_url: str) -> dict[str, str]:
    """The settings of a production server (secrets strong enough for Owner Mode, whose API sets the stock)."""
    return shop_env(
        redis_url,
        OWNER_PASSWORD=OWNER,
        SECRET_KEY="bench-" + "k" * 32,
        APP_ENV="production",
        PUBLIC_URL="https://shop.example",
    )


def threads_vs_workers(wrk: str, redis_url: str, connections: int = 16) -> list[str]:
    """The webhook on two gunicorns side by side: WORKERS sync workers, and WORKERS workers x THREADS threads.

    They take turns (alternating order, 4 slices each) on the same redis-server, so a slow moment of the
    machine falls on both. Each worker's threads share its connection pool: a thread takes a
    connection per command, none waits for another thread's answer.
    """
    env = production_env(redis_url)
    servers = {
        f"-w {WORKERS}": LiveServer(env, workers=WORKERS),
        f"-w {WORKERS} --threads {THREADS}": LiveServer(env, workers=WORKERS, threads=THREADS),
    }
    if BASELINE:  # the same two gunicorns on an older revision of the app, taking the same turns
        tree = Path(tempfile.mkdtemp(prefix="shop-baseline-"))
        archive = subprocess.run(["git", "archive", BASELINE], cwd=ROOT, capture_output=True, check=True).stdout
        subprocess.run(["tar", "-x", "-C", str(tree)], input=archive, check=True)
        servers[f"{BASELINE} -w {WORKERS}"] = LiveServer(env, workers=WORKERS, root=tree)
        servers[f"{BASELINE} -w {WORKERS} --threads {THREADS}"] = LiveServer(
            env, workers=WORKERS, threads=THREADS, root=tree
        )
    totals = {name: {"requests": 0, "seconds": 0.0, "errors": 0, "slices": []} for name in servers}
    bodies = {name: bodies_file(16_000) for name in servers}
    try:
        for live in servers.values():
            live.start()
        next(iter(servers.values())).initialize_stock("chapter-i", {"balm-tee/M": 1_000_000})
        warm = bodies_file(2_000)
        for live in servers.values():  # every worker imports stripe and opens its connections first, uncounted
            run_wrk(wrk, live.url + "/api/webhooks/stripe", connections, warm, 1)
        os.unlink(warm)
        seconds = max(1, SECONDS // SLICES)
        for turn in range(SLICES):
            for name in list(servers) if turn % 2 == 0 else list(reversed(servers)):
                total = totals[name]
                result = run_wrk(
                    wrk,
                    servers[name].url + "/api/webhooks/stripe",
                    connections,
                    bodies[name],
                    seconds,
                    total["requests"],
                )
                total["requests"] += result["requests"]
                total["seconds"] += result["duration_us"] / 1e6
                total["errors"] += result["non2xx"] + result["socket_errors"]
                total["slices"].append(result)
    finally:
        for live in servers.values():
            live.stop()
        for path in bodies.values():
            os.unlink(path)
    lines = []
    for name, total in totals.items():
        found = merged_percentiles(total["slices"])
        lines.append(
            f"webhook at {connections} connections, gunicorn {name:<24}: {total['requests'] / total['seconds']:>6.0f} "
            f"ev/s, p50 {found['p50'] / 1000:.2f} ms, p99 {found['p99'] / 1000:.2f} ms, {total['errors']} errors"
        )
    return lines


def machine() -> str:
    cpu, server = cpu_model(), redis_version()
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (
        f"{os.cpu_count()} cores ({cpu}), {mem:.0f} GiB, Python {platform.python_version()}, Redis {server}, "
        f"gunicorn {WORKERS} sync workers, load average before the run {os.getloadavg()[0]:.2f}"
    )


def main() -> None:
    wrk = need_wrk()
    redis_server = RedisServer().start()
    client = redis_server.client()
    live = LiveServer(production_env(redis_server.url), workers=WORKERS)
    live.args[live.args.index("app:app")] = "bench.bench_app:app"
    live.start()
    lines, shares, pages, extra = [], {}, [], []
    try:
        live.initialize_stock("chapter-i", {"balm-tee/M": 1_000_000})
        about = machine()  # the load before the run, not after it
        print(f"machine: {about}")
        cpu = ServerCpu(live, redis_server)
        if "levels" in PARTS:
            print(HEADER)
            for level in LEVELS:
                line = row_line(level, measure_level(wrk, live, client, cpu, level))
                print(line, flush=True)
                lines.append(line)

        if "profile" in PARTS:
            bodies = bodies_file(20_000)
            shares = profile(live, wrk, bodies)
            os.unlink(bodies)
            print(
                "where a worker's time goes at 16 connections:", json.dumps({k: round(v, 1) for k, v in shares.items()})
            )
        live.stop()

        if "threads" in PARTS:
            client.flushall()
            for line in threads_vs_workers(wrk, redis_server.url):
                print(line, flush=True)
                extra.append(line)
        if "cold" in PARTS:
            from bench import cold_start

            for line in cold_start.lines(cold_start.measure(redis_server.url)):
                print(line, flush=True)
                extra.append(line)

        if "orders" in PARTS:
            client.flushall()
            live.start()
            filled = 0
            for count in ORDER_COUNTS:
                fill_orders(client, count, filled)
                filled = count
                first = time_page(live.url, "/api/owner/orders?limit=50")
                shipped = time_page(live.url, "/api/owner/orders?limit=50&status=paid")
                memory = client.info("memory")["used_memory_human"]
                pages.append((count, first, shipped, memory))
                print(
                    f"orders page with {count:>9,} orders: page 1 p50 {first['p50']:.2f} ms p95 {first['p95']:.2f} "
                    f"ms; status=paid p50 {shipped['p50']:.2f} ms p95 {shipped['p95']:.2f} ms; redis memory {memory}"
                )
    finally:
        live.stop()
        redis_server.stop()
    write_results(about, lines, shares, pages, extra)


def write_results(about: str, lines, shares, pages, extra=()) -> None:
    """Append the parts that ran (BENCH_PARTS) as a dated section."""
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    text = [
        f"\n## {stamp}\n",
        f"Machine: {about}. wrk (a separate process) drives each route for {SECONDS} s per level, in "
        f"{SLICES} turns of alternating order, against the same gunicorn.\n",
    ]
    if lines:
        text += [
            "```",
            HEADER,
            *lines,
            "```",
            "",
            "ratio: webhook ev/s over trivial rq/s (`POST /__bench/ok`). bare: the bare handler (signature, "
            "json.loads, one one-key EVALSHA) over trivial; 1 RT: read the body and one PING over trivial; all "
            "bench/bench_app.py, same bodies, same gunicorn. Latency percentiles are over all turns together. "
            "cpu us/req: gunicorn (master and workers) plus redis-server CPU per request, not wrk's. cmds/ev: "
            "every Redis command per event from INFO commandstats deltas, including those the script runs inside "
            "Redis; EVALSHA/ev: round trips from the app per event (duplicates included).",
        ]
    if shares:
        text += ["", "Where a worker's time goes (py-spy, 16 connections):", ""]
        text += [f"- {part}: {share:.1f} %" for part, share in shares.items()]
    if pages:
        text += ["", "Owner orders page (limit 50), 200 sequential requests:", ""]
        text += [
            f"- {count:,} orders: page 1 p50 {a['p50']:.2f} ms / p95 {a['p95']:.2f} ms; status=paid p50 "
            f"{b['p50']:.2f} ms / p95 {b['p95']:.2f} ms (Redis memory {mem})"
            for count, a, b, mem in pages
        ]
    if extra:
        text += ["", "Threads against workers only, and the cold start (bench/cold_start.py):", ""]
        text += [f"- {line}" for line in extra]
    if not RESULTS.exists():
        RESULTS.write_text(
            "# Benchmark results\n\n`make bench` appends a section per run; older runs stay below for comparison.\n"
        )
    RESULTS.write_text(RESULTS.read_text() + "\n".join(text) + "\n")
    print(f"appended to {RESULTS}")


if __name__ == "__main__":
    main()
