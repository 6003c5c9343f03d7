"""SPEC section 8, the owner's side: one credential limit for the login form and Bearer tokens, the
production rule for weak secrets, sessions that end, and the client address behind trusted proxies."""

from __future__ import annotations

import logging
import time

import pytest

from shop import health, owner_access
from shop.config import ROOT
from tests.clock import Clock
from tests.conftest import OWNER_PASSWORD
from tests.stripe_factory import checkout_session, event
from tests.test_alerts import Receiver
from tests.test_owner_mode import csrf

STRONG_SECRET = "s" * 40
PUBLIC = "https://shop.example"


def access_clock(app) -> Clock:
    """Move the owner side's clock (the credential windows and session lifetimes) from the test."""
    clock = Clock(time.time())
    app.extensions["owner_access"].clock = clock
    return clock


def bearer(client, token: str, address: str = "198.51.100.7", path: str = "/api/owner/stock", **headers):
    return client.get(
        path,
        headers={"Authorization": f"Bearer {token}", **headers},
        environ_base={"REMOTE_ADDR": address},
    )


def login(client, password: str, address: str = "198.51.100.7"):
    token = csrf(client)
    return client.post(
        "/owner/login",
        data={"password": password, "csrf_token": token},
        environ_base={"REMOTE_ADDR": address},
    )


# -- one credential limit per client address -----------------------------------------------------


@pytest.mark.backends()  # the counting script on redis-py, embedded, Upstash REST and a cluster
def test_fifty_wrong_tokens_are_refused_after_five_then_the_window_ends(app, client, caplog):
    clock = access_clock(app)
    caplog.set_level(logging.WARNING, logger="shop.owner")
    answers = [bearer(client, f"guess-{i}") for i in range(50)]
    codes = [r.status_code for r in answers]
    assert codes == [401] * 5 + [429] * 45
    refused = answers[5]
    assert refused.headers["Retry-After"] == "60"
    assert "wait 60 seconds" in refused.get_json()["error"]
    assert refused.headers["Cache-Control"] == "no-store"
    # Even the right token is refused from that address until the window ends ...
    clock.advance(30)
    right = bearer(client, OWNER_PASSWORD)
    assert right.status_code == 429 and right.headers["Retry-After"] == "30"
    # ... and works once it has.
    clock.advance(30)
    ok = bearer(client, OWNER_PASSWORD)
    assert ok.status_code == 200 and ok.get_json()["chapters"]
    # One log line per refusal, naming the address and the route, never a secret.
    refusals = [r.getMessage() for r in caplog.records if "refused (429" in r.getMessage()]
    assert len(refusals) == 46
    assert all("198.51.100.7" in m and "/api/owner/stock" in m for m in refusals)
    assert not any("guess-" in r.getMessage() or OWNER_PASSWORD in r.getMessage() for r in caplog.records)


def test_the_login_form_and_tokens_share_one_limit_per_address(app, client):
    access_clock(app)
    for i in range(3):
        assert bearer(client, f"guess-{i}").status_code == 401
    assert login(client, "wrong-1").status_code == 401
    assert login(client, "wrong-2").status_code == 401
    blocked = login(client, "wrong-3")
    assert blocked.status_code == 429 and blocked.headers["Retry-After"] == "60"
    assert "Wait 60 seconds" in blocked.get_data(as_text=True)
    # The right password is refused too, on the form and as a token.
    right = login(client, OWNER_PASSWORD)
    assert right.status_code == 429
    assert client.get("/owner/stock").status_code == 302  # not logged in
    assert bearer(client, OWNER_PASSWORD).status_code == 429
    # Another address is not limited.
    assert bearer(client, OWNER_PASSWORD, address="203.0.113.9").status_code == 200
    assert login(client, OWNER_PASSWORD, address="203.0.113.9").status_code == 302


def test_requests_without_credentials_do_not_count(app, client):
    access_clock(app)
    for _ in range(10):
        assert client.get("/api/owner/stock", environ_base={"REMOTE_ADDR": "198.51.100.7"}).status_code == 401
        assert login(client, "").status_code == 401
    assert bearer(client, OWNER_PASSWORD).status_code == 200


