"""The Content-Security-Policy in a real Chromium: the shop's pages, the cart script and Owner Mode work
under it, and the browser reports no violation (a blocked inline script or style would)."""

from __future__ import annotations

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

from tests.browser import AppServer, record_violations, violations
from tests.conftest import OWNER_PASSWORD


@pytest.fixture
def server(make_app, stub):
    app = make_app(STRIPE_SECRET_KEY="sk_test_stand_in", STRIPE_API_BASE=stub.base, STRIPE_TIMEOUT_SECONDS=5)
    app.extensions["shop"].inventory.initialize("chapter-i", {"balm-tee/M": 8})
    # A page that breaks the policy on purpose: proves the recorder sees what the browser blocks.
    app.add_url_rule(
        "/csp-probe", "csp_probe", lambda: "<p style='color:red'>x</p><script>document.title='ran'</script>"
    )
    with AppServer(app) as server:
        yield server


@pytest.fixture
def browser(browser):
    return record_violations(browser)


def test_pages_and_the_cart_script_run_under_the_policy(server, browser):
    browser.get(server.url + "/csp-probe")
    assert browser.title != "ran" and any("script-src" in v for v in violations(browser))
    for path in ("/", "/chapters/chapter-i", "/products/balm-tee", "/nowhere"):
        browser.get(server.url + path)
        assert violations(browser) == [], path
    browser.get(server.url + "/products/balm-tee")
    browser.find_element(By.CSS_SELECTOR, "label.size-in_stock input[value='balm-tee/M']").click()
    browser.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    WebDriverWait(browser, 10).until(ec.text_to_be_present_in_element((By.CSS_SELECTOR, "[data-message]"), "Added"))
    browser.get(server.url + "/cart")
    WebDriverWait(browser, 10).until(
        ec.visibility_of_element_located((By.CSS_SELECTOR, "input[data-qty='balm-tee/M']"))
    )  # drawn by cart.js from the page's JSON data block
    assert violations(browser) == []


def test_owner_mode_runs_under_the_policy(server, browser):
    browser.get(server.url + "/owner/login")
    browser.find_element(By.CSS_SELECTOR, "input[name=password]").send_keys(OWNER_PASSWORD)
    browser.find_element(By.CSS_SELECTOR, "form button[type=submit], form input[type=submit]").click()
    WebDriverWait(browser, 10).until(ec.url_contains("/owner/"))
    for path in ("/owner/", "/owner/stock", "/owner/orders", "/owner/ledger", "/owner/health"):
        browser.get(server.url + path)
        assert "/owner/login" not in browser.current_url
        assert violations(browser) == [], path
