"""The owner in real headless Chromium: log in, initialize Chapter I, watch a paid order arrive.

On redis only: this is about the pages in a browser; Owner Mode runs on every backend in test_owner_mode.
"""

from __future__ import annotations

import requests
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

from tests.browser import AppServer, chrome, screenshot
from tests.conftest import OWNER_PASSWORD
from tests.stripe_factory import checkout_session, event, signed


def log_in(browser, url):
    browser.get(url + "/owner/")
    browser.find_element(By.ID, "password").send_keys(OWNER_PASSWORD)
    browser.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    WebDriverWait(browser, 10).until(ec.title_contains("Today"))


def test_owner_initializes_stock_and_sees_the_order(make_app, browser):
    server = AppServer(make_app())
    try:
        log_in(browser, server.url)
        browser.get(server.url + "/owner/stock")
        field = browser.find_element(By.CSS_SELECTOR, "input[data-sku='balm-tee/M']")
        field.clear()
        field.send_keys("6")
        browser.find_element(By.XPATH, "//button[normalize-space()='Initialize Chapter I']").click()
        WebDriverWait(browser, 10).until(ec.text_to_be_present_in_element((By.CSS_SELECTOR, ".flash"), "initialized"))

        body, headers = signed(
            event("checkout.session.completed", checkout_session(items="balm-tee/M*2", name="Ada Lovelace"))
        )
        answer = requests.post(server.url + "/api/webhooks/stripe", data=body, headers=headers, timeout=10)
        assert answer.status_code == 200 and answer.json()["status"] == "applied"

        browser.get(server.url + "/owner/orders")
        row = browser.find_element(By.CSS_SELECTOR, "table.data tbody tr")
        assert "Balm Tee M ×2" in row.text and "Ada Lovelace" in row.text and "paid" in row.text
        screenshot(browser, "owner-orders")
        browser.set_window_size(1280, 900)
        row.find_element(By.TAG_NAME, "a").click()
        WebDriverWait(browser, 10).until(ec.title_contains("Order"))
        assert "London" in browser.page_source
        screenshot(browser, "owner-order")
        browser.set_window_size(1280, 900)

        browser.get(server.url + "/owner/stock")
        on_hand = browser.find_element(By.CSS_SELECTOR, "tr[data-sku='balm-tee/M'] [data-on-hand]")
        assert on_hand.text == "4"
        screenshot(browser, "owner-stock")
        browser.set_window_size(1280, 900)
    finally:
        server.stop()


def test_health_is_red_without_a_webhook_secret(make_app, browser):
    server = AppServer(make_app(STRIPE_WEBHOOK_SECRET=""))
    try:
        log_in(browser, server.url)
        browser.get(server.url + "/owner/health")
        failing = browser.find_elements(By.CSS_SELECTOR, ".check-fail")
        assert failing and "STRIPE_WEBHOOK_SECRET" in failing[0].text
        screenshot(browser, "owner-health")
    finally:
        server.stop()


def test_orders_on_a_phone(make_app, deliver):
    server = AppServer(make_app())
    driver = chrome(390, 844)
    try:
        for name in ("Ada Lovelace", "Grace Hopper"):
            body, headers = signed(
                event("checkout.session.completed", checkout_session(items="ridge-knit/M", name=name))
            )
            requests.post(server.url + "/api/webhooks/stripe", data=body, headers=headers, timeout=10)
        log_in(driver, server.url)
        driver.get(server.url + "/owner/orders")
        assert "Grace Hopper" in driver.page_source
        screenshot(driver, "owner-orders-phone")
    finally:
        driver.quit()
        server.stop()
