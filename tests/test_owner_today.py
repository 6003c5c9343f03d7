"""Health and Today tell the truth (no Stripe key, chapters not tracked, events of the other Stripe mode),
and the owner's pages read the store in a few round trips, never replaying the ledger on the way."""

from __future__ import annotations

import re
import time

import pytest

from tests.stripe_factory import checkout_session, event
from tests.test_owner_mode import login, post

KEY = "sk_test_today"


@pytest.fixture
def keyed(make_app):
    """An owner's browser on a shop with a test-mode Stripe key."""
    app = make_app(STRIPE_SECRET_KEY=KEY)
    client = app.test_client()
    client.token = login(client)
    return app, client


def checks(client, owner_headers) -> dict:
    report = client.get("/api/owner/health", headers=owner_headers).get_json()
    return {c["name"]: c for c in report["checks"]} | {"ok": report["ok"]}


def today(client) -> str:
    page = client.get("/owner/")
    assert page.status_code == 200
    return page.get_data(as_text=True)


def stocked(shop, chapter_id: str, units: int = 20) -> None:
    chapter = shop.catalog.chapter(chapter_id)
    shop.inventory.initialize(chapter_id, dict.fromkeys(chapter.skus, units))


def test_no_stripe_key_fails_health_and_today_does_not_say_the_shop_can_take_orders(client, owner_headers, shop):
    for chapter in shop.catalog.chapters:
        stocked(shop, chapter.id)
    found = checks(client, owner_headers)
    assert found["ok"] is False
    assert found["stripe_key"]["level"] == "fail"
    assert "checkout cannot open Stripe sessions" in found["stripe_key"]["detail"]
    assert "Set STRIPE_SECRET_KEY" in found["stripe_key"]["fix"]
    assert "Dashboard > Developers > API keys" in found["stripe_key"]["fix"]
    client.token = login(client)
    html = today(client)
    assert "The shop can take orders" not in html
    assert "The shop cannot take orders as it should: 1 problem to fix" in html
    assert "checkout cannot open Stripe sessions" in html and "Dashboard &gt; Developers &gt; API keys" in html


def test_chapters_not_initialized_are_warnings_and_today_links_each_to_its_stock_form(keyed, owner_headers):
    app, client = keyed
    shop = app.extensions["shop"]
    found = checks(client, owner_headers)
    assert found["ok"] is True and found["stripe_key"]["level"] == "ok"
    for chapter in ("chapter-i", "chapter-ii"):
        assert found[f"chapter:{chapter}"]["level"] == "warn"
        assert "not initialized: its sales are recorded but no stock is taken" in found[f"chapter:{chapter}"]["detail"]
        assert f"flask stock init {chapter}" in found[f"chapter:{chapter}"]["fix"]
    html = today(client)
    assert "Every size is stocked" not in html and "The shop can take orders:" not in html
    assert "stock is not tracked for Chapter I, Chapter II: their sales are saved as orders" in html
    assert 'href="/owner/stock#chapter-i">Initialize Chapter I</a>' in html
    assert 'href="/owner/stock#chapter-ii">Initialize Chapter II</a>' in html
    assert "No chapter's stock is tracked yet" in html

    stocked(shop, "chapter-i")
    html = today(client)
    assert "stock is not tracked for Chapter II: its sales" in html
    assert "Initialize Chapter I<" not in html and 'href="/owner/stock#chapter-ii">Initialize Chapter II</a>' in html
    assert "every size of the initialized chapters is stocked; Chapter II is not tracked" in html

    stocked(shop, "chapter-ii")
    html = today(client)
    assert "The shop can take orders: the Stripe webhook checks pass." in html
    assert "Nothing. Every size is stocked and no order needs a look." in html
    assert "Stock not tracked" not in html


def stats_today(redis_client) -> dict:
    return redis_client.hgetall("{shop}:stats:day:" + time.strftime("%Y%m%d", time.gmtime()))


def test_a_live_event_on_a_test_key_is_ignored_counted_and_raised(keyed, owner_headers, deliver_to, redis_client):
    app, client = keyed
    shop = app.extensions["shop"]
    stocked(shop, "chapter-i", 5)
    before = shop.inventory.snapshot(["chapter-i"])
    backend, sent = shop.store.backend, []
    real_pipeline = backend.pipeline
    backend.pipeline = lambda commands: (sent.append([c[0] for c in commands]), real_pipeline(commands))[1]
    live_event = event("checkout.session.completed", checkout_session(items="balm-tee/M*2"), livemode=True)
    answer = deliver_to(client, live_event)
    del backend.pipeline
    assert answer.status_code == 200 and answer.get_json() == {"status": "ignored"}
    assert len(sent) == 1  # one round trip: the counters and the record in one pipeline
    assert shop.inventory.snapshot(["chapter-i"]) == before
    assert shop.orders.page()[0] == []
    assert stats_today(redis_client)["checkout.session.completed|livemode_mismatch"] == "1"

    found = checks(client, owner_headers)
    assert found["ok"] is False and found["stripe_mode"]["level"] == "fail"
    assert live_event["id"] in found["stripe_mode"]["detail"]
    assert (
        "was a live-mode event but STRIPE_SECRET_KEY is a test key, so it was ignored" in found["stripe_mode"]["detail"]
    )
    assert "Point the live endpoint" in found["stripe_mode"]["fix"]
    assert "flask reconcile --since 72h --apply" in found["stripe_mode"]["fix"]
    assert "1 ignored for their Stripe mode" in found["events"]["detail"]
    html = today(client)
    assert "The shop can take orders" not in html
    assert "Real payments reach a shop running on a test key" in html and "Point the live endpoint" in html


