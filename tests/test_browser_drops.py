"""Drops in real headless Chromium: the countdown, the controls that enable themselves, one per customer.

The page's script only enables controls; the server decides by its own clock at checkout. The waits
are generous upper bounds (the test ends as soon as the page changes), never a timing assertion.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

from tests.browser import AppServer, screenshot
from tests.clock import shop_clock


def iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture
def server(make_app, stub):
    app = make_app(STRIPE_SECRET_KEY="sk_test_stand_in", STRIPE_API_BASE=stub.base, STRIPE_TIMEOUT_SECONDS=5)
    shop = app.extensions["shop"]
    shop.inventory.initialize("chapter-ii", {"wool-coat/M": 3, "ridge-knit/M": 4, "ridge-knit/L": 0})
    with AppServer(app) as server:
        yield server


def test_countdown_then_the_sizes_enable_themselves(server, browser, stub):
    # The shop's clock stands still: however slowly the page loads, it counts down the same 5 s from the
    # shop's time, not the machine's, and the checkout below is judged at the time the test moves it to.
    clock = shop_clock(server.shop)
    server.shop.releases.set("chapter-ii", {"opens_at": iso(clock.now + 5)})
    browser.get(server.url + "/products/ridge-knit")
    countdown = browser.find_element(By.CSS_SELECTOR, "[data-countdown]")
    WebDriverWait(browser, 10).until(lambda d: countdown.text.startswith("in 00:00:0"))
    local = browser.find_element(By.CSS_SELECTOR, "time[data-local-time]").text
    assert "UTC" not in local and local  # written by the page's script in the shopper's zone
    size = browser.find_element(By.CSS_SELECTOR, "input[value='ridge-knit/M']")
    button = browser.find_element(By.CSS_SELECTOR, "button[type=submit]")
    assert not size.is_enabled() and not button.is_enabled() and button.text == "Opens soon"
    assert not browser.find_element(By.CSS_SELECTOR, "input[value='ridge-knit/L']").is_enabled()  # sold out
    # when the countdown ends the page enables what is in stock: no reload
    WebDriverWait(browser, 60).until(lambda d: size.is_enabled())
    assert button.is_enabled() and button.text == "Add to cart" and countdown.text == "Open now"
    clock.advance(6)  # the shop's clock too has passed opens_at
    assert not browser.find_element(By.CSS_SELECTOR, "input[value='ridge-knit/L']").is_enabled()
    browser.find_element(By.CSS_SELECTOR, "input[value='ridge-knit/M']").click()
    button.click()
    WebDriverWait(browser, 10).until(ec.text_to_be_present_in_element((By.CSS_SELECTOR, "[data-message]"), "Added"))
    browser.get(server.url + "/cart")
    WebDriverWait(browser, 10).until(ec.element_to_be_clickable((By.CSS_SELECTOR, "[data-checkout]"))).click()
    WebDriverWait(browser, 20).until(ec.url_contains("/pay/"))  # the server's clock agrees: it is open
    assert len(stub.sessions) == 1


def test_countdown_screenshot_for_the_readme(server, browser):
    server.shop.releases.set("chapter-ii", {"opens_at": iso(time.time() + 2 * 86400 + 5 * 3600 + 17 * 60)})
    browser.get(server.url + "/products/wool-coat")
    countdown = browser.find_element(By.CSS_SELECTOR, "[data-countdown]")
    WebDriverWait(browser, 10).until(lambda d: countdown.text.startswith("in 2 days"))
    assert "One per customer." in browser.page_source
    screenshot(browser, "shop-drop-countdown")


def test_one_per_customer_asks_for_the_email(server, browser, stub):
    browser.get(server.url + "/products/wool-coat")
    assert "One per customer." in browser.find_element(By.CSS_SELECTOR, ".limit-note").text
    browser.find_element(By.CSS_SELECTOR, "input[value='wool-coat/M']").click()
    browser.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    WebDriverWait(browser, 10).until(ec.text_to_be_present_in_element((By.CSS_SELECTOR, "[data-message]"), "Added"))
    browser.get(server.url + "/cart")
    email = WebDriverWait(browser, 10).until(ec.visibility_of_element_located((By.CSS_SELECTOR, "#cart-email")))
    assert "Wool Coat is sold one per customer" in browser.find_element(By.CSS_SELECTOR, "[data-cart-email-why]").text
    browser.find_element(By.CSS_SELECTOR, "[data-checkout]").click()
    message = browser.find_element(By.CSS_SELECTOR, "[data-cart-message]")
    WebDriverWait(browser, 10).until(lambda d: "Enter your email address" in message.text)
    assert not stub.sessions and "/cart" in browser.current_url
    email.send_keys("Grace+drop@Example.com")
    browser.find_element(By.CSS_SELECTOR, "[data-checkout]").click()
    WebDriverWait(browser, 20).until(ec.url_contains("/pay/"))
    (session_id,) = stub.sessions
    params = next(p for _, path, p in stub.requests if path == "/v1/checkout/sessions")
    assert params["customer_email"] == "grace@example.com"
