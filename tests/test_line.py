"""The line (SPEC section 7) in one process on a real redis-server: join, shuffle, admission by the clock,
passes bound to their shopper, the per-address ticket cap, and checkout behind the line.

The shop's clock is the test's (tests/clock.py): time passes only when the test moves it, and nothing
else runs between two requests, so admission can only come from the clock.
"""

from __future__ import annotations

import random

import pytest

from shop import line
from shop.line import PASS_COOKIE, TICKET_COOKIE, spearman
from shop.shoppers import COOKIE
from tests.clock import shop_clock
from tests.test_owner_mode import login

OPENS = "2026-12-04T17:00:00Z"
OPENS_MS = 1796403600000
QUEUE = {"starts_minutes_before": 15, "admit_per_minute": 6, "pass_minutes": 10}


@pytest.fixture
def app(make_stripe_app):
    app = make_stripe_app(TRUSTED_PROXY_HOPS="1")
    shop = app.extensions["shop"]
    shop.inventory.initialize("chapter-ii", {"wool-coat/M": 5, "wool-coat/L": 5, "ridge-knit/M": 20})
    return app


@pytest.fixture
def clock(shop):
    clock = shop_clock(shop)
    clock.now = OPENS_MS / 1000 - 10 * 60  # ten minutes before opening: the line is open to join
    return clock


def with_line(shop, queue=None, opens=OPENS):
    return shop.releases.set("chapter-ii", {"opens_at": opens, "queue": queue or QUEUE})


def fan(app, address="198.51.100.7"):
    """A browser that opened a page before (it carries the signed shopper cookie), from one address."""
    client = app.test_client()
    assert client.get("/chapters/chapter-i").status_code == 200
    assert client.get_cookie(COOKIE)
    client.address = address
    return client


def join(client, chapter="chapter-ii"):
    return client.post(f"/api/queue/{chapter}/join", headers={"X-Forwarded-For": client.address})


def place(client, chapter="chapter-ii"):
    return client.get(f"/api/queue/{chapter}")


def checkout(client, sku="ridge-knit/M"):
    return client.post(
        "/api/checkout",
        json={"items": [{"sku": sku, "quantity": 1}]},
        headers={"X-Forwarded-For": client.address},
    )


# -- pure rules -------------------------------------------------------------------------------------


def test_admitted_is_the_clock_formula():
    assert line.admitted(OPENS_MS - 1, OPENS_MS, 60) == 0
    assert line.admitted(OPENS_MS, OPENS_MS, 60) == 0
    assert line.admitted(OPENS_MS + 999, OPENS_MS, 60) == 0
    assert line.admitted(OPENS_MS + 1000, OPENS_MS, 60) == 1
    assert line.admitted(OPENS_MS + 59_999, OPENS_MS, 7) == 6
    assert line.admitted(OPENS_MS + 600_000, OPENS_MS, 7) == 70
    # the ticket at rank r is admitted at the first ms admitted() passes r
    for rank in (0, 1, 6, 69):
        at = line.admitted_at(rank, OPENS_MS, 7)
        assert line.admitted(at, OPENS_MS, 7) == rank + 1 and line.admitted(at - 1, OPENS_MS, 7) == rank
    assert line.eta_seconds(5, OPENS_MS, OPENS_MS, 6) == 60 and line.eta_seconds(0, OPENS_MS + 20_000, OPENS_MS, 6) == 0


