"""Each Stripe event script's header names the KEYS its Python wrapper passes, in order (no Redis)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from shop.catalog import Catalog
from shop.lifecycle import CHECKOUT_MOVES, STATUSES, STRIPE_MOVES
from shop.store import SCRIPTS, Script
from shop.store.events import SCRIPT_OF_KIND, event_call, event_keys
from shop.store.events import SCRIPTS as EVENT_SCRIPTS
from shop.stripe_events import DisputeEvent, Envelope, Ignored, RefundEvent, event_action
from tests.stripe_factory import checkout_session, event

CATALOG = Catalog.load(Path(__file__).resolve().parent.parent / "catalog.json")
ENVELOPE = Envelope("evt_1", "charge.refunded", False)


def header(script: str) -> list[tuple[str, int, int]]:
    """(name, first KEYS index, count) of each key or group the script's header names."""
    found = []
    for line in (SCRIPTS / f"{script}.lua").read_text().splitlines():
        if m := re.match(r"^-- KEYS\[(\d+)\.\.(\d+)\]\s+stock, held, holds, chapters, ledger", line):
            found.append(("stock", int(m[1]), int(m[2]) - int(m[1]) + 1))
        elif m := re.match(r"^local (\w+) = KEYS\[(\d+)\]", line):
            found.append((m[1], int(m[2]), 1))
        elif m := re.match(r"^local (\w+) = status_keys\((\d+), (\d+)\)", line):
            found.append((m[1], int(m[2]), int(m[3]) - int(m[2]) + 1))
    return found


def session_action(kind_event: str, **session):
    return event_action(
        event(kind_event, checkout_session(items="balm-tee/M*1", email="Ann+x@Example.com", **session)), CATALOG
    )


def actions() -> dict[str, object]:
    """An action of every script, with every optional key present (an email, a limited customer)."""
    return {
        "event_paid": session_action("checkout.session.completed"),
        "event_unpaid": session_action("checkout.session.completed", payment_status="unpaid"),
        "event_failed_or_expired": session_action("checkout.session.async_payment_failed"),
        "event_refund": RefundEvent(ENVELOPE, "pi_1", {"charge_refunded": 100}, "ord_1", "ann@example.com"),
        "event_dispute": DisputeEvent(ENVELOPE, "pi_1", {"id": "dp_1"}, "ord_1"),
        "event_ignored": Ignored(ENVELOPE, "event type not handled"),
    }


def test_every_kind_has_a_script_and_every_script_a_case_here():
    assert set(actions()) == set(EVENT_SCRIPTS) == set(SCRIPT_OF_KIND.values())


@pytest.mark.parametrize("script", EVENT_SCRIPTS)
def test_the_header_names_the_keys_the_wrapper_passes_in_order(script):
    action = actions()[script]
    assert event_call(action, "20261202")[0] == script
    position, expected = 1, []
    for name, group in event_keys(script, action, "20261202"):
        expected.append((name, position, len(group)))
        position += len(group)
    assert header(script) == expected


@pytest.mark.parametrize("script", EVENT_SCRIPTS)
def test_optional_keys_come_last_so_leaving_them_out_moves_no_other(script):
    groups = event_keys(script, actions()[script], "20261202")
    names = [name for name, _ in groups]
    optional = [n for n in names if n in ("customer_orders", "customer_paid")]
    assert names[len(names) - len(optional) :] == optional


def test_a_session_without_an_email_passes_no_customer_keys():
    action = event_action(event("checkout.session.completed", checkout_session(items="balm-tee/M")), CATALOG)
    action = type(action)(**{**action.__dict__, "customer": None})
    _, keys_, _ = event_call(action, "20261202")
    assert not any(":customer:" in k or ":orders:email:" in k for k in keys_)
    assert len(keys_) == 21


@pytest.mark.parametrize("script", sorted(p.stem for p in SCRIPTS.glob("*.lua")))
def test_each_script_and_module_stays_small(script):
    assert len((SCRIPTS / f"{script}.lua").read_text().splitlines()) <= 150


def test_a_module_a_header_includes_exists_and_each_module_is_included():
    included = set()
    for path in SCRIPTS.glob("*.lua"):
        for line in re.findall(r"^-- include: ([a-z_, ]+)$", path.read_text(), re.MULTILINE):
            included |= {name.strip() for name in line.split(",")}
    modules = {p.stem[1:] for p in SCRIPTS.glob("_*.lua")} - {"prelude"}
    assert included == modules


def test_a_script_is_its_prelude_then_its_modules_then_itself():
    source = Script("event_paid").source
    assert source.index("local function order_member") < source.index("local function save_applied")
    assert source.index("local function save_applied") < source.index("local function session_order")
    assert source.index("local function session_order") < source.index("local function commit_sale")


def test_the_order_index_member_is_formatted_in_one_place():
    texts = {p.name: p.read_text() for p in SCRIPTS.glob("*.lua")}
    assert [name for name, text in texts.items() if "%015d" in text] == ["_prelude.lua"]


@pytest.mark.parametrize("script", ["event_paid", "event_unpaid", "event_failed_or_expired", "event_refund"])
def test_the_statuses_a_script_names_are_its_moves_targets_in_the_lifecycle(script):
    kinds = [k for k, s in SCRIPT_OF_KIND.items() if s == script]
    targets = {t for k in kinds for t in STRIPE_MOVES[k].target}
    text = (SCRIPTS / f"{script}.lua").read_text()
    named = {word for word in re.findall(r"'([a-z_]+)'", text) if word in STATUSES}
    assert named == targets


def statuses_named(script: str) -> set[str]:
    text = (SCRIPTS / f"{script}.lua").read_text()
    return {word for word in re.findall(r"'([a-z_]+)'", text) if word in STATUSES}


@pytest.mark.parametrize(("script", "move"), [("checkout_hold", "start"), ("checkout_release", "release")])
def test_a_checkout_script_names_only_its_moves_target(script, move):
    assert statuses_named(script) == set(CHECKOUT_MOVES[move].target)


def test_restocking_names_no_status_itself():
    assert statuses_named("order_restock") == set()
