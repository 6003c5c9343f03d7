"""What a shopper reads: never a variable name, and no Check out button for an empty cart.

The owner's half of a closed checkout (which variable to set) goes to the log.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

from tests.browser import AppServer, chrome

CLOSED = "Checkout is closed for a moment. Please try again later."
VARIABLE = re.compile(r"\b[A-Z][A-Z0-9]*_[A-Z0-9_]+\b")  # STRIPE_SECRET_KEY, REDIS_URL, ...


def test_checkout_without_a_stripe_key_is_closed_in_shopper_words(client, shop, caplog):
    shop.inventory.initialize("chapter-i", {"balm-tee/M": 3})
    with caplog.at_level(logging.ERROR, logger="shop.checkout"):
        response = client.post("/api/checkout", json={"items": [{"sku": "balm-tee/M", "quantity": 1}]})
    assert response.status_code == 503
    assert response.get_json() == {"error": CLOSED}
    assert not VARIABLE.search(response.get_data(as_text=True))
    assert any("STRIPE_SECRET_KEY is not set" in r.getMessage() for r in caplog.records)  # the owner's half
    assert shop.inventory.availability(["balm-tee/M"])["balm-tee/M"] == 3  # nothing held


def test_the_empty_cart_button_is_hidden_and_hidden_wins_over_button_display(client):
    html = client.get("/cart").get_data(as_text=True)
    assert re.search(r'<button type="button" class="button" data-checkout hidden>', html)
    css = Path(__file__).resolve().parent.parent.joinpath("static", "shop.css").read_text()
    assert "[hidden] { display: none !important; }" in css


def test_in_a_browser_empty_cart_has_no_button_and_closed_checkout_names_no_variable(make_app):
    app = make_app()  # no STRIPE_SECRET_KEY
    app.extensions["shop"].inventory.initialize("chapter-i", {"balm-tee/M": 3})
    server = AppServer(app)
    driver = chrome()
    try:
        driver.get(server.url + "/cart")
        WebDriverWait(driver, 10).until(ec.visibility_of_element_located((By.CSS_SELECTOR, "[data-cart-empty]")))
        button = driver.find_element(By.CSS_SELECTOR, "[data-checkout]")
        assert not button.is_displayed()
        assert driver.execute_script("return getComputedStyle(arguments[0]).display", button) == "none"

        driver.get(server.url + "/products/balm-tee")
        driver.find_element(By.CSS_SELECTOR, "input[value='balm-tee/M']").click()
        driver.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        WebDriverWait(driver, 10).until(ec.text_to_be_present_in_element((By.CSS_SELECTOR, "[data-message]"), "Added"))
        driver.get(server.url + "/cart")
        WebDriverWait(driver, 10).until(ec.element_to_be_clickable((By.CSS_SELECTOR, "[data-checkout]"))).click()
        message = driver.find_element(By.CSS_SELECTOR, "[data-cart-message]")
        WebDriverWait(driver, 10).until(lambda d: message.text)
        assert message.text == "Checkout is closed for a moment; nothing was charged. Please try again later."
        assert not VARIABLE.search(driver.find_element(By.TAG_NAME, "body").text)
        assert "/cart" in driver.current_url
    finally:
        driver.quit()
        server.stop()