@pytest.mark.parametrize(
    ("queue", "words"),
    [
        ("yes", "queue must be an object"),
        ({"admit_per_minute": 60, "pass_minutes": 10}, "missing starts_minutes_before"),
        ({**QUEUE, "speed": 1}, "unknown field(s) speed"),
        ({**QUEUE, "admit_per_minute": 0}, "queue.admit_per_minute (shoppers let through per minute) must be a whole"),
        ({**QUEUE, "pass_minutes": 2.5}, "queue.pass_minutes"),
        ({**QUEUE, "starts_minutes_before": True}, "queue.starts_minutes_before"),
        ({**QUEUE, "starts_minutes_before": 5000}, "from 0 to 1440"),
    ],
)
def test_a_bad_queue_is_refused_with_the_expected_form(client, owner_headers, queue, words):
    answer = client.post(
        "/api/owner/chapters/chapter-ii/release", json={"opens_at": OPENS, "queue": queue}, headers=owner_headers
    )
    assert answer.status_code == 400
    assert words in answer.json["error"]


def test_the_owner_turns_the_line_on_and_every_page_shows_it(client, owner_headers, clock):
    no_opening = client.post(
        "/api/owner/chapters/chapter-ii/release", json={"queue": QUEUE}, headers=owner_headers
    ).json
    assert "a waiting line needs opens_at" in no_opening["error"]
    answer = client.post(
        "/api/owner/chapters/chapter-ii/release", json={"opens_at": OPENS, "queue": QUEUE}, headers=owner_headers
    )
    assert answer.status_code == 200
    assert answer.json["release"] == {"opens_at": OPENS, "closes_at": None, "state": "scheduled", "queue": QUEUE}
    stock = client.get("/api/owner/stock", headers=owner_headers).json["chapters"]
    assert next(c for c in stock if c["id"] == "chapter-ii")["release"]["queue"] == QUEUE


def test_spearman_tells_order_from_shuffle():
    xs = list(range(200))
    assert spearman(xs, xs) == 1 and spearman(xs, xs[::-1]) == -1
    ys = xs[:]
    random.Random(7).shuffle(ys)
    assert abs(spearman(xs, ys)) < 0.2


# -- the line in the store --------------------------------------------------------------------------


def test_join_gives_a_ticket_and_a_second_join_keeps_it(app, shop, clock):
    with_line(shop)
    first, second = fan(app), fan(app)
    answer = join(first)
    assert answer.status_code == 200
    assert answer.json == {"state": "waiting", "position": 1, "ahead": 0, "eta_seconds": 610, "opens_at": OPENS}
    assert first.get_cookie(TICKET_COOKIE + "chapter-ii").http_only
    clock.advance(30)
    assert join(second).json["position"] == 2
    clock.advance(30)
    again = join(first)
    assert again.json["position"] == 1  # the first ticket, not a new one at the back
    assert place(first).json["position"] == 1 and place(second).json["ahead"] == 1
    assert shop.line.watch("chapter-ii")["tickets"] == 2


def test_the_line_opens_for_joining_at_starts_minutes_before(app, shop, clock):
    with_line(shop)
    clock.now = OPENS_MS / 1000 - 16 * 60
    early = join(fan(app))
    assert early.status_code == 409
    assert early.json["error"] == "the line for Chapter II opens at Fri 4 Dec 2026, 16:45 UTC; come back then"
    clock.advance(60)
    assert join(fan(app)).json["state"] == "waiting"


def test_no_shopper_cookie_no_ticket_and_the_owner_sees_it(app, shop, clock):
    with_line(shop)
    script = app.test_client()  # never opened a page
    answer = script.post("/api/queue/chapter-ii/join", headers={"X-Forwarded-For": "203.0.113.9"})
    assert answer.status_code == 403
    assert "open the shop's page first" in answer.json["error"]
    assert place(script).json["state"] == "not_in_line"
    watch = shop.line.watch("chapter-ii")
    assert watch["tickets"] == 0 and watch["refused_no_cookie"] == 1


def test_a_chapter_without_a_line_says_so(app, shop, clock):
    shop.releases.set("chapter-ii", {"opens_at": OPENS})
    answer = join(fan(app))
    assert answer.status_code == 404 and "has no waiting line" in answer.json["error"]


