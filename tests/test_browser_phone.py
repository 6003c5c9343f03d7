"""Every page of the shop and of Owner Mode on a 390 px wide phone, in real headless Chromium: no sideways scroll.

The stock table must show Available and its Set / Apply controls within the screen; a long order id breaks.
"""

from __future__ import annotations

import pytest
import requests
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

from tests.browser import AppServer, chrome, screenshot
from tests.conftest import OWNER_PASSWORD
from tests.stripe_factory import checkout_session, event, signed

PHONE = 390
LONG_ORDER_ID = "ord_" + "a1b2c3d4e5" * 6  # 64 characters, the longest an order id may be


@pytest.fixture
def server(make_stripe_app):
    app = make_stripe_app()
    shop = app.extensions["shop"]
    shop.inventory.initialize("chapter-i", {"balm-tee/M": 8, "balm-tee/L": 2, "harbour-shirt/M": 6, "tide-tote/OS": 1})
    with AppServer(app) as server:
        yield server


@pytest.fixture
def phone():
    with chrome(PHONE, 844) as driver:
        # Headless Chromium keeps a window at least 500 px wide: the device metrics make the page see a phone
        # 390 CSS px wide (not "mobile": a phone would zoom out of a page that is too wide, and hide the overflow).
        driver.execute_cdp_cmd(
            "Emulation.setDeviceMetricsOverride",
            {"width": PHONE, "height": 844, "deviceScaleFactor": 1, "mobile": False},
        )
        yield driver


def width(driver) -> tuple[int, int]:
    return driver.execute_script("return [document.documentElement.scrollWidth, window.innerWidth]")


def assert_fits(driver, what: str):
    scroll, inner = width(driver)
    assert inner == PHONE, f"the viewport is {inner} px, not a {PHONE} px phone"
    if scroll > PHONE:
        # Name what sticks out, so a failure says where to look.
        wide = driver.execute_script(
            "return Array.from(document.querySelectorAll('body *'))"
            ".filter(e => e.getBoundingClientRect().right > window.innerWidth + 1)"
            ".slice(0, 5).map(e => e.tagName + '.' + e.className + ' ' + Math.round(e.getBoundingClientRect().right))"
        )
        screenshot(driver, "phone-" + what.replace("/", "-").strip("-"), full_page=False)
        pytest.fail(f"{what} is {scroll} px wide on a {PHONE} px phone; too wide: {wide}")


def visit(driver, url: str, what: str):
    driver.get(url)
    WebDriverWait(driver, 10).until(lambda d: d.execute_script("return document.readyState") == "complete")
    assert_fits(driver, what)


def deliver(server, session: dict):
    body, headers = signed(event("checkout.session.completed", session))
    answer = requests.post(server.url + "/api/webhooks/stripe", data=body, headers=headers, timeout=10)
    assert answer.status_code == 200, answer.text
    return answer.json()


def within_screen(driver, element) -> bool:
    box = element.rect
    return element.is_displayed() and box["x"] >= 0 and box["x"] + box["width"] <= PHONE


def test_owner_mode_fits_a_phone(server, phone):
    # An order with the longest id, a currency mismatch and a long address; and a plain one.
    deliver(
        server,
        checkout_session(
            items="balm-tee/M*2,harbour-shirt/M",
            order_id=LONG_ORDER_ID,
            currency="usd",
            amount_subtotal=3000,
            name="Maximiliane Wilhelmina von Hohenzollern-Sigmaringen",
            email="maximiliane.wilhelmina.von.hohenzollern@example-fashion-house.com",
        ),
    )
    deliver(server, checkout_session(items="tide-tote/OS*3"))  # oversold

    visit(phone, server.url + "/owner/login", "/owner/login")
    phone.find_element(By.ID, "password").send_keys(OWNER_PASSWORD)
    phone.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    WebDriverWait(phone, 10).until(ec.title_contains("Today"))
    assert_fits(phone, "/owner/ (Today)")
    for path in ("/owner/stock", "/owner/orders", "/owner/ledger", "/owner/health", "/owner/no-such-page"):
        visit(phone, server.url + path, path)

    visit(phone, server.url + f"/owner/orders/{LONG_ORDER_ID}", "the order with a 64-character id")
    assert LONG_ORDER_ID in phone.find_element(By.TAG_NAME, "h1").text.replace("\n", "")

    # Stock: Available and the Set / Apply controls of every row are on the screen, no sideways scroll.
    visit(phone, server.url + "/owner/stock", "/owner/stock")
    row = phone.find_element(By.CSS_SELECTOR, "tr[data-sku='balm-tee/M']")
    for selector in ("[data-available]", "input[name=on_hand]", "input[name=delta]"):
        assert within_screen(phone, row.find_element(By.CSS_SELECTOR, selector)), selector
    for label in ("Set", "Apply"):
        button = row.find_element(By.XPATH, f".//button[normalize-space()='{label}']")
        assert within_screen(phone, button), label
    assert row.find_element(By.CSS_SELECTOR, "[data-available]").text.startswith("6")  # 8 on hand, 2 sold
    screenshot(phone, "owner-stock-phone")

    # Reconcile: a POST from the health page's form.
    visit(phone, server.url + "/owner/health", "/owner/health")
    phone.find_element(By.XPATH, "//button[normalize-space()='Check Stripe for missed orders']").click()
    WebDriverWait(phone, 10).until(ec.title_contains("Missed orders"))
    assert_fits(phone, "/owner/reconcile")

    # Drop: the line of a chapter, its counts on the screen.
    queue = {"starts_minutes_before": 15, "admit_per_minute": 60, "pass_minutes": 10}
    requests.post(
        server.url + "/api/owner/chapters/chapter-i/release",
        json={"opens_at": "2026-01-01T00:00Z", "queue": queue},
        headers={"Authorization": f"Bearer {OWNER_PASSWORD}"},
        timeout=10,
    ).raise_for_status()
    visit(phone, server.url + "/owner/drop", "/owner/drop")
    assert within_screen(phone, phone.find_element(By.CSS_SELECTOR, "[data-refused-cookie]"))


def test_the_shop_fits_a_phone(server, phone, stub):
    for path in ("/", "/chapters/chapter-i", "/chapters/chapter-ii", "/products/balm-tee", "/products/wool-coat"):
        visit(phone, server.url + path, path)
    visit(phone, server.url + "/cart", "/cart (empty)")
    visit(phone, server.url + "/no-such-page", "a 404")

    phone.get(server.url + "/products/balm-tee")
    phone.find_element(By.CSS_SELECTOR, "input[value='balm-tee/M']").click()
    phone.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    WebDriverWait(phone, 10).until(ec.text_to_be_present_in_element((By.CSS_SELECTOR, "[data-message]"), "Added"))
    visit(phone, server.url + "/cart", "/cart (one line)")
    assert phone.find_element(By.CSS_SELECTOR, "[data-checkout]").is_displayed()

    started = requests.post(
        server.url + "/api/checkout", json={"items": [{"sku": "balm-tee/M", "quantity": 2}]}, timeout=10
    ).json()
    stub.complete(started["session_id"])
    visit(phone, server.url + f"/checkout/success?session_id={started['session_id']}", "/checkout/success")
    assert started["order_id"] in phone.page_source

    other = requests.post(
        server.url + "/api/checkout", json={"items": [{"sku": "harbour-shirt/M", "quantity": 1}]}, timeout=10
    ).json()
    visit(phone, server.url + f"/checkout/cancel?order_id={other['order_id']}", "/checkout/cancel")
    assert "Checkout cancelled" in phone.page_source
