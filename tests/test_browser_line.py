"""The line in real headless Chromium: a fan is sent to the line page, which joins and follows the place as the
shop's clock moves (no reload), is let through, and checks out; a fan not yet let through is refused.

The app runs in this process (tests/browser.py) so the test moves its clock; the page looks again when its turn
should come (every 1-10 s), so each wait is a generous upper bound that ends as soon as the page changes, never a timing assertion.
"""

from __future__ import annotations

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

from shop import line
from tests.browser import AppServer, record_violations, screenshot
from tests.clock import shop_clock

OPENS = "2026-12-04T17:00:00Z"
OPENS_MS = 1796403600000


@pytest.fixture
def server(make_app, stub, monkeypatch):
    app = make_app(STRIPE_SECRET_KEY="sk_test_stand_in", STRIPE_API_BASE=stub.base, STRIPE_TIMEOUT_SECONDS=5)
    shop = app.extensions["shop"]
    shop.inventory.initialize("chapter-ii", {"wool-coat/M": 3, "ridge-knit/M": 4, "ridge-knit/L": 0})
    shop.releases.set(
        "chapter-ii",
        {"opens_at": OPENS, "queue": {"starts_minutes_before": 15, "admit_per_minute": 6, "pass_minutes": 10}},
    )
    with AppServer(app) as server:
        server.clock = shop_clock(shop)
        server.clock.now = OPENS_MS / 1000 - 5 * 60
        # twelve fans joined before ours, with draws below the one ours gets: ours is last of the early ones
        draws = [0.99] + [i / 100 for i in range(12)]
        monkeypatch.setattr(line, "draw", draws.pop)
        for i in range(12):
            shop.line.visit("chapter-ii", shop.shoppers.new()[0], join=True, address=f"10.9.{i}.1")
        server.clock.advance(1)
        yield server


@pytest.fixture
def browser(browser):
    return record_violations(browser)


def status(browser) -> str:
    return browser.find_element(By.CSS_SELECTOR, "[data-line-status]").text


def checkout_from_the_page(browser) -> dict:
    """The page's own fetch to /api/checkout (same origin, the browser's cookies): status and body."""
    return browser.execute_async_script(
        """
        const done = arguments[arguments.length - 1];
        fetch("/api/checkout", {method: "POST", headers: {"Content-Type": "application/json"},
          body: JSON.stringify({items: [{sku: "ridge-knit/M", quantity: 1}]})})
          .then(r => r.json().then(body => done({status: r.status, body})));
        """
    )


def test_a_fan_waits_in_line_moves_up_with_the_clock_and_checks_out(server, browser, stub):
    browser.get(server.url + "/products/ridge-knit")
    WebDriverWait(browser, 10).until(ec.url_contains("/line/chapter-ii"))
    WebDriverWait(browser, 10).until(lambda d: status(d).startswith("You're in line"))
    assert status(browser) == "You're in line — 12 people ahead, about 7 minutes"  # arrival rank before opening
    assert browser.execute_script("return window.__violations") == []  # the line page runs under the CSP
    screenshot(browser, "shop-line")
    server.clock.now = OPENS_MS / 1000  # the opening: ours drew last of the thirteen early fans
    server.clock.advance(60)  # six let through
    WebDriverWait(browser, 25).until(lambda d: "6 people ahead" in status(d))
    assert status(browser) == "You're in line — 6 people ahead, about 2 minutes"
    refused = checkout_from_the_page(browser)  # not let through yet: the server refuses, naming the place
    assert refused["status"] == 403 and refused["body"]["position"] == 7
    assert "you are number 7 in line" in refused["body"]["error"]
    server.clock.advance(60)  # our turn (the 13th ticket is let through at 130 s)
    server.clock.advance(10)
    WebDriverWait(browser, 25).until(lambda d: d.current_url == server.url + "/products/ridge-knit")
    assert browser.get_cookie("line_pass_chapter-ii")["httpOnly"]
    browser.find_element(By.CSS_SELECTOR, "input[value='ridge-knit/M']").click()
    browser.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    WebDriverWait(browser, 10).until(ec.text_to_be_present_in_element((By.CSS_SELECTOR, "[data-message]"), "Added"))
    browser.get(server.url + "/cart")
    WebDriverWait(browser, 10).until(ec.element_to_be_clickable((By.CSS_SELECTOR, "[data-checkout]"))).click()
    WebDriverWait(browser, 20).until(ec.url_contains("/pay/"))
    assert len(stub.sessions) == 1
    assert server.shop.inventory.availability(["ridge-knit/M"]) == {"ridge-knit/M": 3}


def test_a_fan_not_let_through_is_refused_at_checkout(server, browser, stub):
    browser.get(server.url + "/chapters/chapter-ii")
    WebDriverWait(browser, 10).until(lambda d: status(d).startswith("You're in line"))
    server.clock.now = OPENS_MS / 1000 + 5
    refused = checkout_from_the_page(browser)
    assert refused["status"] == 403 and refused["body"]["state"] == "waiting"
    assert refused["body"]["position"] == 13 and not stub.sessions
    assert server.shop.inventory.availability(["ridge-knit/M"]) == {"ridge-knit/M": 4}