def test_shuffle_at_opening_is_uncorrelated_with_join_order_and_later_arrivals_keep_theirs(
    app, shop, clock, monkeypatch
):
    """500 fans join before opens_at (a seeded draw), 20 after: the line order of the first 500 is unrelated
    to when they came (|Spearman| < 0.2; first-come-first-served would be exactly 1), the 20 follow in order."""
    seeded = random.Random(20261204)
    monkeypatch.setattr(line, "draw", seeded.random)
    with_line(shop, {"starts_minutes_before": 60, "admit_per_minute": 60, "pass_minutes": 10})
    clock.now = OPENS_MS / 1000 - 50 * 60
    early = []
    for i in range(500):
        shopper_id, _ = shop.shoppers.new()
        early.append(shopper_id)
        assert shop.line.visit("chapter-ii", shopper_id, join=True, address=f"10.0.{i // 40}.1")["position"] == i + 1
        clock.advance(5)
    # before the opening every early ticket is told the same wait: coming first does not make a page look sooner
    etas = {shop.line.visit("chapter-ii", s, join=False)["eta_seconds"] for s in early}
    assert etas == {500 + 251}  # 500 s to the opening, then the middle one of 500 at 60 a minute (the 251st)
    clock.now = OPENS_MS / 1000
    late = []
    for i in range(20):
        clock.advance(1)
        shopper_id, _ = shop.shoppers.new()
        late.append(shopper_id)
        shop.line.visit("chapter-ii", shopper_id, join=True, address=f"10.1.{i}.1")
    clock.now = OPENS_MS / 1000  # nobody admitted yet: position is each ticket's place in the line
    positions = [shop.line.visit("chapter-ii", s, join=False)["position"] for s in early]
    assert sorted(positions) == list(range(1, 501))
    rho = spearman(list(range(500)), positions)
    assert abs(rho) < 0.2, rho
    assert [shop.line.visit("chapter-ii", s, join=False)["position"] for s in late] == list(range(501, 521))


# Every store: the line lives in Lua scripts that must run the same on all four.
@pytest.mark.backends()
def test_admission_comes_from_the_clock_alone(app, shop, clock):
    """admit_per_minute = 6: each minute of the test clock lets exactly six more through, with no request between."""
    with_line(shop)
    shoppers = []
    for i in range(30):
        shopper_id, _ = shop.shoppers.new()
        shoppers.append(shopper_id)
        shop.line.visit("chapter-ii", shopper_id, join=True, address=f"10.2.{i}.1")
    clock.now = OPENS_MS / 1000
    for minute in range(6):
        states = [shop.line.visit("chapter-ii", s, join=False)["state"] for s in shoppers]
        assert states.count("admitted") == min(30, 6 * minute), minute
        waiting = sorted(p for s in shoppers if (p := shop.line.visit("chapter-ii", s, join=False)["position"]))
        assert waiting == list(range(1, 31 - 6 * minute))
        clock.advance(60)
    watch = shop.line.watch("chapter-ii")
    assert (watch["admitted"], watch["waiting"], watch["passes"]) == (
        30,
        0,
        30,
    )  # each admitted ticket was asked once after its turn


