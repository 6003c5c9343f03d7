"""The pure rules of drops, without a store: release state from times, email normalization, limit arithmetic."""

from __future__ import annotations

import pytest

from shop import releases
from shop.catalog import Catalog
from shop.errors import BadRequest, ConfigError

OPENS = releases.parse_time("2026-12-04T17:00Z", "opens_at")
CLOSES = releases.parse_time("2026-12-06T17:00Z", "closes_at")


def test_times_with_a_zone_are_read_to_the_millisecond():
    assert OPENS == 1796403600000
    assert releases.parse_time("2026-12-04T18:00:00+01:00", "opens_at") == OPENS
    assert releases.parse_time(" 2026-12-04T17:00:00z ", "opens_at") == OPENS
    assert releases.parse_time(None, "opens_at") is None
    assert releases.iso_utc(OPENS) == "2026-12-04T17:00:00Z"
    assert releases.owner_words(OPENS) == "Fri 4 Dec 2026, 17:00 UTC"


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("2026-12-04T17:00", "no time zone"),
        ("Friday 6pm", "is not a time this shop can read"),
        ("2026-13-04T17:00Z", "is not a time this shop can read"),
        ("", "must be a time"),
        (1796403600, "must be a time"),
    ],
)
def test_bad_times_say_the_expected_form(value, words):
    with pytest.raises(BadRequest) as raised:
        releases.parse_time(value, "opens_at")
    assert words in raised.value.message and "2026-12-04T17:00Z" in raised.value.message


def test_a_window_must_close_after_it_opens():
    releases.check_window(OPENS, CLOSES)
    releases.check_window(None, CLOSES)
    with pytest.raises(BadRequest, match="closes_at must be after opens_at"):
        releases.check_window(CLOSES, OPENS)
    with pytest.raises(BadRequest):
        releases.check_window(OPENS, OPENS)


def test_state_from_the_times():
    assert releases.state(OPENS, CLOSES, OPENS - 1) == "scheduled"
    assert releases.state(OPENS, CLOSES, OPENS) == "open"  # on sale from the minute it opens
    assert releases.state(OPENS, CLOSES, CLOSES - 1) == "open"
    assert releases.state(OPENS, CLOSES, CLOSES) == "closed"
    assert releases.state(None, None, 0) == "open"  # no release: open (once initialized)
    assert releases.state(None, CLOSES, CLOSES + 1) == "closed"
    assert releases.release_json({"opens_at": OPENS, "closes_at": None}, OPENS - 1) == {
        "opens_at": "2026-12-04T17:00:00Z",
        "closes_at": None,
        "state": "scheduled",
        "queue": None,
    }
    assert releases.release_json(None, 0) == {"opens_at": None, "closes_at": None, "state": "open", "queue": None}


@pytest.mark.parametrize(
    ("given", "customer"),
    [
        ("Foo+x@Example.com", "foo@example.com"),
        ("  foo@example.com ", "foo@example.com"),
        ("FOO+a+b@EXAMPLE.COM", "foo@example.com"),
        ("+only-tag@example.com", None),
        ("no-at-sign.example.com", None),
        ("two@@example.com", None),
        ("foo@localhost", None),
        (None, None),
        (42, None),
    ],
)
def test_email_normalization(given, customer):
    assert releases.normalize_email(given) == customer


def test_an_email_is_required_in_shopper_words():
    with pytest.raises(BadRequest) as raised:
        releases.check_email("")
    assert "enter your email address" in raised.value.message and "one per customer" in raised.value.message
    assert releases.check_email("Ada+drop@Example.org") == "ada@example.org"


def test_limit_arithmetic():
    assert not releases.over_limit(1, held=0, paid=0, wanted=1)
    assert releases.over_limit(1, held=1, paid=0, wanted=1)
    assert releases.over_limit(1, held=0, paid=1, wanted=1)
    assert not releases.over_limit(3, held=1, paid=1, wanted=1)
    assert releases.over_limit(3, held=1, paid=1, wanted=2)
    assert releases.limit_words("Wool Coat", 1) == "one per customer"
    assert releases.limit_words("Wool Coat", 2) == "at most 2 per customer"


def catalog_with(limit):
    product = {"id": "coat", "name": "Coat", "price": 100, "sizes": ["M"], "limit": limit}
    return Catalog.from_dict({"currency": "eur", "chapters": [{"id": "c", "products": [product]}]})


def test_catalog_limit_is_a_whole_number_of_one_or_more():
    assert catalog_with(1).limits == {"coat": 1}
    assert catalog_with(None).limits == {}
    for bad in (0, -1, 1.5, "1", True):
        with pytest.raises(ConfigError, match="limit must be a whole number of 1 or more"):
            catalog_with(bad)


def test_the_sample_catalog_sells_the_coat_one_per_customer():
    from shop.config import ROOT

    assert Catalog.load(ROOT / "catalog.json").limits == {"wool-coat": 1}
