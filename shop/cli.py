"""flask commands for the owner and for scripts: stock, orders, ledger, doctor."""

from __future__ import annotations

import json
import sys

import click
from flask import Flask
from flask.cli import AppGroup, with_appcontext

from shop import health
from shop.errors import ShopError
from shop.web import get_shop


def _shop():
    return get_shop()


def _fail_on_shop_errors(fn):
    import functools

    @functools.wraps(fn)
    def wrapped(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except ShopError as e:
            raise click.ClickException(e.message) from None

    return wrapped


def _pairs(values: tuple[str, ...], what: str) -> dict[str, int]:
    """SKU=N arguments -> {sku: n}."""
    out = {}
    for value in values:
        sku, sep, n = value.partition("=")
        try:
            out[sku.strip()] = int(n)
        except ValueError:
            sep = ""
        if not sep:
            raise click.BadParameter(f"{value!r}: write SKU=N, e.g. balm-tee/M=10", param_hint=what)
    return out


def _print_chapter(chapter: dict) -> None:
    state = "initialized" if chapter["initialized"] else "NOT initialized (sales are not taken off stock)"
    click.echo(f"{chapter['name']} ({chapter['id']}): {state}")
    click.echo(f"  {'sku':<22}{'on hand':>8}{'held':>6}{'avail':>7}")
    for row in chapter["skus"]:

        def show(v):
            return "-" if v is None else str(v)

        mark = " sold out" if row["sold_out"] else (" low" if row["low"] else "")
        click.echo(
            f"  {row['sku']:<22}{show(row['on_hand']):>8}{show(row['held']):>6}{show(row['available']):>7}{mark}"
        )


stock = AppGroup("stock", help="Per-chapter stock: show, init, set, adjust.")


@stock.command("show")
@click.argument("chapter", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print JSON (as GET /api/owner/stock).")
@_fail_on_shop_errors
def stock_show(chapter, as_json):
    """Show stock of every chapter, or of CHAPTER."""
    chapters = _shop().inventory.snapshot([chapter] if chapter else None)
    if as_json:
        click.echo(json.dumps({"chapters": chapters}, indent=2))
        return
    for c in chapters:
        _print_chapter(c)


@stock.command("init")
@click.argument("chapter")
@click.argument("counts", nargs=-1)
@click.option("--all", "all_units", type=click.IntRange(0), help="Give every SKU of the chapter this many units.")
@_fail_on_shop_errors
def stock_init(chapter, counts, all_units):
    """Initialize CHAPTER's stock: SKU=N ... (SKUs not named start at 0, or at --all)."""
    inventory = _shop().inventory
    given = {sku: all_units for sku in inventory.chapter(chapter).skus} if all_units is not None else {}
    given.update(_pairs(counts, "COUNTS"))
    _print_chapter(inventory.initialize(chapter, given, note="flask stock init"))


@stock.command("set")
@click.argument("chapter")
@click.argument("counts", nargs=-1, required=True)
@_fail_on_shop_errors
def stock_set(chapter, counts):
    """Set on-hand counts: SKU=N ..."""
    _print_chapter(_shop().inventory.set(chapter, _pairs(counts, "COUNTS"), note="flask stock set"))


@stock.command("adjust")
@click.argument("chapter")
@click.argument("deltas", nargs=-1, required=True)
@click.option("--note", help="Why (shown in the ledger).")
@_fail_on_shop_errors
def stock_adjust(chapter, deltas, note):
    """Add or take units: SKU=+N or SKU=-N ... (all or nothing)."""
    _print_chapter(_shop().inventory.adjust(chapter, _pairs(deltas, "DELTAS"), note=note))


@stock.command("verify")
@_fail_on_shop_errors
def stock_verify():
    """Replay the ledger and compare it with the stock counters; exit 1 on any drift."""
    from shop import stock_audit

    shop = _shop()
    result = stock_audit.verify(shop.inventory, shop.store)
    if result["ok"]:
        click.echo(f"ok: every counter matches the ledger ({result['entries']} entries)")
        return
    for d in result["drift"]:
        click.echo(f"DRIFT {d['sku']} ({d['chapter']}) {d['field']}: counter {d['counter']}, ledger says {d['ledger']}")
    click.echo("fix: count the shelf and set the true numbers (flask stock set ...); the ledger records the correction")
    sys.exit(1)


@stock.command("report")
@click.option("--csv", "as_csv", is_flag=True, help="Print CSV instead of a table.")
@_fail_on_shop_errors
def stock_report(as_csv):
    """Per chapter and size: on hand, held, sold in 7 and 30 days, days of cover."""
    import csv as csv_module

    from shop import stock_audit

    shop = _shop()
    rows = stock_audit.report(shop.inventory, shop.store, shop.catalog)
    columns = ["chapter", "sku", "size", "on_hand", "held", "sold_7d", "sold_30d", "days_of_cover"]
    if as_csv:
        from shop.csv_export import write_row

        writer = csv_module.writer(sys.stdout)
        write_row(writer, columns)
        for row in rows:
            write_row(writer, [row[c] for c in columns])
        return
    click.echo(f"{'chapter':<12}{'sku':<22}{'on hand':>8}{'held':>6}{'7 d':>6}{'30 d':>6}{'cover (days)':>14}")
    for row in rows:

        def show(v):
            return "-" if v is None else str(v)

        click.echo(
            f"{row['chapter']:<12}{row['sku']:<22}{show(row['on_hand']):>8}{show(row['held']):>6}"
            f"{row['sold_7d']:>6}{row['sold_30d']:>6}{show(row['days_of_cover']):>14}"
        )


orders = AppGroup("orders", help="Orders: list and show.")


@orders.command("list")
@click.option("--status", help="Only orders with this status.")
@click.option("--limit", type=click.IntRange(1, 200), default=20, show_default=True)
@click.option("--cursor", help="Continue after the page that printed this cursor.")
@click.option("--json", "as_json", is_flag=True)
@_fail_on_shop_errors
def orders_list(status, limit, cursor, as_json):
    """Newest orders first."""
    page, next_cursor = _shop().orders.page(status=status, limit=limit, cursor=cursor)
    if as_json:
        click.echo(json.dumps({"orders": page, "next_cursor": next_cursor}, indent=2))
        return
    for o in page:
        items = ", ".join(f"{i['sku']}×{i['quantity']}" for i in o["items"]) or "(no items)"
        flags = f" [{', '.join(o['flags'])}]" if o["flags"] else ""
        total = f"{(o['amount_total'] or 0) / 100:.2f} {(o['currency'] or '').upper()}"
        click.echo(f"{o['created_at']}  {o['id']}  {o['status']:<18} {total:>12}  {items}{flags}")
    if not page:
        click.echo("no orders")
    if next_cursor:
        click.echo(f"more: flask orders list --cursor {next_cursor}")


@orders.command("show")
@click.argument("order_id")
@_fail_on_shop_errors
def orders_show(order_id):
    """Print one order as JSON."""
    click.echo(json.dumps(_shop().orders.get(order_id), indent=2))


@click.command("ledger")
@with_appcontext
@click.option("--sku")
@click.option("--reason")
@click.option("--limit", type=click.IntRange(1, 500), default=50, show_default=True)
@click.option("--cursor")
@click.option("--json", "as_json", is_flag=True)
@_fail_on_shop_errors
def ledger(sku, reason, limit, cursor, as_json):
    """Stock changes, newest first."""
    entries, next_cursor = _shop().inventory.ledger(sku=sku, reason=reason, limit=limit, cursor=cursor)
    if as_json:
        click.echo(json.dumps({"entries": entries, "next_cursor": next_cursor}, indent=2))
        return
    for e in entries:
        click.echo(
            f"{e['at']}  {e['sku']:<20} {e['reason']:<14} on hand {e['delta']:+d} -> {e['on_hand']}, "
            f"held {e['held_delta']:+d} -> {e['held']}  {e['actor'] or ''} {e['ref'] or ''} {e['note'] or ''}".rstrip()
        )
    if next_cursor:
        click.echo(f"more: flask ledger --cursor {next_cursor}")


@click.command("doctor")
@click.option("--stripe", "with_stripe", is_flag=True, help="Also check the webhook endpoint on Stripe's side.")
@with_appcontext
@_fail_on_shop_errors
def doctor(with_stripe):
    """Run the health checks; exit 1 if any fails."""
    report = health.run_checks(_shop(), stripe=with_stripe)
    marks = {"ok": "ok  ", "warn": "warn", "fail": "FAIL"}
    for check in report["checks"]:
        click.echo(f"[{marks[check['level']]}] {check['name']}: {check['detail']}")
        if check["fix"] and check["level"] != "ok":
            click.echo(f"       fix: {check['fix']}")
    sys.exit(0 if report["ok"] else 1)


@click.command("reconcile")
@click.option("--since", default="72h", show_default=True, help="How far back: 72h, 3d, 90m (at most 30 days).")
@click.option("--apply", "do_apply", is_flag=True, help="Fulfil what is missing (default: only list it).")
@with_appcontext
@_fail_on_shop_errors
def reconcile(since, do_apply):
    """Find paid Checkout Sessions and undelivered events with no order; --apply fulfils them."""
    from shop import reconcile as reconciliation

    try:
        window = reconciliation.parse_window(since)
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint="--since") from None
    result = reconciliation.reconcile(_shop(), window, apply=do_apply)
    for row in result["sessions"]:
        total = f"{(row['amount_total'] or 0) / 100:.2f} {(row['currency'] or '').upper()}"
        click.echo(
            f"session {row['session_id']}  {row['payment_status'] or '-':<10} {total:>12}  "
            f"order {row['order_id'] or '-'} ({row['status'] or 'none'})  -> {row['result']}"
        )
    for row in result["events"]:
        click.echo(f"event   {row['event_id']}  {row['type']}  -> {row['result']}")
    if not result["sessions"] and not result["events"]:
        click.echo(f"nothing missing in the last {since}")
    elif do_apply:
        click.echo(f"applied {result['applied']}")
    else:
        click.echo("dry run: add --apply to fulfil these")


chapter = AppGroup("chapter", help="Chapters as drops: when each is on sale.")


@chapter.command("release")
@click.argument("chapter_id", metavar="CHAPTER")
@click.option("--opens-at", help="When it opens, ISO-8601 with a zone: 2026-12-04T17:00Z or 2026-12-04T18:00+01:00.")
@click.option("--closes-at", help="When it closes (optional), same form.")
@click.option("--clear", is_flag=True, help="Remove the release: the chapter is on sale once initialized.")
@click.option("--line-starts-before", type=int, help="Waiting line: minutes before opens-at that shoppers may join.")
@click.option("--admit-per-minute", type=int, help="Waiting line: shoppers let through per minute from opens-at.")
@click.option("--pass-minutes", type=int, help="Waiting line: minutes a shopper let through has to start a checkout.")
@_fail_on_shop_errors
def chapter_release(chapter_id, opens_at, closes_at, clear, line_starts_before, admit_per_minute, pass_minutes):
    """Set (or --clear) when CHAPTER opens and closes, and its waiting line; prints its release.

    The line is on when the three line options are given (all three), off otherwise.
    """
    line_options = (line_starts_before, admit_per_minute, pass_minutes)
    if clear and (opens_at or closes_at or any(o is not None for o in line_options)):
        raise click.UsageError("--clear removes the release: give it alone, without --opens-at or --closes-at")
    if not clear and not (opens_at or closes_at):
        raise click.UsageError("give --opens-at and/or --closes-at, or --clear")
    if any(o is not None for o in line_options) and not all(o is not None for o in line_options):
        raise click.UsageError(
            "a waiting line needs all three: --line-starts-before 15 --admit-per-minute 60 --pass-minutes 10"
        )
    from shop import releases

    shop = _shop()
    queue = (
        dict(zip(("starts_minutes_before", "admit_per_minute", "pass_minutes"), line_options, strict=True))
        if line_starts_before is not None
        else None
    )
    result = shop.releases.set(chapter_id, {"opens_at": opens_at, "closes_at": closes_at, "queue": queue})
    release = result["release"]
    click.echo(f"{result['name']} ({result['id']}): {release['state']}")
    for field, label in (("opens_at", "opens "), ("closes_at", "closes")):
        moment = release[field]
        if moment:
            words = releases.owner_words(releases.parse_time(moment, field))
            click.echo(f"  {label} {words} ({moment})")
    if not (release["opens_at"] or release["closes_at"]):
        click.echo("  no release: on sale once initialized")
    if release["queue"]:
        q = release["queue"]
        click.echo(
            f"  waiting line: joins from {q['starts_minutes_before']} min before opening, "
            f"{q['admit_per_minute']} let through a minute, {q['pass_minutes']} min each to check out"
        )


def register_cli(flask_app: Flask) -> None:
    for command in (stock, orders, ledger, doctor, reconcile, chapter):
        flask_app.cli.add_command(command)