def test_a_test_event_on_a_live_key_is_ignored_and_raised_as_a_warning(make_app, owner_headers, deliver_to):
    app = make_app(STRIPE_SECRET_KEY="rk_live_restricted")
    client = app.test_client()
    shop = app.extensions["shop"]
    stocked(shop, "chapter-i", 5)
    answer = deliver_to(client, event("checkout.session.completed", checkout_session(items="balm-tee/M")))
    assert answer.get_json() == {"status": "ignored"}
    assert shop.inventory.snapshot(["chapter-i"])[0]["skus"][1]["on_hand"] == 5
    found = checks(client, owner_headers)
    assert found["stripe_mode"]["level"] == "warn" and found["ok"] is True
    assert "was a test-mode event but STRIPE_SECRET_KEY is a live key" in found["stripe_mode"]["detail"]
    assert "point that test endpoint at your test shop" in found["stripe_mode"]["fix"]
    client.token = login(client)
    assert "A test-mode endpoint is wired to this live shop." in today(client)


def test_without_a_key_the_mode_is_not_judged(client, shop, deliver):
    stocked(shop, "chapter-i", 5)
    live_event = event("checkout.session.completed", checkout_session(items="balm-tee/M"), livemode=True)
    assert deliver(live_event).get_json()["status"] == "applied"
    assert shop.inventory.snapshot(["chapter-i"])[0]["skus"][1]["on_hand"] == 4


# -- round trips -------------------------------------------------------------------


def count_round_trips(backend, monkeypatch) -> list:
    """Every call that leaves the app for the store (a pipeline is one), delegating to the real backend."""
    sent = []
    for name in ("evalsha", "script_load", "call", "pipeline"):
        real = getattr(backend, name)

        def counted(*args, _real=real, _name=name):
            first = args[0]
            what = first[0] if _name == "call" else [c[0] for c in first] if _name == "pipeline" else _name
            sent.append((_name, what))
            return _real(*args)

        monkeypatch.setattr(backend, name, counted)
    return sent


def test_owner_pages_take_at_most_three_round_trips_and_never_replay_the_ledger(
    keyed, deliver_to, redis_client, monkeypatch
):
    app, client = keyed
    shop = app.extensions["shop"]
    stocked(shop, "chapter-i", 3)  # low stock: alerts to build
    for _ in range(4):
        deliver_to(client, event("checkout.session.completed", checkout_session(items="balm-tee/M")))
    deliver_to(client, event("checkout.session.completed", checkout_session(items="harbour-shirt/S*9")))  # oversold
    pages = ["/owner/", "/owner/stock", "/owner/orders", "/owner/orders?status=paid", "/owner/orders?status=attention"]
    pages.append("/owner/orders?q=ada@example.com")
    for page in pages:
        assert client.get(page).status_code == 200  # scripts loaded, connections open
    sent = count_round_trips(shop.store.backend, monkeypatch)
    for page in pages:
        sent.clear()
        html = client.get(page).get_data(as_text=True)
        assert len(sent) <= 3, (page, sent)
        assert not any(what == "XRANGE" for _, what in sent), (page, sent)  # the ledger is not read
    sent.clear()
    html = client.get("/owner/").get_data(as_text=True)
    assert "Harbour Shirt S is sold out" in html and "Balm Tee M is sold out" in html and "only 3 left" in html
    assert "oversold" in html
    assert len(sent) == 3, sent
    assert all(order["id"] in html for order in shop.orders.page(limit=5)[0])  # the latest orders are listed
    assert redis_client.exists("{shop}:stock:verified") == 0  # no page ran the verification


def test_stock_verification_runs_only_when_asked_and_pages_show_its_age(keyed, owner_headers, redis_client):
    app, client = keyed
    stocked(app.extensions["shop"], "chapter-i", 4)
    found = checks(client, owner_headers)
    assert found["stock_ledger"]["level"] == "warn"
    assert "have not been compared with the ledger yet" in found["stock_ledger"]["detail"]
    assert "Compare stock with the ledger" in found["stock_ledger"]["fix"]
    assert redis_client.exists("{shop}:stock:verified") == 0
    assert "Stock against its ledger: the stock counters have not been compared with the ledger yet" in today(client)
    done = post(client, "/owner/stock/verify")
    assert done.status_code == 302 and done.headers["Location"].endswith("/owner/health")
    page = client.get("/owner/health").get_data(as_text=True)
    assert "Stock matches the ledger (8 entries replayed)." in page
    assert re.search(r"stock counters match the ledger \(8 entries, checked \d+ s ago\)", page)
    assert re.search(
        r"Stock against its ledger: stock counters match the ledger \(8 entries, checked \d+ s ago\)", today(client)
    )
    redis_client.hincrby("{shop}:stock", "balm-tee/M", 2)  # changed behind the ledger's back
    assert checks(client, owner_headers)["stock_ledger"]["level"] == "ok"  # the stored result, not a new replay
    post(client, "/owner/stock/verify")
    found = checks(client, owner_headers)
    assert found["stock_ledger"]["level"] == "fail"
    assert "balm-tee/M on_hand: counter 6, ledger 4" in found["stock_ledger"]["detail"]
