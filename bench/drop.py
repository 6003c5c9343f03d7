"""make drop: a whole drop, simulated against gunicorn + a real redis-server + a Stripe stand-in, with the line on
and then off, and the figures that say whether the line is fair.

Real time, not compressed: the drop opens a few seconds after the run starts, and shoppers arrive over
``window`` seconds around ``opens_at`` (a share before it). Every request is loopback HTTP to the app
under gunicorn; the Stripe stand-in answers Checkout Session creation after a random 300-600 ms and
answers 429 over ``stripe_rate`` creations a second, as Stripe's rate limit does. Paying is a signed
``checkout.session.completed`` delivered to the webhook, as Stripe would.

Population: fans (one browser, one address each; 1-2 units) and bots (10 % of arrivals): each bot takes
many cookies from a few addresses, floods the line with joins, and checks out the most a checkout may hold
(10 units) with every ticket let through; with the line off, bots fire at the opening second and retry fast.

Every loop is bounded and the run stops by itself (``deadline`` seconds after the opening at most).
``python bench/drop.py`` runs the full form and appends to bench/results.md; ``run_drop(...)`` is what the
short CI form (tests/test_line_drop.py) calls.
"""

from __future__ import annotations

import json
import os
import platform
import random
import statistics
import sys
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import requests  # noqa: E402

from bench.machine import cpu_model, redis_version  # noqa: E402
from shop.line import member, spearman  # noqa: E402
from shop.shoppers import ShopperCookies  # noqa: E402
from tests.live_server import LiveServer, shop_env  # noqa: E402
from tests.redis_server import RedisServer  # noqa: E402
from tests.stripe_factory import WEBHOOK_SECRET, event, sign  # noqa: E402
from tests.stripe_stub import StripeStub  # noqa: E402

RESULTS = ROOT / "bench" / "results.md"
OWNER = "drop-owner"
CHAPTER = "chapter-i"
SKUS = ["balm-tee/S", "balm-tee/M", "balm-tee/L", "balm-tee/XL", "harbour-shirt/S", "harbour-shirt/M"]
SKUS += ["harbour-shirt/L", "tide-tote/OS"]
BOT_UNITS = 10  # the most one checkout may hold (SHOPPER_MAX_HELD_UNITS)


class SlowStripe(StripeStub):
    """The Stripe stand-in with Checkout Session creation taking ``latency`` seconds and a rate limit (429)."""

    def __init__(self, latency=(0.3, 0.6), rate: int = 25):
        super().__init__()
        self.latency, self.rate = latency, rate
        self.calls: Counter = Counter()
        self._recent: deque = deque()
        self._lock = threading.Lock()

    def _wsgi(self, environ, start_response):
        if environ.get("REQUEST_METHOD") == "POST" and environ.get("PATH_INFO") == "/v1/checkout/sessions":
            with self._lock:
                now = time.monotonic()
                while self._recent and now - self._recent[0] >= 1:
                    self._recent.popleft()
                limited = len(self._recent) >= self.rate
                if not limited:
                    self._recent.append(now)
                self.calls["429" if limited else "create"] += 1
            if limited:
                body = {
                    "error": {
                        "type": "invalid_request_error",
                        "code": "rate_limit",
                        "message": "Request rate limit exceeded. Learn more about rate limits here https://stripe.com/docs/rate-limits.",
                    }
                }
                return self._json(body, 429)(environ, start_response)
            time.sleep(random.uniform(*self.latency))
        return super()._wsgi(environ, start_response)


@dataclass
class Shopper:
    kind: str  # "fan" | "bot"
    arrival: float  # seconds from opens_at (negative: before)
    address: str
    admitted: float | None = None  # seconds from opens_at, first answer that let them through
    served: float | None = None  # seconds from opens_at of their first started checkout
    units: int = 0  # units paid for
    paid: int = 0  # checkouts paid for
    checkouts: list = field(default_factory=list)  # (status, ms)
    joins: int = 0
    tickets: int = 0
    closed: bool = False
    ticket: str | None = None  # the line's name for this fan's shopper cookie