def test_twenty_failures_in_an_hour_warn_on_health_and_alert_once(make_app, client):
    receiver = Receiver()
    try:
        app = make_app(ALERT_WEBHOOK_URL=receiver.url)
        clock = access_clock(app)
        client = app.test_client()
        shop = app.extensions["shop"]
        for n in range(19):  # from four addresses, each under its own limit
            bearer(client, f"guess-{n}", address=f"198.51.100.{n % 4}")
        assert receiver.kinds() == []
        checks = {c["name"]: c for c in health.run_checks(shop, clock)["checks"]}
        assert checks["owner_credentials"]["level"] == "ok"
        bearer(client, "guess-19", address="198.51.100.3")
        assert receiver.kinds() == ["owner_credentials"]
        assert "198.51.100.3" in receiver.posts[0]["text"] and "guess" not in receiver.posts[0]["text"]
        for n in range(10):  # more failures in the same hour: no second alert
            bearer(client, f"more-{n}", address="192.0.2.1")
        assert receiver.kinds() == ["owner_credentials"]
        # The owner sees it on the health report (read with the real clock, which the test's has not left yet).
        report = bearer(client, OWNER_PASSWORD, address="203.0.113.9", path="/api/owner/health").get_json()
        check = {c["name"]: c for c in report["checks"]}["owner_credentials"]
        assert check["level"] == "warn" and check["detail"].startswith("30 wrong owner")
        assert "192.0.2.1" in check["detail"] and "/api/owner/stock" in check["detail"]
        assert "new long OWNER_PASSWORD" in check["fix"]
        # An hour later the warning is gone, and a new wave alerts again.
        clock.advance(3601)
        assert {c["name"]: c for c in health.run_checks(shop, clock)["checks"]}["owner_credentials"]["level"] == "ok"
        for n in range(20):
            bearer(client, f"late-{n}", address=f"192.0.2.{10 + n % 5}")
        assert receiver.kinds() == ["owner_credentials", "owner_credentials"]
    finally:
        receiver.stop()


# -- weak secrets in production ------------------------------------------------------------------


@pytest.mark.parametrize(
    "settings, named",
    [
        ({"OWNER_PASSWORD": "a", "SECRET_KEY": STRONG_SECRET}, "OWNER_PASSWORD is shorter than 12"),
        ({"OWNER_PASSWORD": "eleven-char", "SECRET_KEY": STRONG_SECRET}, "OWNER_PASSWORD is shorter than 12"),
        ({"OWNER_PASSWORD": "change-me", "SECRET_KEY": STRONG_SECRET}, "OWNER_PASSWORD is shorter than 12"),
        ({"OWNER_PASSWORD": "a-long-owner-passphrase", "SECRET_KEY": "k"}, "SECRET_KEY is shorter than 32"),
        ({"OWNER_PASSWORD": "a-long-owner-passphrase", "SECRET_KEY": "k" * 31}, "SECRET_KEY is shorter than 32"),
    ],
)
def test_production_with_a_weak_secret_closes_owner_mode_only(make_app, deliver_to, settings, named):
    app = make_app(APP_ENV="production", PUBLIC_URL=PUBLIC, **settings)
    client = app.test_client()
    bearer_headers = {"Authorization": f"Bearer {settings['OWNER_PASSWORD']}"}
    for path in ("/owner", "/owner/", "/owner/login", "/owner/stock", "/owner/orders.csv", "/owner/nowhere"):
        page = client.get(path)
        assert page.status_code == 503, path
        assert named in page.get_data(as_text=True) and "Owner Mode stays closed" in page.get_data(as_text=True)
        assert page.headers["Cache-Control"] == "no-store"
    login_post = client.post("/owner/login", data={"password": settings["OWNER_PASSWORD"]})
    assert login_post.status_code == 503 and named in login_post.get_data(as_text=True)
    for path in ("/api/owner/stock", "/api/owner/health", "/api/owner/orders/ord_x", "/api/owner/nowhere"):
        answer = client.get(path, headers=bearer_headers)
        assert answer.status_code == 503 and named in answer.get_json()["error"], path
    # The shop and the webhook go on working.
    assert client.get("/").status_code == 200
    assert client.get("/products/balm-tee").status_code == 200
    delivered = deliver_to(client, event("checkout.session.completed", checkout_session(items="balm-tee/M*2")))
    assert delivered.status_code == 200 and delivered.get_json()["order_status"] == "paid"


