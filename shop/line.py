"""The line (SPEC section 7): a fair waiting room for drop time, with no background worker.

Pure rules here (no store, no clock of their own): the owner's ``queue`` object checked, how many
tickets the clock has admitted, a waiting ticket's position and wait, the signed ticket and pass
cookies. The store keeps the line (shop/store/scripts/line_*.lua) and applies the same arithmetic
atomically; ``Line`` is what the web layers call.

How the line is fair:
- Everyone who joined before ``opens_at`` is ordered by a random draw made at join (``secrets``),
  so arriving early is enough and arriving first is no advantage; later arrivals queue behind them
  in arrival order.
- Admission comes from the clock: ``admitted(t) = floor((t - opens_at) * admit_per_minute / 60)``
  tickets in line order. Nothing has to run for time to pass.
- A ticket is given only to a shopper cookie set by an earlier page view, at most
  ``ADDRESS_MAX_TICKETS`` per client address per line (judged in the join script).
"""

from __future__ import annotations

import hashlib
import math
import secrets

from itsdangerous import BadSignature, URLSafeSerializer

from shop.errors import BadRequest, Forbidden

QUEUE_FIELDS = {
    # field: (smallest, largest, what it means)
    "starts_minutes_before": (0, 1440, "minutes before opens_at that shoppers may join the line"),
    "admit_per_minute": (1, 100_000, "shoppers let through per minute"),
    "pass_minutes": (1, 240, "minutes an admitted shopper has to start a checkout"),
}
QUEUE_FORM = '{"starts_minutes_before": 15, "admit_per_minute": 60, "pass_minutes": 10}'
TICKET_COOKIE = "line_ticket_"  # + chapter id
PASS_COOKIE = "line_pass_"  # + chapter id
TICKET_DAYS = 7


def check_queue(value) -> dict | None:
    """The owner's ``queue`` object -> the stored form, or BadRequest with the expected form. None: no line."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise BadRequest(f"queue must be an object such as {QUEUE_FORM}, or null for no line")
    unknown = sorted(set(value) - set(QUEUE_FIELDS))
    missing = sorted(set(QUEUE_FIELDS) - set(value))
    if unknown or missing:
        said = (f"unknown field(s) {', '.join(unknown)}" if unknown else "") + (
            ("; " if unknown and missing else "") + (f"missing {', '.join(missing)}" if missing else "")
        )
        raise BadRequest(f"queue: {said}; send {QUEUE_FORM}")
    queue = {}
    for name, (low, high, meaning) in QUEUE_FIELDS.items():
        n = value[name]
        if isinstance(n, bool) or not isinstance(n, int) or not low <= n <= high:
            raise BadRequest(f"queue.{name} ({meaning}) must be a whole number from {low} to {high}, got {n!r}")
        queue[name] = n
    return queue


def admitted(now_ms: int, opens_ms: int, admit_per_minute: int) -> int:
    """Tickets the clock has let through by ``now_ms``: floor((t - opens_at) * admit_per_minute / 60)."""
    if now_ms < opens_ms:
        return 0
    return (now_ms - opens_ms) * admit_per_minute // 60_000


def admitted_at(rank: int, opens_ms: int, admit_per_minute: int) -> int:
    """The first ms at which the ticket with 0-based line ``rank`` is admitted."""
    return opens_ms + -(-(rank + 1) * 60_000 // admit_per_minute)


def eta_seconds(rank: int, now_ms: int, opens_ms: int, admit_per_minute: int) -> int:
    """Whole seconds until the ticket at 0-based ``rank`` is admitted (0 once it is)."""
    return max(0, math.ceil((admitted_at(rank, opens_ms, admit_per_minute) - now_ms) / 1000))


def member(shopper_id: str) -> str:
    """The line's name for a shopper: one ticket per shopper per line, the shopper id never kept in clear."""
    return hashlib.sha256(f"line:{shopper_id}".encode()).hexdigest()[:24]


def draw() -> float:
    """The random place of a ticket joined before opens_at (from ``secrets``, never guessable)."""
    return secrets.randbits(52) / (1 << 52)


