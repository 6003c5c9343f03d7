"""The short form of ``make drop`` (bench/drop.py): a whole drop in a few seconds against gunicorn, a real
redis-server and the slow, rate-limited Stripe stand-in, with the line on and off.

Only invariants are asserted, never timings: nothing oversold, no negative stock or held count, the bots'
tickets within their addresses' cap, every paid unit taken off stock exactly once.
"""

from __future__ import annotations

from bench.drop import Drop, run_drop

SHORT = Drop(
    shoppers=200,
    units=40,
    window=4.0,
    bot_cookies=5,
    bot_addresses=1,
    admit_per_minute=600,
    pass_minutes=1,
    stripe_latency=(0.05, 0.1),
    stripe_rate=25,
    pay_delay=(0.1, 0.3),
    deadline=20.0,
    workers=2,
    threads=8,
)


def test_a_short_drop_keeps_every_invariant_with_the_line_on_and_off():
    on, off = run_drop(SHORT)
    for r in (on, off):
        assert r["oversold"] == 0, r
        assert r["negative_stock"] == 0, r
        assert r["schema_errors"] == 0 and not r["client_failures"], r
        assert r["paid_units_seen"] == r["sold"] <= r["units"], r  # each paid unit off stock exactly once
    cap = 50 * SHORT.bot_addresses  # ADDRESS_MAX_TICKETS per address: 100 bot joins, 50 tickets
    assert on["bot_tickets"] <= cap and on["tickets"] <= on["fans"] + cap, on
    assert on["bot_joins"] == SHORT.bots_expected() * SHORT.bot_cookies, on
    assert on["bot_tickets"] + on["refused_address"] <= on["bot_joins"], on  # a refused join is no ticket
