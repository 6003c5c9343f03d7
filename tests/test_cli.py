"""flask stock / orders / ledger / doctor, through the app's CLI runner."""

from __future__ import annotations

import json

import pytest

from tests.stripe_factory import checkout_session, event

pytestmark = pytest.mark.backends()


def test_stock_init_show_set_adjust(runner, shop):
    result = runner.invoke(args=["stock", "init", "chapter-i", "--all", "4", "balm-tee/M=9"])
    assert result.exit_code == 0, result.output
    assert "balm-tee/M" in result.output and "initialized" in result.output
    assert runner.invoke(args=["stock", "set", "chapter-i", "balm-tee/L=2"]).exit_code == 0
    assert runner.invoke(args=["stock", "adjust", "chapter-i", "balm-tee/M=-3", "--note", "gift"]).exit_code == 0
    shown = json.loads(runner.invoke(args=["stock", "show", "chapter-i", "--json"]).output)
    rows = {r["sku"]: r["on_hand"] for r in shown["chapters"][0]["skus"]}
    assert rows["balm-tee/M"] == 6 and rows["balm-tee/L"] == 2 and rows["tide-tote/OS"] == 4
    assert "NOT initialized" in runner.invoke(args=["stock", "show"]).output  # Chapter II


def test_stock_errors_exit_non_zero_with_a_message(runner, shop):
    assert runner.invoke(args=["stock", "init", "chapter-i", "balm-tee/M"]).exit_code != 0
    unknown = runner.invoke(args=["stock", "init", "chapter-x"])
    assert unknown.exit_code == 1 and "no chapter" in unknown.output
    runner.invoke(args=["stock", "init", "chapter-i", "balm-tee/M=1"])
    twice = runner.invoke(args=["stock", "init", "chapter-i"])
    assert twice.exit_code == 1 and "already initialized" in twice.output
    negative = runner.invoke(args=["stock", "adjust", "chapter-i", "balm-tee/M=-2"])
    assert negative.exit_code == 1 and "below zero" in negative.output


def test_orders_and_ledger(runner, shop, deliver):
    shop.inventory.initialize("chapter-i", {"balm-tee/M": 3})
    order_id = deliver(event("checkout.session.completed", checkout_session(items="balm-tee/M*2"))).get_json()[
        "order_id"
    ]
    listing = runner.invoke(args=["orders", "list"])
    assert listing.exit_code == 0 and order_id in listing.output and "paid" in listing.output
    shown = json.loads(runner.invoke(args=["orders", "show", order_id]).output)
    assert shown["items"][0]["quantity"] == 2
    assert runner.invoke(args=["orders", "show", "ord_nope"]).exit_code == 1
    ledger = runner.invoke(args=["ledger", "--sku", "balm-tee/M", "--reason", "order_commit"])
    assert ledger.exit_code == 0 and order_id in ledger.output and "-2" in ledger.output
    assert runner.invoke(args=["ledger", "--reason", "stolen"]).exit_code == 1


def test_doctor_exit_codes(make_app):
    failing = make_app(STRIPE_WEBHOOK_SECRET="").test_cli_runner().invoke(args=["doctor"])
    assert failing.exit_code == 1 and "FAIL" in failing.output and "STRIPE_WEBHOOK_SECRET" in failing.output
    passing = make_app(STRIPE_SECRET_KEY="sk_test_doctor").test_cli_runner().invoke(args=["doctor"])
    assert passing.exit_code == 0, passing.output
    assert "warn" in passing.output  # chapters not initialized yet: a warning, not a failure


def test_stock_verify_catches_a_counter_changed_behind_the_ledger(
    runner, shop, deliver, redis_client, client, owner_headers
):
    shop.inventory.initialize("chapter-i", {"balm-tee/M": 5})
    deliver(event("checkout.session.completed", checkout_session(items="balm-tee/M*2")))
    assert runner.invoke(args=["stock", "verify"]).exit_code == 0
    redis_client.hincrby("{shop}:stock", "balm-tee/M", 4)  # someone edits Redis by hand
    result = runner.invoke(args=["stock", "verify"])
    assert result.exit_code == 1 and "balm-tee/M" in result.output and "counter 7, ledger says 3" in result.output
    checks = {c["name"]: c for c in client.get("/api/owner/health", headers=owner_headers).get_json()["checks"]}
    assert (
        checks["stock_ledger"]["level"] == "fail"
        and "balm-tee/M on_hand: counter 7, ledger 3" in (checks["stock_ledger"]["detail"])
    )


def test_stock_report(runner, shop, deliver):
    shop.inventory.initialize("chapter-i", {"balm-tee/M": 9})
    deliver(event("checkout.session.completed", checkout_session(items="balm-tee/M*3")))
    out = runner.invoke(args=["stock", "report", "--csv"]).output.splitlines()
    assert out[0] == "chapter,sku,size,on_hand,held,sold_7d,sold_30d,days_of_cover"
    assert "Chapter I,balm-tee/M,M,6,0,3,3,60.0" in out
    assert "Chapter II,wool-coat/M,M,,,0,0," in out
    assert "balm-tee/M" in runner.invoke(args=["stock", "report"]).output