# Every store: the line lives in Lua scripts that must run the same on all four.
@pytest.mark.backends()
def test_an_admitted_fan_gets_a_pass_that_works_only_with_their_cookie(app, shop, clock, stub):
    with_line(shop)
    ada, bob = fan(app, "198.51.100.1"), fan(app, "198.51.100.2")
    join(ada)
    clock.advance(1)
    join(bob)
    clock.now = OPENS_MS / 1000 + 10  # six a minute: the first ticket is let through
    ada_place, bob_place = place(ada).json, place(bob).json
    if ada_place["state"] != "admitted":
        ada, bob, ada_place, bob_place = bob, ada, bob_place, ada_place
    assert ada_place == {"state": "admitted", "position": None, "ahead": 0, "eta_seconds": 0, "opens_at": OPENS}
    assert bob_place == {"state": "waiting", "position": 1, "ahead": 0, "eta_seconds": 10, "opens_at": OPENS}
    the_pass = ada.get_cookie(PASS_COOKIE + "chapter-ii")
    assert the_pass.http_only and the_pass.same_site == "Lax"
    assert bob.get_cookie(PASS_COOKIE + "chapter-ii") is None
    refused = checkout(bob)
    assert refused.status_code == 403
    assert refused.json["position"] == 1 and refused.json["state"] == "waiting"
    assert "you are number 1 in line" in refused.json["error"]
    # Ada's pass with Bob's cookie: refused, and it names Bob's own place
    bob.set_cookie(PASS_COOKIE + "chapter-ii", the_pass.value)
    stolen = checkout(bob)
    assert stolen.status_code == 403 and "given to another browser" in stolen.json["error"]
    assert stolen.json["position"] == 1
    assert checkout(ada).status_code == 201
    assert len(stub.sessions) == 1
    assert shop.inventory.availability(["ridge-knit/M"]) == {"ridge-knit/M": 19}


# Every store: the line lives in Lua scripts that must run the same on all four.
@pytest.mark.backends()
def test_an_expired_pass_sends_its_fan_to_the_back_of_the_line(app, shop, clock, stub, monkeypatch):
    """The choice for "a new position": a pass that ran out unused re-joins its fan at the back, as a new arrival."""
    seeded = random.Random(5)
    draws = [0.0]  # this fan draws the front of the line; the 99 others at random
    monkeypatch.setattr(line, "draw", lambda: draws.pop() if draws else 0.001 + seeded.random())
    with_line(shop)
    first = fan(app, "198.51.100.1")
    join(first)
    for i in range(99):
        shop.line.visit("chapter-ii", shop.shoppers.new()[0], join=True, address=f"10.3.{i}.1")
    clock.now = OPENS_MS / 1000
    assert place(first).json["position"] == 1
    clock.now = line.admitted_at(0, OPENS_MS, 6) / 1000  # this fan's turn, ten seconds after opening
    assert place(first).json["state"] == "admitted"
    assert first.get_cookie(PASS_COOKIE + "chapter-ii")
    clock.advance(10 * 60)  # pass_minutes later: the pass ran out unused
    refused = checkout(first)
    assert refused.status_code == 403
    assert "your turn to check out has ended, so you are back in the line" in refused.json["error"]
    let_through = line.admitted(int(clock.now * 1000), OPENS_MS, 6)
    assert let_through == 61
    # 99 others ahead in line order, of which let_through are already through
    assert refused.json["position"] == 99 - let_through + 1 and refused.json["state"] == "waiting"
    assert place(first).json["position"] == refused.json["position"]
    assert shop.line.watch("chapter-ii")["rejoined"] == 1
    assert not stub.sessions


# Every store: the line lives in Lua scripts that must run the same on all four.
@pytest.mark.backends()
def test_sold_out_closes_the_line_at_once(app, shop, clock, owner_headers):
    with_line(shop)
    waiting = fan(app)
    join(waiting)
    clock.now = OPENS_MS / 1000
    shop.inventory.set("chapter-ii", {"wool-coat/M": 0, "wool-coat/L": 0, "ridge-knit/M": 0})
    answer = place(waiting).json
    assert answer["state"] == "closed" and answer["position"] is None
    assert answer["message"] == "Chapter II is sold out, sorry: everything is sold or in someone's checkout"
    assert shop.line.watch("chapter-ii")["sold_out_at"] == OPENS