def test_the_example_password_is_refused_by_its_own_rule():
    assert "OWNER_PASSWORD=change-me" in (ROOT / ".env.example").read_text().splitlines()
    assert owner_access.EXAMPLE_OWNER_PASSWORD == "change-me"

    class Settings:
        production = True
        owner_password = "change-me"
        secret_key = STRONG_SECRET

    # Long enough would not save it: the example value is refused by name.
    owner_access.MIN_OWNER_PASSWORD, saved = 4, owner_access.MIN_OWNER_PASSWORD
    try:
        assert "still the example value from .env.example" in owner_access.weak_secret(Settings)
    finally:
        owner_access.MIN_OWNER_PASSWORD = saved


def test_production_with_strong_secrets_opens_owner_mode(make_app):
    app = make_app(
        APP_ENV="production", PUBLIC_URL=PUBLIC, OWNER_PASSWORD="a-long-owner-passphrase", SECRET_KEY=STRONG_SECRET
    )
    client = app.test_client()
    assert client.get("/owner/login").status_code == 200
    assert (
        client.get("/api/owner/stock", headers={"Authorization": "Bearer a-long-owner-passphrase"}).status_code == 200
    )


def test_doctor_and_health_name_the_weak_secret(make_app):
    app = make_app(APP_ENV="production", PUBLIC_URL=PUBLIC, OWNER_PASSWORD="short", SECRET_KEY=STRONG_SECRET)
    result = app.test_cli_runner().invoke(args=["doctor"])
    assert result.exit_code == 1
    assert (
        "[FAIL] owner_secrets: Owner Mode is closed (503): OWNER_PASSWORD is shorter than 12 characters"
        in result.output
    )
    dev = make_app(OWNER_PASSWORD="short")  # development: only a warning, Owner Mode stays open
    checks = {c["name"]: c for c in health.run_checks(dev.extensions["shop"])["checks"]}
    assert checks["owner_secrets"]["level"] == "warn"
    assert dev.test_client().get("/owner/login").status_code == 200


# -- sessions that end ---------------------------------------------------------------------------


def logged_in(app, address: str = "198.51.100.7"):
    client = app.test_client()
    assert login(client, OWNER_PASSWORD, address).status_code == 302
    assert client.get("/owner/stock").status_code == 200
    return client


def copy_of(client, app):
    twin = app.test_client()
    twin.set_cookie("session", client.get_cookie("session").value)
    return twin


def assert_ended(client):
    page = client.get("/owner/stock")
    assert page.status_code == 302 and "/owner/login" in page.headers["Location"]
    action = client.post("/owner/stock/chapter-i/set", data={"sku": "balm-tee/M", "on_hand": "9"})
    assert action.status_code == 401 and "Initialize" not in action.get_data(as_text=True)


@pytest.mark.backends()  # the generation in every store
def test_a_copied_cookie_ends_at_logout(app, shop):
    access_clock(app)
    owner = logged_in(app)
    thief = copy_of(owner, app)
    assert thief.get("/owner/stock").status_code == 200
    token = csrf(owner, "/owner/stock")
    assert owner.post("/owner/logout", data={"csrf_token": token}).status_code == 302
    assert_ended(thief)
    assert_ended(owner)
    assert shop.inventory.snapshot(["chapter-i"])[0]["initialized"] is False
    assert logged_in(app).get("/owner/orders").status_code == 200  # a new login works


# Stock reads the generation itself, Today takes it from its own pipeline, an unknown order would be a 404
# and the export a stream: after a logout each sends a copied cookie to the login, never owner content.
@pytest.mark.parametrize("path", ["/owner/stock", "/owner/", "/owner/orders/ord_nosuchorder", "/owner/orders.csv"])
def test_every_owner_page_refuses_a_copied_cookie_after_logout(app, path):
    access_clock(app)
    owner = logged_in(app)
    thief = copy_of(owner, app)
    assert thief.get(path).status_code in (200, 404)
    owner.post("/owner/logout", data={"csrf_token": csrf(owner, "/owner/stock")})
    page = thief.get(path)
    assert page.status_code == 302 and "/owner/login" in page.headers["Location"]
    assert page.headers["Cache-Control"] == "no-store" and "Redirecting" in page.get_data(as_text=True)


def test_a_new_owner_password_ends_every_session(make_app):
    first = make_app()
    owner = logged_in(first)
    restarted = make_app(OWNER_PASSWORD="another-owner-password")  # same SECRET_KEY: the cookie still verifies
    copied = copy_of(owner, restarted)
    assert_ended(copied)
    assert "another-owner-password" not in owner.get_cookie("session").value