def spearman(xs: list[float], ys: list[float]) -> float:
    """Spearman's rank correlation (no ties expected): 1 = same order, 0 = unrelated, -1 = reversed."""
    n = len(xs)
    if n < 2:
        return 0.0

    def ranks(values):
        order = sorted(range(n), key=lambda i: values[i])
        r = [0] * n
        for rank, i in enumerate(order):
            r[i] = rank
        return r

    rx, ry = ranks(xs), ranks(ys)
    d2 = sum((a - b) ** 2 for a, b in zip(rx, ry, strict=True))
    return 1 - 6 * d2 / (n * (n * n - 1))


def wait_words(position: int | None, eta: int | None) -> str:
    """ "You're in line — 12 people ahead, about 3 minutes" (what the line page says)."""
    if position is None:
        return ""
    ahead = position - 1
    people = "nobody" if ahead == 0 else ("1 person" if ahead == 1 else f"{ahead} people")
    minutes = max(1, math.ceil((eta or 0) / 60))
    return f"You're in line — {people} ahead, about {minutes} minute{'s' if minutes != 1 else ''}"


class LineCookies:
    """The ticket and the pass: signed (SECRET_KEY), bound to one shopper and one chapter, with an expiry in ms."""

    def __init__(self, secret_key: str):
        self._ticket = URLSafeSerializer(secret_key, salt="shop.line.ticket")
        self._pass = URLSafeSerializer(secret_key, salt="shop.line.pass")

    def _make(self, serializer, shopper_id: str, chapter: str, expires_ms: int) -> str:
        return serializer.dumps({"s": shopper_id, "c": chapter, "x": int(expires_ms)})

    def _read(self, serializer, value: str | None, shopper_id: str | None, chapter: str, now_ms: int) -> str:
        """'ok', 'missing', 'other_shopper' or 'expired'."""
        if not value or len(value) > 400:
            return "missing"
        try:
            data = serializer.loads(value)
        except BadSignature:
            return "missing"
        if not isinstance(data, dict) or data.get("c") != chapter or not isinstance(data.get("x"), int):
            return "missing"
        if not shopper_id or not isinstance(data.get("s"), str) or data["s"] != shopper_id:
            return "other_shopper"
        return "ok" if now_ms < data["x"] else "expired"

    def ticket(self, shopper_id: str, chapter: str, expires_ms: int) -> str:
        return self._make(self._ticket, shopper_id, chapter, expires_ms)

    def read_ticket(self, value, shopper_id, chapter, now_ms) -> str:
        return self._read(self._ticket, value, shopper_id, chapter, now_ms)

    def pass_(self, shopper_id: str, chapter: str, expires_ms: int) -> str:
        return self._make(self._pass, shopper_id, chapter, expires_ms)

    def read_pass(self, value, shopper_id, chapter, now_ms) -> str:
        return self._read(self._pass, value, shopper_id, chapter, now_ms)