@dataclass
class Drop:
    shoppers: int = 2000
    units: int = 200
    window: float = 60.0  # arrivals spread over this many seconds around the opening
    before_share: float = 0.4  # share of arrivals before opens_at
    bot_share: float = 0.1
    bot_addresses: int = 4
    bot_cookies: int = 10  # cookies (and so joins / checkouts) each bot tries
    admit_per_minute: int = 600
    pass_minutes: int = 5
    stripe_latency: tuple = (0.3, 0.6)
    stripe_rate: int = 25
    pay_delay: tuple = (1.0, 3.0)
    pay_share: float = 0.9
    deadline: float = 75.0  # the run stops this long after opens_at at the latest
    workers: int = 3
    threads: int = 8
    seed: int = 20261204

    def bots_expected(self) -> int:
        return int(self.shoppers * self.bot_share)


def _post_event(url: str, session: dict) -> int:
    evt = event("checkout.session.completed", session)
    body = json.dumps(evt).encode()
    headers = {"Stripe-Signature": sign(body, WEBHOOK_SECRET), "Content-Type": "application/json"}
    return requests.post(url + "/api/webhooks/stripe", data=body, headers=headers, timeout=30).status_code


class Run:
    def __init__(self, cfg: Drop, line_on: bool, live: LiveServer, stripe: SlowStripe, client):
        self.cfg, self.line_on, self.live, self.stripe, self.client = cfg, line_on, live, stripe, client
        self.rng = random.Random(cfg.seed + (1 if line_on else 0))
        self.opens = 0.0
        self.sold_out_at: float | None = None
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.requests = 0
        self.failures: Counter = Counter()
        self.cookies = ShopperCookies(live.env["SECRET_KEY"])  # to name each fan's ticket as the store does

    # -- time -------------------------------------------------------------------------------------------

    def now(self) -> float:
        """Seconds from opens_at."""
        return time.time() - self.opens

    def sleep_until(self, t: float) -> None:
        delay = t - self.now()
        if delay > 0:
            self.stop.wait(delay)

    def over(self) -> bool:
        return self.stop.is_set() or self.now() > self.cfg.deadline

    # -- one shopper --------------------------------------------------------------------------------------

    def http(self, session: requests.Session, method: str, url: str, **kwargs) -> requests.Response:
        """One request (retried once when the server closed an idle keep-alive connection), counted."""
        with self.lock:
            self.requests += 1
        try:
            return session.request(method, self.live.url + url, timeout=60, **kwargs)
        except requests.ConnectionError:
            return session.request(method, self.live.url + url, timeout=60, **kwargs)

    def browser(self, address: str) -> requests.Session:
        session = requests.Session()
        session.headers["X-Forwarded-For"] = address
        self.http(session, "GET", f"/chapters/{CHAPTER}")
        return session

    def wait_in_line(self, s: Shopper, session: requests.Session, poll: float) -> bool:
        """Join, then poll until let through (True) or closed / out of time (False)."""
        answer = self.http(session, "POST", f"/api/queue/{CHAPTER}/join")
        s.joins += 1
        if answer.status_code != 200:
            return False
        if answer.json()["state"] != "closed":  # a sold-out line answers closed and gives no ticket
            s.tickets += 1
        while not self.over():
            body = answer.json()
            if body["state"] == "admitted":
                if s.admitted is None:
                    s.admitted = self.now()
                return True
            if body["state"] == "closed":
                s.closed = True
                return False
            # as static/line.js: look again when the turn should come; before the opening, at the opening + 0-2 s
            wait = min(max(poll, body.get("eta_seconds") or 0), 10.0)
            if self.now() < 0:
                wait = min(max(poll, -self.now() + random.random() * 2), 10.0)
            self.stop.wait(wait)
            answer = self.http(session, "GET", f"/api/queue/{CHAPTER}")
            if answer.status_code != 200:
                return False
        return False

    def buy(self, s: Shopper, session: requests.Session, units: int, retry_wait: float, attempts: int) -> None:
        rng = random.Random(hash((s.address, s.arrival)))
        sku = rng.choice(SKUS)
        for _ in range(attempts):
            if self.over():
                return
            started = time.perf_counter()
            answer = self.http(session, "POST", "/api/checkout", json={"items": [{"sku": sku, "quantity": units}]})
            s.checkouts.append((answer.status_code, (time.perf_counter() - started) * 1000))
            if answer.status_code == 201:
                if s.served is None:
                    s.served = self.now()
                if rng.random() < self.cfg.pay_share or s.kind == "bot":
                    self.stop.wait(rng.uniform(*self.cfg.pay_delay))
                    paid = self.stripe.complete(answer.json()["session_id"])
                    if _post_event(self.live.url, paid) == 200:
                        with self.lock:
                            s.units += units
                            s.paid += 1
                return
            body = answer.json() if answer.headers.get("Content-Type", "").startswith("application/json") else {}
            if answer.status_code == 409 and body.get("skus"):
                left = [x for x in body["skus"] if x["available"] > 0]
                if left:
                    units = min(units, left[0]["available"])
                else:
                    sku = rng.choice(SKUS)  # that size is gone: try another
                continue
            if answer.status_code in (429, 502, 503):
                wait = float(answer.headers.get("Retry-After") or retry_wait)
                self.stop.wait(min(wait, 5.0) if s.kind == "fan" else retry_wait)
                continue
            return  # 403 (line), 409 (limits, closed): this shopper stops

    def fan(self, s: Shopper) -> None:
        self.sleep_until(s.arrival)
        if self.over():
            return
        session = self.browser(s.address)
        if self.line_on:
            s.ticket = member(self.cookies.read(session.cookies.get("shopper")) or "")
            if not self.wait_in_line(s, session, poll=1.0):
                return
        elif self.now() < 0:
            self.sleep_until(self.rng.uniform(0.2, 2.0))  # the countdown ends; a person clicks
        self.buy(s, session, units=1 if self.rng.random() < 0.7 else 2, retry_wait=1.0, attempts=6)

    def bot(self, s: Shopper) -> None:
        self.sleep_until(s.arrival)
        if self.over():
            return
        sessions = [self.browser(s.address) for _ in range(self.cfg.bot_cookies)]
        if self.line_on:
            threads = [
                threading.Thread(target=self._bot_ticket, args=(s, session), daemon=True) for session in sessions
            ]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        else:
            self.sleep_until(0.0)  # a script fires at the opening second
            for session in sessions:
                self.buy(s, session, units=BOT_UNITS, retry_wait=0.1, attempts=10)

    def _bot_ticket(self, s: Shopper, session: requests.Session) -> None:
        self.guarded(self._bot_one, s, session)

    def _bot_one(self, s: Shopper, session: requests.Session) -> None:
        if self.wait_in_line(s, session, poll=0.5):
            self.buy(s, session, units=BOT_UNITS, retry_wait=0.1, attempts=10)

    def guarded(self, target, *args) -> None:
        """A shopper whose connection failed twice gives up; the failure is counted and printed."""
        try:
            target(*args)
        except requests.RequestException as e:
            with self.lock:
                self.failures[type(e).__name__] += 1

    # -- the drop -------------------------------------------------------------------------------------------

    def population(self) -> list[Shopper]:
        cfg, rng = self.cfg, self.rng
        bots = cfg.bots_expected()
        start = -cfg.window * cfg.before_share
        people = []
        for i in range(cfg.shoppers):
            arrival = start + rng.random() * cfg.window
            if i < bots:
                people.append(Shopper("bot", arrival, f"203.0.113.{i % cfg.bot_addresses + 1}"))
            else:
                people.append(Shopper("fan", arrival, f"10.{i // 65536 % 256}.{i // 256 % 256}.{i % 256}"))
        return people

    def watch_stock(self) -> None:
        headers = {"Authorization": f"Bearer {OWNER}"}
        while not self.over():
            chapter = requests.get(self.live.url + "/api/owner/stock", headers=headers, timeout=30).json()["chapters"]
            rows = next(c for c in chapter if c["id"] == CHAPTER)["skus"]
            if self.sold_out_at is None and sum(r["available"] for r in rows) == 0:
                self.sold_out_at = self.now()  # every unit sold or in a checkout
                self.stop.wait(max(5.0, self.cfg.pay_delay[1] + 2))  # the last payments land
                self.stop.set()
                return
            self.stop.wait(0.25)

    def run(self) -> dict:
        cfg = self.cfg
        headers = {"Authorization": f"Bearer {OWNER}"}
        self.client.flushall()
        self.live.initialize_stock(CHAPTER, dict.fromkeys(SKUS, cfg.units // len(SKUS)))
        self.stripe.reset()
        self.stripe.calls.clear()
        lead = cfg.window * cfg.before_share + 3.0
        self.opens = time.time() + lead
        opens_iso = datetime.fromtimestamp(self.opens, tz=UTC).isoformat(timespec="milliseconds")
        queue = (
            {"starts_minutes_before": 60, "admit_per_minute": cfg.admit_per_minute, "pass_minutes": cfg.pass_minutes}
            if self.line_on
            else None
        )
        requests.post(
            f"{self.live.url}/api/owner/chapters/{CHAPTER}/release",
            json={"opens_at": opens_iso, "queue": queue},
            headers=headers,
            timeout=30,
        ).raise_for_status()
        people = self.population()
        before = command_calls(self.client)
        threads = [threading.Thread(target=self.watch_stock, daemon=True)]
        threads += [threading.Thread(target=self.guarded, args=(getattr(self, s.kind), s), daemon=True) for s in people]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=max(1.0, cfg.deadline + 60 - self.now()))
        self.stop.set()
        after = command_calls(self.client)
        line = requests.get(f"{self.live.url}/api/owner/chapters/{CHAPTER}/line", headers=headers, timeout=30).json()
        return self.figures(people, after - before, line)

    def figures(self, people: list[Shopper], commands: Counter, line: dict) -> dict:
        cfg = self.cfg
        stock = {k: int(v) for k, v in self.client.hgetall("{shop}:stock").items()}
        held = {k: int(v) for k, v in self.client.hgetall("{shop}:held").items()}
        oversold = 0
        for key in self.client.scan_iter("{shop}:order:*", count=1000):
            text = self.client.hget(key, "oversold")
            if text:
                oversold += sum(int(x.get("quantity", 0)) for x in json.loads(text))
        sold = cfg.units - sum(stock.values())
        bots = [s for s in people if s.kind == "bot"]
        fans = [s for s in people if s.kind == "fan"]
        bot_units = sum(s.units for s in bots)
        paid_units = sum(s.units for s in people)
        ok_ms = sorted(ms for s in people for status, ms in s.checkouts if status == 201)
        all_ms = sorted(ms for s in people for _, ms in s.checkouts)
        early = [s for s in fans if s.arrival < 0]
        key = "admitted" if self.line_on else "served"
        early_served = [s for s in early if getattr(s, key) is not None]
        if self.line_on:
            # the exact line order of every early fan's ticket (the shuffled part), not only of those served
            order = {m: i for i, m in enumerate(self.client.zrange(f"{{shop}}:line:{CHAPTER}:shuffle", 0, -1))}
            ranked = [s for s in early if s.ticket in order]
            rho = spearman([s.arrival for s in ranked], [order[s.ticket] for s in ranked])
        else:
            ranked = early_served  # with no line, the order in which early fans' checkouts started
            rho = spearman([s.arrival for s in ranked], [s.served for s in ranked])
        stripe_calls = self.stripe.calls["create"] + self.stripe.calls["429"]
        sales = sum(1 for s in people for status, _ in s.checkouts if status == 201)
        paid_orders = sum(s.paid for s in people)
        # line on: shoppers the line let through (passes); off: shoppers who started a checkout
        admitted = line.get("passes", 0) if self.line_on else sum(1 for s in people if s.served is not None)
        return {
            "line": "on" if self.line_on else "off",
            "shoppers": len(people),
            "fans": len(fans),
            "bots": len(bots),
            "arrived_before_opening": sum(1 for s in people if s.arrival < 0),
            "units": cfg.units,
            "sold": sold,
            "paid_units_seen": paid_units,
            "oversold": oversold,
            "negative_stock": sum(1 for v in stock.values() if v < 0) + sum(1 for v in held.values() if v < 0),
            "bot_units": bot_units,
            "bot_unit_share": bot_units / paid_units if paid_units else 0.0,
            "bot_arrival_share": len(bots) / len(people),
            "fans_who_bought": sum(1 for s in fans if s.units),
            "early_fans": len(early),
            "early_fans_served": len(early_served),
            "fairness_rho": rho,
            "fairness_n": len(ranked),
            "checkouts_started": sales,
            "checkout_p50_ms": percentile(ok_ms, 50),
            "checkout_p99_ms": percentile(ok_ms, 99),
            "checkout_all_p50_ms": percentile(all_ms, 50),
            "checkout_all_p99_ms": percentile(all_ms, 99),
            "checkout_answers": dict(Counter(status for s in people for status, _ in s.checkouts)),
            "store_commands": sum(commands.values()),
            "evalsha": commands.get("evalsha", 0),
            "admitted": admitted,
            "store_round_trips_per_admitted": (commands.get("evalsha", 0) / admitted) if admitted else None,
            "http_requests": self.requests,
            "store_round_trips_per_request": commands.get("evalsha", 0) / self.requests if self.requests else None,
            "client_failures": dict(self.failures),
            "stripe_calls": stripe_calls,
            "stripe_429": self.stripe.calls["429"],
            "stripe_calls_per_sale": stripe_calls / paid_orders if paid_orders else None,
            "sold_out_after_s": self.sold_out_at,
            "tickets": line.get("tickets"),
            "bot_tickets": sum(s.tickets for s in bots),
            "bot_joins": sum(s.joins for s in bots),
            "refused_address": line.get("refused_address"),
            "refused_no_cookie": line.get("refused_no_cookie"),
            "schema_errors": len(self.stripe.schema_errors),
        }


def percentile(values: list[float], p: float) -> float | None:
    if not values:
        return None
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[min(98, max(0, int(p) - 1))]


def command_calls(client) -> Counter:
    stats = client.info("commandstats")
    return Counter({name.removeprefix("cmdstat_"): v["calls"] for name, v in stats.items() if name != "cmdstat_info"})


def run_drop(cfg: Drop, lines=(True, False)) -> list[dict]:
    """Start redis-server, the Stripe stand-in and gunicorn, run the drop once per line setting, stop them all."""
    redis_server = RedisServer().start()
    stripe = SlowStripe(cfg.stripe_latency, cfg.stripe_rate).start()
    live = None
    try:
        env = shop_env(
            redis_server.url,
            STRIPE_SECRET_KEY="sk_test_drop",
            STRIPE_API_BASE=stripe.base,
            TRUSTED_PROXY_HOPS="1",
            OWNER_PASSWORD=OWNER,
        )
        live = LiveServer(env, workers=cfg.workers, threads=cfg.threads).start()
        client = redis_server.client()
        return [Run(cfg, line_on, live, stripe, client).run() for line_on in lines]
    finally:
        if live:
            live.stop()
        stripe.stop()
        redis_server.stop()


def report(cfg: Drop, results: list[dict]) -> str:
    def fmt(v, spec=".0f"):
        return "-" if v is None else format(v, spec)

    rows = [
        (
            "shoppers (fans + bots), arrived before opening",
            lambda r: f"{r['fans']} + {r['bots']}, {r['arrived_before_opening']}",
        ),
        ("units sold / on sale", lambda r: f"{r['sold']} / {r['units']}"),
        ("oversold / negative stock", lambda r: f"{r['oversold']} / {r['negative_stock']}"),
        (
            "units to bots (their share of arrivals)",
            lambda r: f"{r['bot_units']} = {r['bot_unit_share']:.0%} ({r['bot_arrival_share']:.0%})",
        ),
        ("fans who bought", lambda r: str(r["fans_who_bought"])),
        ("early fans served / early fans", lambda r: f"{r['early_fans_served']} / {r['early_fans']}"),
        (
            "fairness: Spearman(arrival, turn), early fans",
            lambda r: f"{r['fairness_rho']:+.2f} (n = {r['fairness_n']})",
        ),
        ("checkout started p50 / p99 ms", lambda r: f"{fmt(r['checkout_p50_ms'])} / {fmt(r['checkout_p99_ms'])}"),
        (
            "every checkout answer p50 / p99 ms",
            lambda r: f"{fmt(r['checkout_all_p50_ms'])} / {fmt(r['checkout_all_p99_ms'])}",
        ),
        ("checkout answers", lambda r: ", ".join(f"{k}: {v}" for k, v in sorted(r["checkout_answers"].items()))),
        ("store EVALSHAs per admitted shopper", lambda r: fmt(r["store_round_trips_per_admitted"], ".1f")),
        (
            "HTTP requests, EVALSHAs per request",
            lambda r: f"{r['http_requests']}, {fmt(r['store_round_trips_per_request'], '.2f')}",
        ),
        ("Stripe calls per sale (429s)", lambda r: f"{fmt(r['stripe_calls_per_sale'], '.2f')} ({r['stripe_429']})"),
        ("sold out after opening, s", lambda r: fmt(r["sold_out_after_s"], ".1f")),
        (
            "tickets (bot tickets / bot joins)",
            lambda r: f"{r['tickets']} ({r['bot_tickets']} / {r['bot_joins']})" if r["line"] == "on" else "-",
        ),
        (
            "joins refused: address cap / no cookie",
            lambda r: f"{r['refused_address']} / {r['refused_no_cookie']}" if r["line"] == "on" else "-",
        ),
    ]
    width = max(len(name) for name, _ in rows)
    head = f"{'':<{width}} | " + " | ".join(f"line {r['line']:<22}" for r in results)
    lines = [head, "-" * len(head)]
    for name, get in rows:
        lines.append(f"{name:<{width}} | " + " | ".join(f"{get(r):<27}" for r in results))
    return "\n".join(lines)


def machine(cfg: Drop) -> str:
    cpu, server = cpu_model(), redis_version()
    return (
        f"{os.cpu_count()} cores ({cpu}), Python {platform.python_version()}, Redis {server}, gunicorn "
        f"{cfg.workers} workers x {cfg.threads} threads, load average before the run {os.getloadavg()[0]:.2f}"
    )


def main() -> None:
    cfg = Drop(
        shoppers=int(os.environ.get("DROP_SHOPPERS", "2000")),
        units=int(os.environ.get("DROP_UNITS", "200")),
        window=float(os.environ.get("DROP_WINDOW", "60")),
    )
    where = machine(cfg)
    results = run_drop(cfg)
    table = report(cfg, results)
    print(table)
    text = f"""
## make drop, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC

Machine: {where}. Real time (not compressed): {cfg.shoppers} shoppers arriving over {cfg.window:.0f} s around the
opening, {cfg.before_share:.0%} before it; {cfg.bot_share:.0%} bots from {cfg.bot_addresses} addresses with
{cfg.bot_cookies} cookies each; {cfg.units} units of Chapter I; line: {cfg.admit_per_minute} let through a minute,
{cfg.pass_minutes}-minute passes; Stripe stand-in: Checkout Session creation {cfg.stripe_latency[0] * 1000:.0f}-{cfg.stripe_latency[1] * 1000:.0f} ms,
429 over {cfg.stripe_rate}/s; {cfg.pay_share:.0%} of fans (every bot) pay 1-3 s after their checkout starts.

```
{table}
```

How to read it: *oversold* and *negative stock* must be 0 in every run. *Units to bots* against their share of
arrivals says who the drop served: with the line off, whoever fires at the opening second wins. *Fairness* is
Spearman's rank correlation between when an early fan arrived and their turn: with the line, their ticket's
exact place in the line (every early fan's ticket, read from the store at the end); with the line off, when
their checkout started (only those who got one); about 0 means arriving first was no advantage, n is how many. *Store EVALSHAs per admitted
shopper* counts every script call of the drop (joins, polls, checkouts, webhooks) over the shoppers let through.
*Stripe calls per sale* counts Checkout Session creations, 429s included, per paid checkout. *Sold out* is
when no unit was left to start a checkout with (sold or held by an open checkout); the run then waits for the
last payments and stops (unpaid holds stay held, as they would for their 30 minutes).
"""
    with RESULTS.open("a") as f:
        f.write(text)
    print(f"appended to {RESULTS}")


if __name__ == "__main__":
    main()