def test_sessions_end_after_12_hours_idle_and_after_7_days(app):
    clock = access_clock(app)
    idle = logged_in(app)
    clock.advance(12 * 3600 - 5)
    assert idle.get("/owner/stock").status_code == 200  # used: the idle time starts again
    clock.advance(12 * 3600 - 5)
    assert idle.get("/owner/stock").status_code == 200
    clock.advance(12 * 3600)
    assert_ended(idle)

    busy = logged_in(app)
    for _ in range(14):  # used every 12 hours for 7 days
        clock.advance(12 * 3600 - 60)
        assert busy.get("/owner/").status_code == 200
    clock.advance(12 * 3600)  # past 7 days since the login
    assert_ended(busy)


def test_last_seen_is_written_at_most_once_a_minute(app):
    clock = access_clock(app)
    client = logged_in(app)
    clock.advance(30)
    assert "Set-Cookie" not in client.get("/owner/stock").headers
    clock.advance(31)
    assert "Set-Cookie" in client.get("/owner/stock").headers


def test_an_owner_page_reads_the_generation_once(app, shop, monkeypatch):
    client = logged_in(app)
    reads = []
    original = shop.store.owner_generation
    monkeypatch.setattr(shop.store, "owner_generation", lambda: reads.append(1) or original())
    assert client.get("/owner/stock").status_code == 200
    assert len(reads) == 1


# -- the client address behind trusted proxies ---------------------------------------------------


def test_x_forwarded_for_counts_only_the_trusted_hops(make_app):
    app = make_app(TRUSTED_PROXY_HOPS="1")
    access_clock(app)
    client = app.test_client()
    proxy = {"REMOTE_ADDR": "10.0.0.1"}

    def guess(i, chain):
        return client.get(
            "/api/owner/stock",
            headers={"Authorization": f"Bearer guess-{i}", "X-Forwarded-For": chain},
            environ_base=proxy,
        ).status_code

    # A forged leftmost value changes nothing: the proxy's entry (rightmost) is the address.
    codes = [guess(i, f"192.0.2.{i}, 203.0.113.5") for i in range(6)]
    assert codes == [401] * 5 + [429]
    # Another client behind the same proxy has its own bucket.
    assert guess(99, "203.0.113.6") == 401


def test_without_trusted_proxies_x_forwarded_for_is_ignored(make_app):
    app = make_app()  # TRUSTED_PROXY_HOPS defaults to 0 outside Vercel
    access_clock(app)
    client = app.test_client()
    codes = [
        client.get(
            "/api/owner/stock",
            headers={"Authorization": f"Bearer guess-{i}", "X-Forwarded-For": f"203.0.113.{i}"},
            environ_base={"REMOTE_ADDR": "198.51.100.7"},
        ).status_code
        for i in range(6)
    ]
    assert codes == [401] * 5 + [429]


def test_vercel_trusts_one_hop_by_default(make_app):
    app = make_app(VERCEL="1", PUBLIC_URL=PUBLIC, OWNER_PASSWORD="a-long-owner-passphrase", SECRET_KEY=STRONG_SECRET)
    access_clock(app)
    client = app.test_client()
    for i in range(6):
        client.get(
            "/api/owner/stock",
            headers={"Authorization": f"Bearer guess-{i}", "X-Forwarded-For": f"192.0.2.{i}, 203.0.113.5"},
            environ_base={"REMOTE_ADDR": "10.0.0.1"},
        )
    fresh = client.get(
        "/api/owner/stock",
        headers={"Authorization": "Bearer a-long-owner-passphrase", "X-Forwarded-For": "203.0.113.77"},
        environ_base={"REMOTE_ADDR": "10.0.0.1"},
    )
    limited = client.get(
        "/api/owner/stock",
        headers={"Authorization": "Bearer a-long-owner-passphrase", "X-Forwarded-For": "1.2.3.4, 203.0.113.5"},
        environ_base={"REMOTE_ADDR": "10.0.0.1"},
    )
    assert (fresh.status_code, limited.status_code) == (200, 429)


def test_the_cookie_carries_a_fingerprint_never_the_password(app):
    client = logged_in(app)
    data = app.session_interface.get_signing_serializer(app).loads(client.get_cookie("session").value)
    assert OWNER_PASSWORD not in str(data)
    assert len(data["pw"]) == 32 and data["pw"] == app.extensions["owner_access"].fingerprint()
