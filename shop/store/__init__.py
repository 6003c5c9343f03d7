"""The shop's store: the only code that knows Redis keys and scripts.

``Store`` turns domain calls into one script run (one round trip) per state
change, or into a read of a bounded number of keys. Results come back as plain
dicts and lists; a script's refusal is turned, right here next to the call, into
the typed error of shop/errors.py that the API answers with (its message and JSON
fields). The Stripe event scripts' keys are built in shop/store/events.py.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import orjson

from shop import releases
from shop.errors import (
    BadRequest,
    ChapterAlreadyInitialized,
    ChapterNotInitialized,
    CheckoutRateLimited,
    CheckoutRefused,
    LineNotFound,
    LineNotOpenYet,
    LinePassRequired,
    LineRefused,
    NoScript,
    NotRefundable,
    NotRefunded,
    OrderNotFound,
    RestockTooMany,
    StatusMoveRefused,
    StockBelowZero,
    StoreError,
)
from shop.lifecycle import CHECKOUT_MOVES, RESTOCKABLE, STRIPE_MOVES
from shop.store import keys
from shop.store.events import SCRIPTS as EVENT_SCRIPTS
from shop.store.events import event_call

SCRIPTS = Path(__file__).parent / "scripts"
_ORDER_MEMBER = re.compile(r"^\d{15}\|[A-Za-z0-9_-]{1,64}$")
_STREAM_ID = re.compile(r"^\d{1,20}-\d{1,20}$")


_INCLUDE = re.compile(r"^-- include: ([a-z_, ]+)$", re.MULTILINE)


class Script:
    """One ``.lua`` file, run by EVALSHA: the shared prelude, then the modules its header includes
    (a line ``-- include: event, session`` puts ``_event.lua`` and ``_session.lua`` in), then the script.
    """

    def __init__(self, name: str):
        text = (SCRIPTS / f"{name}.lua").read_text()
        match = _INCLUDE.search(text)
        modules = [m.strip() for m in match[1].split(",")] if match else []
        parts = [(SCRIPTS / f"_{part}.lua").read_text() for part in ("prelude", *modules)]
        self.name = name
        self.source = "\n".join((*parts, text))
        self.sha = hashlib.sha1(self.source.encode()).hexdigest()


_SCRIPT_NAMES = (
    *EVENT_SCRIPTS,
    "stock_change",
    "stock_read",
    "order_status",
    "ledger_page",
    "checkout_hold",
    "checkout_attach",
    "checkout_release",
    "rate_limit",
    "order_restock",
    "owner_attempt",
    "order_refund_request",
    "line_visit",
    "line_release",
    "line_watch",
)
LINE_TTL_MS = 30 * 86_400_000  # a line's keys outlive its drop by a month after the last join
LINE_WATCH_LEDGER = 20_000  # ledger entries the owner's Drop view reads at most to count units sold


def dumps(value: Any) -> str:
    """JSON text for the store (orjson: the webhook encodes its action on every event)."""
    return orjson.dumps(value).decode()


def encode_cursor(position: str) -> str:
    return base64.urlsafe_b64encode(position.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, pattern: re.Pattern) -> str:
    try:
        position = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        position = ""
    if not pattern.match(position):
        raise BadRequest("cursor is not one this API gave out; start again without it")
    return position


def _stream_position(position: str) -> str:
    """A stream id the ledger can go on below: each part fits 64 bits, and 0-0 has nothing below it."""
    ms, seq = (int(part) for part in position.split("-"))
    if ms >= 2**64 or seq >= 2**64 or (ms, seq) == (0, 0):
        raise BadRequest("cursor is not one this API gave out; start again without it")
    return position


def as_dict(value: Any) -> dict:
    """HGETALL answers a dict (redis-py) or a flat list (REST); make it a dict."""
    if isinstance(value, dict):
        return value
    return dict(zip(value[::2], value[1::2], strict=False)) if value else {}


class Store:
    """The shop's data. ``backend`` may be a backend or a callable that makes one on first use."""

    # A filtered ledger page reads at most this many entries; the cursor goes on from there.
    ledger_scan = 5000

    def __init__(self, backend):
        self._backend = backend if hasattr(backend, "evalsha") else None
        self._make_backend = None if self._backend else backend
        self._lock = threading.Lock()
        self.scripts = {name: Script(name) for name in _SCRIPT_NAMES}

    @property
    def backend(self):
        # The embedded store starts a redis-server: only when something needs it.
        if self._backend is None:
            with self._lock:
                if self._backend is None:
                    self._backend = self._make_backend()
        return self._backend

    @property
    def kind(self) -> str:
        return self.backend.kind

    @property
    def description(self) -> str:
        return self.backend.description

    def run(self, name: str, keys_: list[str], args: list[Any]) -> Any:
        """Run a script by its SHA; load it once if the server does not know it."""
        script = self.scripts[name]
        try:
            return self.backend.evalsha(script.sha, keys_, args)
        except NoScript:
            loaded = self.backend.script_load(script.source)
            if loaded != script.sha:
                raise StoreError(f"script {name} loaded as {loaded}, expected {script.sha}") from None
            return self.backend.evalsha(script.sha, keys_, args)

    def run_json(self, name: str, keys_: list[str], args: list[Any]) -> Any:
        return orjson.loads(self.run(name, keys_, args))

    # -- health -----------------------------------------------------------

    def round_trip(self, token: str) -> bool:
        """Write a value, read it back: the store accepts writes and keeps them."""
        written, read = self.backend.pipeline([("SET", keys.PROBE, token, "EX", 60), ("GET", keys.PROBE)])
        return read == token

    def owner_snapshot(
        self, token: str, days: list[str], *, orders: int = 0, attention: int = 0, owner_failures: int = 200
    ) -> dict:
        """Everything health and the owner's Today page read, in one pipeline (one round trip).

        The probe write and read, the last event, the event counters of ``days``, the latest refused
        deliveries, the last stock verification, alert failures and acknowledgements, the last event
        ignored for its livemode, which chapters are initialized, the latest wrong owner credentials,
        the owner session generation, and the newest ``orders`` and ``attention`` index members (their
        records come with ``orders_by_members``).
        """
        commands = [
            ("SET", keys.PROBE, token, "EX", 60),
            ("GET", keys.PROBE),
            ("HGETALL", keys.WEBHOOK),
            ("LRANGE", keys.WEBHOOK_ERRORS, 0, 4),
            ("GET", keys.STOCK_VERIFIED),
            ("LRANGE", keys.ALERT_FAILURES, 0, 2),
            ("HGETALL", keys.WEBHOOK_LIVEMODE),
            ("HGETALL", keys.CHAPTERS),
            ("HGETALL", keys.ALERT_ACKS),
            ("ZREVRANGEBYLEX", keys.ORDERS, "+", "-", "LIMIT", 0, orders),
            ("ZREVRANGEBYLEX", keys.ATTENTION, "+", "-", "LIMIT", 0, attention),
            ("LRANGE", keys.OWNER_FAILURES, 0, owner_failures - 1),
            ("GET", keys.OWNER_GENERATION),
            *[("HGETALL", keys.stats_day(d)) for d in days],
        ]
        (_, probe, last, errors, verified, failures, livemode, chapters, acks, recent, flagged, wrong, gen, *counts) = (
            self.backend.pipeline(commands)
        )
        return {
            "probe_ok": probe == token,
            "last_event": as_dict(last),
            "webhook_errors": [orjson.loads(r) for r in errors or []],
            "stock_verified": orjson.loads(verified) if verified else None,
            "alert_failures": [orjson.loads(r) for r in failures or []],
            "livemode_mismatch": as_dict(livemode),
            "initialized_chapters": as_dict(chapters),
            "alert_acks": as_dict(acks),
            "recent_members": list(recent or []) if orders else [],
            "attention_members": list(flagged or []) if attention else [],
            "owner_failures": list(wrong or []),
            "owner_generation": int(gen or 0),
            "event_counts": [as_dict(c) for c in counts],
        }

    def orders_by_members(self, members: list[str]) -> dict[str, dict]:
        """The records of index members ("created|order id"), by order id: one pipeline."""
        ids = list(dict.fromkeys(m.split("|", 1)[1] for m in members))
        records = self.backend.pipeline([("HGETALL", keys.order(i)) for i in ids])
        return {i: as_dict(r) for i, r in zip(ids, records, strict=True) if r}

    def count_livemode_mismatch(self, event: dict, now_ms: int, day: str) -> None:
        """An event of the other Stripe mode than the key's: counted and remembered, nothing else (one pipeline).

        It is kept apart from the last event (keys.WEBHOOK), which tells the mode of the events this shop
        takes (the order page's Dashboard links follow it).
        """
        field = f"{event['event_type']}|livemode_mismatch"
        last = ("at", now_ms, "id", event["event_id"], "type", event["event_type"], "livemode", event["livemode"])
        self.backend.pipeline(
            [
                ("HINCRBY", keys.STATS_TOTAL, field, 1),
                ("HINCRBY", keys.stats_day(day), field, 1),
                ("EXPIRE", keys.stats_day(day), 8 * 86400),
                ("HSET", keys.WEBHOOK_LIVEMODE, *last),
            ]
        )

    def last_event(self) -> dict:
        return as_dict(self.backend.call("HGETALL", keys.WEBHOOK))

    def event_counts(self, days: list[str]) -> list[dict]:
        """Event counters ("type|outcome" -> n) of each given day, YYYYMMDD."""
        return [as_dict(v) for v in self.backend.pipeline([("HGETALL", keys.stats_day(d)) for d in days])]

    # -- stock ------------------------------------------------------------

    def read_stock(self, chapters: list[tuple[str, list[str]]], now_ms: int) -> list:
        return self.run_json("stock_read", keys.STOCK_KEYS, [now_ms, dumps(chapters)])

    def read_stock_and_releases(self, chapters: list[tuple[str, list[str]]], now_ms: int) -> tuple[list, dict]:
        """Stock of the given chapters and every chapter's release, in one round trip."""
        rows, windows = self.run_json("stock_read", [*keys.STOCK_KEYS, keys.RELEASES], [now_ms, dumps(chapters)])
        return rows, {k: orjson.loads(v) for k, v in (windows or {}).items()}

    def change_stock(self, request: dict, now_ms: int, *, chapter_name: str) -> dict:
        """Initialize, set or adjust a chapter's stock, all or nothing (one EVALSHA).

        Returns {"ok": True, "initialized", "rows": [[sku, on_hand, held], ...]}.
        Raises:
            ChapterAlreadyInitialized, ChapterNotInitialized, StockBelowZero (with "skus"): nothing changed.
        """
        result = self.run_json("stock_change", keys.STOCK_KEYS, [now_ms, dumps(request)])
        error = result.get("error")
        if error == "already_initialized":
            raise ChapterAlreadyInitialized(chapter_name)
        if error == "not_initialized":
            raise ChapterNotInitialized(
                f"{chapter_name} is not initialized yet; initialize it first", request["chapter"]
            )
        if error == "negative":
            raise StockBelowZero(result["skus"])
        return result

    def ledger_page(
        self, *, sku: str | None, reason: str | None, limit: int, cursor: str | None
    ) -> tuple[list, str | None]:
        start = "(" + _stream_position(decode_cursor(cursor, _STREAM_ID)) if cursor else "+"
        query = {"cursor": start, "limit": limit, "scan": self.ledger_scan}
        if sku:
            query["sku"] = sku
        if reason:
            query["reason"] = reason
        page = self.run_json("ledger_page", [keys.LEDGER], [dumps(query)])
        entries = [(entry_id, as_dict(fields)) for entry_id, fields in page["entries"] or []]
        return entries, encode_cursor(page["next"]) if page["next"] else None

    def ledger_all(self, batch: int = 1000):
        """Every ledger entry, oldest first (for replay and verification)."""
        start = "-"
        while True:
            rows = self.backend.call("XRANGE", keys.LEDGER, start, "+", "COUNT", batch)
            for entry_id, fields in rows:
                yield entry_id, as_dict(fields)
            if len(rows) < batch:
                return
            start = "(" + rows[-1][0]

    # -- orders -----------------------------------------------------------

    def apply_event(self, action, now_ms: int, day: str) -> dict:
        """Apply one verified Stripe event (a frozen action of shop/stripe_events.py) to its order: one EVALSHA.

        Returns {"status": "applied"|"duplicate"|"ignored"|"need_items"|"session_conflict", "order_id",
        "order_status"}; an applied answer also carries "flags" and, after a sale, "stock": {sku: [on_hand,
        held]} of the order's tracked SKUs. need_items and session_conflict changed nothing: the caller
        calls again with a new action (shop/fulfillment.py).
        """
        script, event_keys, argument = event_call(action, day)
        return self.run_json(script, event_keys, [now_ms, dumps(argument)])

    def checkout_hold(
        self,
        request: dict,
        idempotency_key: str | None,
        now_ms: int,
        *,
        shopper_id: str | None = None,
        address: str = "unknown",
        chapter_names: Mapping[str, str] | None = None,
        product_names: Mapping[str, str] | None = None,
    ) -> dict:
        """Judge every drop limit and hold every line, storing the pending order, or hold nothing (one EVALSHA).

        ``idempotency_key`` comes already scoped to the shopper (shop.checkout); the names are the cart's
        chapters' and limited products' (by id), for the shopper's words when a limit refuses.

        Returns:
            {"ok": True, "replaced": the order id of the shopper's checkout this one released, or None},
            or {"replay_of": order id} when the Idempotency-Key was used already.
        Raises:
            CheckoutRefused: the cart cannot be held (not on sale, a limit, not enough stock); nothing was held.
            CheckoutRateLimited: too many checkouts from the address in the last minute.
        """
        request = {**request, "idempotency": bool(idempotency_key), "idempotency_ttl": 86400}
        email = request.get("email")
        hold_keys = [
            *keys.STOCK_KEYS,
            keys.order(request["order_id"]),
            keys.ORDERS,
            *(keys.status_index(s) for s in CHECKOUT_MOVES["start"].target),
            keys.idempotency(idempotency_key),
            keys.RELEASES,
            # No shopper (no valid cookie): a new one, whose only checkout is this one.
            keys.shopper(shopper_id or f"new:{request['order_id']}"),
            keys.address_holds(address),
            keys.address_starts(address),
            keys.customer_paid(email),
            keys.customer_holds(email),
        ]
        return _hold_answer(
            self.run_json("checkout_hold", hold_keys, [now_ms, dumps(request)]), chapter_names, product_names
        )

    # -- releases -----------------------------------------------------------

    def releases(self) -> dict[str, dict]:
        """Every chapter's stored release window: chapter id -> {"opens_at", "closes_at"} (ms or None)."""
        return {k: orjson.loads(v) for k, v in as_dict(self.backend.call("HGETALL", keys.RELEASES)).items()}

    def set_release(
        self, chapter_id: str, opens_ms: int | None, closes_ms: int | None, queue: dict | None = None
    ) -> dict:
        """Store a chapter's window (and line); with neither time the chapter has no release (open once initialized).

        One script: the line's tickets are kept and re-sorted against the new opens_at ("joined before" is judged
        against the opens_at in force).
        """
        cleared = opens_ms is None and closes_ms is None
        text = "" if cleared else dumps({"opens_at": opens_ms, "closes_at": closes_ms, "queue": queue})
        line_keys = [keys.RELEASES, *(keys.line(chapter_id, p) for p in ("arrivals", "shuffle", "draws"))]
        return self.run_json("line_release", line_keys, [chapter_id, text])

    # -- the line -------------------------------------------------------------

    def line_visit(
        self,
        chapter_id: str,
        skus: list[str],
        member: str | None,
        *,
        now_ms: int,
        join: bool,
        address: str,
        draw: float,
        max_tickets: int,
        chapter_name: str | None = None,
    ) -> dict:
        """Join a chapter's line (when asked) and read one ticket's place: one EVALSHA.

        Raises:
            LineNotFound, LineNotOpenYet (with opens_at), LineRefused (no shopper, address cap): nothing joined.
        """
        request = {
            "chapter": chapter_id,
            "skus": skus,
            "member": member,
            "join": join,
            "address": keys.line_address(address),
            "draw": draw,
            "max_tickets": max_tickets,
            "ttl_ms": LINE_TTL_MS,
        }
        line_keys = [
            *keys.STOCK_KEYS,
            keys.RELEASES,
            *(keys.line(chapter_id, p) for p in ("arrivals", "shuffle", "draws", "addrs", "passes", "stats")),
        ]
        return _line_answer(
            self.run_json("line_visit", line_keys, [now_ms, dumps(request)]), chapter_name or chapter_id
        )

    def line_watch(self, chapter_id: str) -> dict:
        """The owner's view of a chapter's line and its units sold since the line started: one EVALSHA."""
        line_keys = [
            keys.RELEASES,
            keys.line(chapter_id, "arrivals"),
            keys.line(chapter_id, "shuffle"),
            keys.line(chapter_id, "stats"),
            keys.LEDGER,
        ]
        return self.run_json("line_watch", line_keys, [chapter_id, LINE_WATCH_LEDGER])

    def checkout_attach(self, order_id: str, session_id: str, checkout_url: str) -> dict:
        request = {"order_id": order_id, "session_id": session_id, "checkout_url": checkout_url}
        return self.run_json("checkout_attach", [keys.order(order_id), keys.SESSION_ORDERS], [dumps(request)])

    def checkout_release(
        self, order_id: str, *, actor: str, note: str, idempotency_key: str | None, now_ms: int
    ) -> dict:
        move = CHECKOUT_MOVES["release"]
        release_keys = [
            *keys.STOCK_KEYS,
            keys.order(order_id),
            keys.idempotency(idempotency_key),
            *(keys.status_index(s) for s in (*move.source, *move.target)),
        ]
        request = {"order_id": order_id, "actor": actor, "note": note, "from": list(move.source)}
        return self.run_json("checkout_release", release_keys, [now_ms, dumps(request)])

    def order_and_customer_for_payment(self, payment_intent: str) -> tuple[str | None, str | None]:
        """The order a payment paid for, and the customer its limited units counted for (one round trip)."""
        order_id, limit_email = self.backend.call(
            "HMGET", keys.PAYMENT_ORDERS, payment_intent, f"{payment_intent}|limit_email"
        )
        return order_id, limit_email

    def order_for_payment(self, payment_intent: str) -> str | None:
        return self.backend.call("HGET", keys.PAYMENT_ORDERS, payment_intent)

    def order_for_session(self, session_id: str) -> str | None:
        return self.backend.call("HGET", keys.SESSION_ORDERS, session_id)

    def get_order(self, order_id: str) -> dict | None:
        record = as_dict(self.backend.call("HGETALL", keys.order(order_id)))
        return record or None

    def list_orders(
        self, *, status: str | None, limit: int, cursor: str | None, email: str | None = None
    ) -> tuple[list[dict], str | None]:
        """One page of orders (of one status, or of one customer email), newest first.

        Two round trips whatever the order count: the index page, then the orders.
        """
        if email:
            index = keys.customer_orders(email)
        elif status == "attention":
            index = keys.ATTENTION
        else:
            index = keys.status_index(status) if status else keys.ORDERS
        top = "(" + decode_cursor(cursor, _ORDER_MEMBER) if cursor else "+"
        members = self.backend.call("ZREVRANGEBYLEX", index, top, "-", "LIMIT", 0, limit + 1)
        page, more = members[:limit], len(members) > limit
        records = self.backend.pipeline([("HGETALL", keys.order(m.split("|", 1)[1])) for m in page])
        orders = [as_dict(r) for r in records if r]
        return orders, encode_cursor(page[-1]) if more else None

    def set_order_status(self, order_id: str, request: dict, now_ms: int) -> dict:
        """The owner's move (``request["status"]`` from one of ``request["allowed_from"]``): one EVALSHA.

        Raises:
            OrderNotFound, StatusMoveRefused: nothing changed.
        """
        request = {k: v for k, v in request.items() if v is not None}
        result = self.run_json("order_status", [keys.order(order_id), *keys.STATUS_INDEXES], [now_ms, dumps(request)])
        if result.get("error") == "not_found":
            raise OrderNotFound(order_id)
        if result.get("error") == "not_allowed":
            raise StatusMoveRefused(order_id, result["from"], request["status"], tuple(request["allowed_from"]))
        return result

    # -- owner mode ---------------------------------------------------------

    def hit_rate_limit(self, bucket: str, limit: int, window_seconds: int) -> tuple[bool, int]:
        """Count one attempt; (allowed, seconds until the window ends)."""
        allowed, wait = orjson.loads(self.run("rate_limit", [keys.rate_limit(bucket)], [limit, window_seconds]))
        return bool(allowed), int(wait)

    def owner_attempt(self, address: str, request: dict) -> dict:
        """Count and check one owner credential from ``address`` (one EVALSHA); see owner_attempt.lua."""
        attempt_keys = [keys.owner_attempts(address), keys.OWNER_FAILURES, keys.OWNER_ALERTED, keys.OWNER_GENERATION]
        return self.run_json("owner_attempt", attempt_keys, [dumps(request)])

    def owner_generation(self) -> int:
        """The owner session generation a cookie must carry to be valid."""
        return int(self.backend.call("GET", keys.OWNER_GENERATION) or 0)

    def end_owner_sessions(self) -> int:
        """Bump the generation: every owner session cookie issued before ends, wherever it was copied."""
        return int(self.backend.call("INCR", keys.OWNER_GENERATION))

    def count_rejected(self, day: str, reason: str, now_ms: int) -> int:
        """One more delivery refused for its signature (for health and alerts): one round trip, bounded keys."""
        record = dumps({"at": now_ms, "error": reason[:300]})
        answers = self.backend.pipeline(
            [
                ("HINCRBY", keys.stats_day(day), "signature|rejected", 1),
                ("EXPIRE", keys.stats_day(day), 8 * 86400),
                ("LPUSH", keys.WEBHOOK_ERRORS, record),
                ("LTRIM", keys.WEBHOOK_ERRORS, 0, 19),
            ]
        )
        return int(answers[0])

    def recent_webhook_errors(self, count: int) -> list[dict]:
        return [orjson.loads(r) for r in self.backend.call("LRANGE", keys.WEBHOOK_ERRORS, 0, count - 1) or []]

    def alert_acks(self) -> dict:
        return as_dict(self.backend.call("HGETALL", keys.ALERT_ACKS))

    def acknowledge_alert(self, alert_id: str, now_ms: int) -> None:
        self.backend.call("HSET", keys.ALERT_ACKS, alert_id, now_ms)

    def restock_order(self, order_id: str, request: dict, now_ms: int) -> dict:
        """Put a refunded order's units back, each at most once (one EVALSHA).

        Raises:
            OrderNotFound, NotRefunded, RestockTooMany, ChapterNotInitialized: nothing changed.
        """
        request = {**request, "from": list(RESTOCKABLE)}
        result = self.run_json("order_restock", [*keys.STOCK_KEYS, keys.order(order_id)], [now_ms, dumps(request)])
        error = result.get("error")
        if error == "not_found":
            raise OrderNotFound(order_id)
        if error == "not_refunded":
            raise NotRefunded(order_id, result["status"])
        if error == "too_many":
            raise RestockTooMany(result["skus"])
        if error == "not_initialized":
            chapter = result["chapter"]
            raise ChapterNotInitialized(
                f"{chapter} is not initialized: initialize its stock before restocking", chapter
            )
        return result

    def request_refund(self, order_id: str, *, restock: bool, note: str, now_ms: int) -> dict:
        """Remember, on a refundable order, whether its refund puts the units back (event_refund.lua restocks).

        Raises:
            OrderNotFound, NotRefundable: nothing changed.
        """
        result = self.run_json(
            "order_refund_request",
            [keys.order(order_id)],
            [now_ms, dumps({"restock": restock, "note": note, "refundable": STRIPE_MOVES["refund"].source})],
        )
        if result.get("error") == "not_found":
            raise OrderNotFound(order_id)
        if result.get("error") == "not_refundable":
            raise NotRefundable(order_id, result["status"])
        return result

    def save_stock_verification(self, result: dict) -> None:
        self.backend.call("SET", keys.STOCK_VERIFIED, dumps(result))

    def last_stock_verification(self) -> dict | None:
        text = self.backend.call("GET", keys.STOCK_VERIFIED)
        return orjson.loads(text) if text else None

    def event_seen(self, event_id: str) -> bool:
        """Whether an event was applied (its mark lives 35 days)."""
        return bool(self.backend.call("EXISTS", keys.event(event_id)))

    def record_alert_failure(self, failure: dict) -> None:
        self.backend.pipeline([("LPUSH", keys.ALERT_FAILURES, dumps(failure)), ("LTRIM", keys.ALERT_FAILURES, 0, 19)])

    def alert_failures(self, count: int = 5) -> list[dict]:
        return [orjson.loads(r) for r in self.backend.call("LRANGE", keys.ALERT_FAILURES, 0, count - 1) or []]