class Line:
    """The line of each chapter whose release has a ``queue``; the clock is the inventory's (tests move it)."""

    def __init__(self, store, inventory, settings):
        self.store = store
        self.inventory = inventory
        self.settings = settings

    def now_ms(self) -> int:
        return self.inventory.now_ms()

    def visit(self, chapter_id: str, shopper_id: str | None, *, join: bool, address: str = "unknown") -> dict:
        """Join (if asked) and read one shopper's place: one store round trip.

        Returns the SPEC's answer ``{"state", "position", "ahead", "eta_seconds", "opens_at"}`` plus, for the
        web layer, ``pass_expires`` (ms) when admitted and ``message`` when closed.
        Raises: NotFound (no chapter), LineNotFound, LineNotOpenYet, LineRefused (no shopper cookie, address
        cap), TooManyRequests never (a refused join is counted for the owner).
        """
        from shop import releases

        chapter = self.inventory.chapter(chapter_id)
        now = self.now_ms()
        answer = self.store.line_visit(
            chapter.id,
            chapter.skus,
            member(shopper_id) if shopper_id else None,
            now_ms=now,
            join=join,
            address=address,
            draw=draw() if join else 0.0,
            max_tickets=self.settings.limits.address_max_tickets,
            chapter_name=chapter.name,
        )
        result = {
            "state": answer["state"],
            "position": answer.get("position"),
            "ahead": answer.get("ahead"),
            "eta_seconds": answer.get("eta_seconds"),
            "opens_at": releases.iso_utc(answer["opens_at"]),
        }
        if answer["state"] == "closed":
            result["message"] = (
                f"{chapter.name} is sold out, sorry: everything is sold or in someone's checkout"
                if answer.get("sold_out")
                else f"{chapter.name} is no longer on sale"
            )
        if answer.get("pass_expires"):
            result["pass_expires"] = answer["pass_expires"]
        if answer.get("rejoined"):
            result["rejoined"] = True
        if answer.get("arrival") is not None:
            result["ticket_expires"] = answer["arrival"] + TICKET_DAYS * 86_400_000
        return result

    def refusal(self, chapter_id: str, shopper_id: str | None, pass_state: str) -> Forbidden:
        """The 403 of a checkout without a valid pass while the line runs, with the shopper's position.

        An expired pass sends its shopper to the back of the line (the line script re-joins them there).
        """
        chapter = self.inventory.chapter(chapter_id)
        place = self.visit(chapter_id, shopper_id, join=False)
        where = {k: place[k] for k in ("state", "position", "ahead", "eta_seconds")}
        if pass_state == "other_shopper":
            why = "this pass was given to another browser"
        elif pass_state == "expired":
            why = "your turn to check out has ended, so you are back in the line"
        else:
            why = f"{chapter.name} sells through a waiting line"
        if place["state"] == "waiting":
            tail = f"you are number {place['position']} in line; the line page lets you through when it is your turn"
        elif place["state"] == "not_in_line":
            tail = "open the chapter page to join the line"
        elif place["state"] == "admitted":
            tail = "it is your turn: open the chapter page again to get your pass"
        else:
            tail = place.get("message", "the line is closed")
        return Forbidden(f"{why}: {tail}", **where)

    def _stock(self, chapter_id: str) -> dict:
        (snapshot,) = self.inventory.snapshot([chapter_id])
        rows = snapshot["skus"] if snapshot["initialized"] else []
        return {
            "held": sum(r["held"] for r in rows),  # units in open checkouts
            "available": sum(r["available"] for r in rows),
            "on_hand": sum(r["on_hand"] for r in rows),
        }

    def running(self) -> str | None:
        """The chapter whose line the owner most likely watches: one with a line, open or next to open."""
        releases_now = self.store.releases()
        now = self.now_ms()
        with_line = [(r.get("opens_at") or 0, c) for c, r in releases_now.items() if r.get("queue")]
        if not with_line:
            return None
        started = [x for x in with_line if x[0] <= now]
        return (max(started) if started else min(with_line))[1]

    def watch(self, chapter_id: str) -> dict:
        """The owner's live view of one chapter's line (waiting, admitted, refused joins, sold out at)."""
        from shop import releases

        chapter = self.inventory.chapter(chapter_id)
        now = self.now_ms()
        seen = self.store.line_watch(chapter.id)
        release = seen.get("release") or {}
        queue = release.get("queue")
        opens = release.get("opens_at")
        tickets = seen["tickets"]
        let_through = (
            min(tickets, admitted(now, opens, queue["admit_per_minute"])) if queue and opens is not None else 0
        )
        stats = seen.get("stats") or {}
        return {
            "chapter": chapter.id,
            "name": chapter.name,
            "release": releases.release_json(release, now),
            "tickets": tickets,
            "joined_before_opening": seen["early"],
            "waiting": tickets - let_through,
            "admitted": let_through,
            "passes": int(stats.get("passes", 0)),
            "rejoined": int(stats.get("rejoined", 0)),
            "refused_address": int(stats.get("refused_address", 0)),
            "refused_no_cookie": int(stats.get("refused_no_cookie", 0)),
            "sold": seen["sold"],
            **self._stock(chapter.id),
            "sold_counted_fully": seen["ledger_complete"],
            "sold_out_at": releases.iso_utc(int(stats["sold_out_at"])) if stats.get("sold_out_at") else None,
        }
