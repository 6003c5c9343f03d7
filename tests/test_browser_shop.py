"""A shopper in real headless Chromium: pick a size, add to cart, change quantity, check out.

On redis only: this is about the pages in a browser; checkout runs on every backend in test_checkout.
"""

from __future__ import annotations

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

from tests.browser import AppServer, chrome, screenshot


@pytest.fixture
def server(make_app, stub):
    app = make_app(STRIPE_SECRET_KEY="sk_test_stand_in", STRIPE_API_BASE=stub.base, STRIPE_TIMEOUT_SECONDS=5)
    shop = app.extensions["shop"]
    shop.inventory.initialize(
        "chapter-i",
        {
            "balm-tee/S": 0,
            "balm-tee/M": 8,
            "balm-tee/L": 2,
            "balm-tee/XL": 12,
            "harbour-shirt/M": 6,
            "tide-tote/OS": 20,
        },
    )
    with AppServer(app) as server:
        yield server


def wait(driver, seconds=10):
    return WebDriverWait(driver, seconds)


def test_shop_to_checkout(server, browser, stub):
    browser.get(server.url + "/")
    assert "Chapter I" in browser.page_source
    screenshot(browser, "shop-home")
    browser.set_window_size(1280, 900)

    browser.find_element(By.PARTIAL_LINK_TEXT, "Balm Tee").click()
    wait(browser).until(ec.title_contains("Balm Tee"))
    sold_out = browser.find_element(By.CSS_SELECTOR, "input[value='balm-tee/S']")
    assert not sold_out.is_enabled()  # a sold-out size cannot be picked
    assert "only 2 left" in browser.page_source
    screenshot(browser, "shop-product")
    browser.set_window_size(1280, 900)

    browser.find_element(By.CSS_SELECTOR, "label.size-in_stock input[value='balm-tee/M']").click()
    browser.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    wait(browser).until(ec.text_to_be_present_in_element((By.CSS_SELECTOR, "[data-message]"), "Added"))
    assert browser.find_element(By.CSS_SELECTOR, "[data-cart-count]").text == "1"

    browser.get(server.url + "/cart")
    qty = wait(browser).until(ec.visibility_of_element_located((By.CSS_SELECTOR, "input[data-qty='balm-tee/M']")))
    qty.send_keys(Keys.END, Keys.BACK_SPACE, "3", Keys.TAB)  # leaving the field fires change: the cart updates
    wait(browser).until(ec.text_to_be_present_in_element((By.CSS_SELECTOR, "[data-cart-total]"), "135"))
    assert browser.find_element(By.CSS_SELECTOR, "[data-cart-count]").text == "3"
    screenshot(browser, "shop-cart")
    browser.set_window_size(1280, 900)

    browser.find_element(By.CSS_SELECTOR, "[data-checkout]").click()
    wait(browser, 20).until(ec.url_contains("/pay/"))
    (session_id,) = stub.sessions
    assert browser.current_url == stub.sessions[session_id]["url"]
    order_id = stub.sessions[session_id]["metadata"]["order_id"]
    order = server.shop.orders.get(order_id)
    assert order["status"] == "pending" and order["items"][0]["quantity"] == 3
    assert server.shop.inventory.availability(["balm-tee/M"])["balm-tee/M"] == 5  # held for this checkout


def test_sold_out_in_cart_says_which_size(server, browser, stub):
    """Someone else took the last units while the shopper's cart waited: a clear message, no redirect."""
    browser.get(server.url + "/products/balm-tee")
    browser.find_element(By.CSS_SELECTOR, "input[value='balm-tee/L']").click()
    qty = browser.find_element(By.CSS_SELECTOR, "input[name=quantity]")
    qty.clear()
    qty.send_keys("2")
    browser.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    wait(browser).until(ec.text_to_be_present_in_element((By.CSS_SELECTOR, "[data-message]"), "Added"))
    server.shop.inventory.adjust("chapter-i", {"balm-tee/L": -1}, note="sold in the studio")
    browser.get(server.url + "/cart")
    wait(browser).until(ec.element_to_be_clickable((By.CSS_SELECTOR, "[data-checkout]"))).click()
    message = wait(browser).until(ec.visibility_of_element_located((By.CSS_SELECTOR, "[data-cart-message]")))
    wait(browser).until(lambda d: "Only 1 left" in message.text)
    assert "Balm Tee (L)" in message.text and "/cart" in browser.current_url
    assert not stub.sessions


def test_product_page_on_a_phone(server):
    driver = chrome(390, 844)
    try:
        driver.get(server.url + "/products/harbour-shirt")
        assert driver.find_element(By.CSS_SELECTOR, "button[type=submit]").is_displayed()
        screenshot(driver, "shop-product-phone")
    finally:
        driver.quit()