def _hold_answer(held: dict, chapter_names: Mapping | None, product_names: Mapping | None) -> dict:
    """checkout_hold.lua's answer: the hold, a replay, or the typed refusal in the shopper's words."""
    error = held.get("error")
    if not error:
        return held
    if error == "idempotent":
        return {"replay_of": held["order_id"]}
    chapter = (chapter_names or {}).get(held.get("chapter"), held.get("chapter"))
    if error == "scheduled":
        raise CheckoutRefused(
            f"{chapter} is not on sale yet: it opens at {releases.owner_words(held['opens_at'])}; come back then",
            error,
            opens_at=releases.iso_utc(held["opens_at"]),
        )
    if error == "closed":
        raise CheckoutRefused(
            f"{chapter} is no longer on sale: it closed at {releases.owner_words(held['closes_at'])}",
            error,
            closes_at=releases.iso_utc(held["closes_at"]),
        )
    if error == "line":
        raise LinePassRequired(held["chapter"])
    if error == "rate":
        raise CheckoutRateLimited(held["retry_after"])
    if error == "shopper_limit":
        raise CheckoutRefused(
            f"one checkout can reserve at most {held['limit']} items; take some out of your cart and try again",
            error,
            limit=held["limit"],
        )
    if error == "address_limit":
        raise CheckoutRefused(
            f"too many items are reserved from your network right now (at most {held['limit']} at once); "
            "finish or cancel an open checkout, or try again when one ends",
            error,
            limit=held["limit"],
        )
    if error == "customer_limit":
        name = (product_names or {}).get(held["product"], held["product"])
        raise CheckoutRefused(
            f"{name} is sold {releases.limit_words(name, held['limit'])}, and this email already "
            f"has {held['taken']} in an order or an open checkout; take it out of your cart to buy the rest",
            error,
            product=held["product"],
            limit=held["limit"],
        )
    if error == "short":
        names = ", ".join(f"{s['sku']} ({s['available']} left)" for s in held["skus"])
        raise CheckoutRefused(f"not enough stock for: {names}; change the cart and try again", error, skus=held["skus"])
    raise CheckoutRefused(f"the checkout could not start ({error}); please try again", error)


def _line_answer(answer: dict, chapter_name: str) -> dict:
    """line_visit.lua's answer: the ticket's place, or the typed refusal in the shopper's words."""
    error = answer.get("error")
    if error == "no_line":
        raise LineNotFound(chapter_name)
    if error == "not_yet":
        raise LineNotOpenYet(
            f"the line for {chapter_name} opens at {releases.owner_words(answer['starts_at'])}; come back then",
            releases.iso_utc(answer["opens_at"]),
        )
    if error == "no_shopper":
        raise LineRefused(
            "open the shop's page first (with cookies on) and the line will take you; "
            "a place in line goes only to a browser the shop has already seen"
        )
    if error == "address_cap":
        raise LineRefused(
            f"this network already has {answer['limit']} places in this line, the most one address can hold; "
            "try from another connection"
        )
    return answer
