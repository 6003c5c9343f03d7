"""What was paid against what the catalog asks (SPEC section 4, way 2), and every amount shown in its own currency.

A Payment Link or a `stripe trigger ... metadata.items=balm-tee/M*2` names the items but Stripe prices them:
a session paid in another currency or amount is still fulfilled (the money is in), flagged for the owner,
with both amounts kept on the order and printed each in its currency.
"""

from __future__ import annotations

import csv
import io

import pytest

from tests.conftest import store_calls
from tests.stripe_factory import checkout_session, event
from tests.test_owner_mode import login

pytestmark = pytest.mark.backends()


@pytest.fixture
def stocked(shop):
    shop.inventory.initialize("chapter-i", {"balm-tee/M": 5})
    return shop


@pytest.fixture
def owner_client(app):
    client = app.test_client()
    login(client)
    return client


def pay(deliver, **session_fields) -> dict:
    answer = deliver(event("checkout.session.completed", checkout_session(items="balm-tee/M*2", **session_fields)))
    assert answer.status_code == 200
    return answer.get_json()


def csv_row(owner_client, order_id) -> dict:
    text = owner_client.get("/owner/orders.csv").get_data(as_text=True)
    return next(row for row in csv.DictReader(io.StringIO(text)) if row["id"] == order_id)


def test_another_currency_is_fulfilled_and_flagged(deliver, stocked, owner_client):
    """The reported case: USD 15.00 a unit for EUR 90.00 of goods."""
    answer = pay(deliver, currency="usd", amount_subtotal=3000)
    assert (answer["status"], answer["order_status"]) == ("applied", "paid")
    order = stocked.orders.get(answer["order_id"])
    assert order["flags"] == ["currency_mismatch", "amount_mismatch"]
    assert (order["amount_expected"], order["expected_currency"]) == (9000, "eur")
    assert (order["amount_subtotal"], order["amount_total"], order["currency"]) == (3000, 3000, "usd")
    assert stocked.inventory.availability(["balm-tee/M"])["balm-tee/M"] == 3  # the goods are sold all the same

    today = owner_client.get("/owner/").get_data(as_text=True)
    assert f"Order {answer['order_id']}: currency mismatch, amount mismatch" in today
    assert "Nothing. Every size" not in today

    page = owner_client.get(f"/owner/orders/{answer['order_id']}").get_data(as_text=True)
    assert 'Expected <strong data-amount="expected">EUR 90.00</strong>' in page
    assert 'paid <strong data-amount="paid">USD 30.00</strong>' in page
    assert "<dt>Paid total</dt><dd>USD 30.00</dd>" in page
    assert "$90.00" not in page and "€30.00" not in page  # no amount in the other's currency

    row = csv_row(owner_client, answer["order_id"])
    assert (row["amount_total"], row["currency"]) == ("3000", "usd")
    assert (row["amount_expected"], row["expected_currency"]) == ("9000", "eur")
    assert row["flags"] == "currency_mismatch amount_mismatch"


def test_another_amount_is_fulfilled_and_flagged(deliver, stocked, owner_client):
    answer = pay(deliver, amount_subtotal=3000)
    order = stocked.orders.get(answer["order_id"])
    assert order["status"] == "paid" and order["flags"] == ["amount_mismatch"]
    assert (order["amount_expected"], order["amount_subtotal"]) == (9000, 3000)
    assert order["currency"] == order["expected_currency"] == "eur"
    page = owner_client.get(f"/owner/orders/{answer['order_id']}").get_data(as_text=True)
    assert 'Expected <strong data-amount="expected">€90.00</strong>' in page
    assert 'paid <strong data-amount="paid">€30.00</strong>' in page
    assert "amount mismatch" in owner_client.get("/owner/").get_data(as_text=True)
    row = csv_row(owner_client, answer["order_id"])
    assert (row["amount_total"], row["currency"], row["amount_expected"]) == ("3000", "eur", "9000")


def test_catalog_price_in_the_shop_currency_is_not_flagged(deliver, stocked, owner_client):
    answer = pay(deliver, amount_subtotal=9000, amount_total=9990)  # shipping on top is not in the subtotal
    order = stocked.orders.get(answer["order_id"])
    assert order["flags"] == [] and (order["amount_expected"], order["amount_total"]) == (9000, 9990)
    assert order["id"] not in owner_client.get("/owner/").get_data(as_text=True).split("Latest orders")[0]


def test_currency_in_capitals_is_the_same_currency(deliver, stocked):
    answer = pay(deliver, currency="EUR", amount_subtotal=9000)
    assert stocked.orders.get(answer["order_id"])["flags"] == []


@pytest.mark.backends("redis")
def test_the_compare_costs_no_extra_round_trip(deliver, stocked, redis_client, monkeypatch):
    pay(deliver)  # the scripts are loaded
    sent = store_calls(stocked.store.backend, monkeypatch)
    redis_client.config_resetstat()
    answer = pay(deliver, currency="usd", amount_subtotal=3000)
    assert answer["order_status"] == "paid"
    assert sent == ["evalsha"]
    assert redis_client.info("commandstats")["cmdstat_evalsha"]["calls"] == 1
    assert "currency_mismatch" in stocked.orders.get(answer["order_id"])["flags"]