# Every store: the line lives in Lua scripts that must run the same on all four.
@pytest.mark.backends()
def test_moving_opens_at_keeps_tickets_and_judges_joined_before_anew(app, shop, clock, monkeypatch):
    draws = iter([0.9, 0.1, 0.5, 0.2])
    monkeypatch.setattr(line, "draw", lambda: next(draws))
    with_line(shop)
    fans = [fan(app, f"198.51.100.{i}") for i in range(4)]
    for f in fans:  # 16:50, 16:51, 16:52, 16:53 with draws 0.9, 0.1, 0.5, 0.2
        join(f)
        clock.advance(60)
    with_line(shop, opens="2026-12-04T16:51:30Z")  # fans 3 and 4 now joined after the opening
    clock.now = OPENS_MS / 1000 - 8 * 60 - 30
    assert [place(f).json["position"] for f in fans] == [2, 1, 3, 4]  # shuffled early ones, then by arrival
    assert shop.line.watch("chapter-ii")["joined_before_opening"] == 2
    with_line(shop)  # back to 17:00: all four joined before it, ordered by the draws they got at join
    clock.now = OPENS_MS / 1000
    assert [place(f).json["position"] for f in fans] == [4, 1, 3, 2]
    watch = shop.line.watch("chapter-ii")
    assert watch["tickets"] == 4 and watch["joined_before_opening"] == 4


def test_flood_from_one_address_gets_at_most_the_cap_and_fans_keep_their_places(app, shop, clock):
    """1,000 joins from one address, each with a fresh signed cookie: ADDRESS_MAX_TICKETS (50) get tickets."""
    with_line(shop)
    fans = [fan(app, f"192.0.2.{i}") for i in range(1, 6)]
    for f in fans:
        join(f)
        clock.advance(1)
    before = [place(f).json["position"] for f in fans]
    flood = app.test_client()
    codes = []
    for _ in range(1000):
        _, cookie = shop.shoppers.new()
        flood.set_cookie(COOKIE, cookie)
        flood.delete_cookie(TICKET_COOKIE + "chapter-ii")
        codes.append(flood.post("/api/queue/chapter-ii/join", headers={"X-Forwarded-For": "203.0.113.66"}))
    assert sum(a.status_code == 200 for a in codes) == 50
    refused = [a for a in codes if a.status_code != 200]
    assert len(refused) == 950 and {a.status_code for a in refused} == {403}
    assert "already has 50 places in this line" in refused[0].json["error"]
    assert [place(f).json["position"] for f in fans] == before == [1, 2, 3, 4, 5]
    watch = shop.line.watch("chapter-ii")
    assert watch["tickets"] == 55 and watch["refused_address"] == 950


# -- pages ------------------------------------------------------------------------------------------


def test_pages_send_a_shopper_into_the_line_and_let_a_pass_holder_through(app, shop, clock):
    with_line(shop)
    clock.now = OPENS_MS / 1000 - 20 * 60  # before the line starts: the pages show the countdown
    visitor = fan(app)
    assert visitor.get("/chapters/chapter-ii").status_code == 200
    clock.now = OPENS_MS / 1000 - 60
    sent = visitor.get("/products/wool-coat")
    assert sent.status_code == 302 and sent.headers["Location"] == "/line/chapter-ii?next=/products/wool-coat"
    page = visitor.get("/line/chapter-ii?next=/products/wool-coat")
    html = page.get_data(as_text=True)
    assert 'data-line="chapter-ii"' in html and 'data-line-back="/products/wool-coat"' in html
    assert "static/line.js" in html and "<script>" not in html  # no inline script
    assert (
        visitor.get("/line/chapter-ii?next=https://evil.example/")
        .get_data(as_text=True)
        .count('data-line-back="/chapters/chapter-ii"')
    )
    join(visitor)
    clock.now = OPENS_MS / 1000 + 10
    assert place(visitor).json["state"] == "admitted"
    assert visitor.get("/products/wool-coat").status_code == 200  # the pass lets the shopper in


def test_the_owner_watches_the_drop(app, shop, clock, owner_headers):
    with_line(shop)
    for i in range(3):
        join(fan(app, f"198.51.100.{i}"))
    app.test_client().post("/api/queue/chapter-ii/join")  # no cookie: refused
    clock.now = OPENS_MS / 1000 + 20  # two let through by the clock
    client = app.test_client()
    answer = client.get("/api/owner/chapters/chapter-ii/line", headers=owner_headers).json
    assert (answer["tickets"], answer["admitted"], answer["waiting"]) == (3, 2, 1)
    assert answer["refused_no_cookie"] == 1 and answer["available"] == 30 and answer["held"] == 0
    token = login(client)
    page = client.get("/owner/drop", follow_redirects=True)
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "Drop: Chapter II" in html
    assert "data-waiting>1<" in html and "data-admitted>2<" in html and "data-refused-cookie>1<" in html
    assert '<meta http-equiv="refresh" content="5">' in html
    # the stock page's release form sets and shows the line in the owner's words
    saved = client.post(
        "/owner/chapters/chapter-ii/release",
        data={
            "csrf_token": token,
            "opens_at": OPENS,
            "queue_starts_minutes_before": "30",
            "queue_admit_per_minute": "120",
            "queue_pass_minutes": "8",
        },
        follow_redirects=True,
    )
    assert saved.status_code == 200
    assert shop.releases.get("chapter-ii")["queue"] == {
        "starts_minutes_before": 30,
        "admit_per_minute": 120,
        "pass_minutes": 8,
    }
    bad = client.post(
        "/owner/chapters/chapter-ii/release",
        data={"csrf_token": token, "opens_at": OPENS, "queue_admit_per_minute": "lots"},
        follow_redirects=True,
    )
    assert "queue: missing pass_minutes, starts_minutes_before" in bad.get_data(as_text=True)
    assert shop.releases.get("chapter-ii")["queue"]["admit_per_minute"] == 120  # nothing changed


def test_the_cli_turns_the_line_on_and_off(app, shop):
    runner = app.test_cli_runner()
    args = ["chapter", "release", "chapter-ii", "--opens-at", "2026-12-04T17:00Z"]
    done = runner.invoke(args=[*args, "--line-starts-before", "15", "--admit-per-minute", "6", "--pass-minutes", "10"])
    assert done.exit_code == 0, done.output
    assert "waiting line: joins from 15 min before opening, 6 let through a minute, 10 min each" in done.output
    assert shop.releases.get("chapter-ii")["queue"] == QUEUE
    half = runner.invoke(args=[*args, "--admit-per-minute", "6"])
    assert half.exit_code != 0 and "a waiting line needs all three" in half.output
    wrong = runner.invoke(args=[*args, "--line-starts-before", "15", "--admit-per-minute", "0", "--pass-minutes", "10"])
    assert wrong.exit_code != 0 and "queue.admit_per_minute" in wrong.output
    off = runner.invoke(args=args)
    assert off.exit_code == 0 and "waiting line" not in off.output
    assert shop.releases.get("chapter-ii")["queue"] is None


def test_a_store_that_is_down_is_a_503_for_the_line_and_nothing_is_half_written():
    from shop import create_app
    from tests.conftest import app_config
    from tests.redis_server import RedisServer

    server = RedisServer()  # a free port, nothing listening yet
    try:
        app = create_app(app_config({"REDIS_URL": server.url}), environ={})
        visitor = app.test_client()
        visitor.set_cookie(COOKIE, app.extensions["shop"].shoppers.new()[1])
        for answer in (visitor.post("/api/queue/chapter-ii/join"), visitor.get("/api/queue/chapter-ii")):
            assert answer.status_code == 503 and "try again" in answer.get_json()["error"]
        assert visitor.get("/line/chapter-ii").status_code == 503
        server.start()
        shop = app.extensions["shop"]
        assert server.client().keys("{shop}:line:*") == []
        shop_clock(shop).now = OPENS_MS / 1000 - 60
        with_line(shop)
        assert visitor.post("/api/queue/chapter-ii/join").get_json()["position"] == 1  # served once it is up
    finally:
        server.stop()
