"""Owner Mode pages: stock, orders, ledger, webhook health, alerts. Thin: the domain does the work."""

from __future__ import annotations

import csv
import io

from flask import Response, flash, g, redirect, render_template, request, stream_with_context, url_for

from api.errors import error_response
from owner import owner
from owner.auth import owner_required
from shop import alerts as shop_alerts
from shop import health
from shop.csv_export import write_row
from shop.errors import BadRequest, ShopError
from shop.orders import FLAG_HELP, OWNER_TRANSITIONS, STATUSES
from shop.refunds import new_refund_key
from shop.releases import owner_words, parse_time
from shop.web import get_shop

PAGE_SIZE = 25
REFUNDABLE = ("paid", "shipped", "delivered", "partially_refunded")
CSV_MAX_BYTES = 256 * 1024


def stripe_dashboard(kind: str, object_id: str | None, live: bool) -> str | None:
    if not object_id:
        return None
    prefix = "https://dashboard.stripe.com" + ("" if live else "/test")
    path = {"session": "checkout/sessions", "payment": "payments"}[kind]
    return f"{prefix}/{path}/{object_id}"


def _whole(value: str, what: str, *, allow_negative: bool = False) -> int:
    text = (value or "").strip().replace("+", "", 1)
    try:
        number = int(text)
    except ValueError:
        raise BadRequest(f"{what}: write a whole number, not {value!r}") from None
    if number < 0 and not allow_negative:
        raise BadRequest(f"{what}: the count cannot be negative")
    return number


def _done(message: str, target: str):
    flash(message, "ok")
    return redirect(target)


@owner.get("/")
@owner_required
def dashboard():
    """Today: at most three store round trips (shop.alerts.today); the ledger is never replayed here."""
    page = shop_alerts.today(get_shop())
    if page["facts"] is not None:
        g.owner_generation = page["facts"]["owner_generation"]  # read in Today's pipeline: no round trip of its own
    return render_template("owner/dashboard.html", **page)


@owner.post("/alerts/ack")
@owner_required
def acknowledge_alert():
    shop_alerts.acknowledge(get_shop(), request.form.get("alert_id", ""))
    return redirect(url_for("owner.dashboard"))


# -- stock -------------------------------------------------------------------


@owner.get("/stock")
@owner_required
def stock():
    shop = get_shop()
    return render_template(
        "owner/stock.html", chapters=shop.inventory.snapshot(), threshold=shop.settings.low_stock_threshold
    )


@owner.app_template_filter("release_words")
def release_words(iso: str | None) -> str:
    """``2026-12-04T17:00:00Z`` -> ``Fri 4 Dec 2026, 17:00 UTC`` on the owner's pages."""
    return owner_words(parse_time(iso, "time")) if iso else ""


def _queue_form() -> dict | None:
    """The release form's waiting-line fields: all empty is no line; numbers go to shop.line.check_queue."""
    fields = ("starts_minutes_before", "admit_per_minute", "pass_minutes")
    raw = {f: (request.form.get(f"queue_{f}") or "").strip() for f in fields}
    if not any(raw.values()):
        return None
    return {f: int(v) if v.isdigit() else v for f, v in raw.items() if v}


@owner.post("/chapters/<chapter_id>/release")
@owner_required
def chapter_release(chapter_id: str):
    """The stock page's release form: opens/closes as ISO-8601 with a zone; "clear" removes the release."""
    shop = get_shop()
    if request.form.get("clear") == "1":
        body = {"opens_at": None, "closes_at": None}
    else:
        body = {k: (request.form.get(k) or "").strip() or None for k in ("opens_at", "closes_at")}
        body["queue"] = _queue_form()
    chapter = shop.releases.set(chapter_id, body)
    release = chapter["release"]
    if not (release["opens_at"] or release["closes_at"]):
        message = f"{chapter['name']} has no release: it is on sale while it has stock."
    else:
        message = f"{chapter['name']} is {release['state']}" + "".join(
            f"; {word} {owner_words(parse_time(release[field], field))}"
            for field, word in (("opens_at", "opens"), ("closes_at", "closes"))
            if release[field]
        )
    return _done(message + ".", url_for("owner.stock") + f"#{chapter_id}")


@owner.get("/drop")
@owner_required
def drop_running():
    """The Drop view of the running release (the chapter with a line that opened last, or opens next)."""
    chapter_id = get_shop().line.running()
    if chapter_id is None:
        return render_template("owner/drop.html", line=None)
    return redirect(url_for("owner.drop", chapter_id=chapter_id))


@owner.get("/drop/<chapter_id>")
@owner_required
def drop(chapter_id: str):
    """A chapter's line live: waiting, admitted, open checkouts, sold, sold out at, joins refused (reloads itself)."""
    return render_template("owner/drop.html", line=get_shop().line.watch(chapter_id))


@owner.post("/stock/<chapter_id>/initialize")
@owner_required
def stock_initialize(chapter_id: str):
    inventory = get_shop().inventory
    chapter = inventory.chapter(chapter_id)
    counts = {sku: _whole(request.form.get(f"qty:{sku}", "0") or "0", sku) for sku in chapter.skus}
    inventory.initialize(chapter_id, counts, note="Owner Mode")
    return _done(f"{chapter.name} is initialized: sales now take units off its stock.", url_for("owner.stock"))


@owner.post("/stock/<chapter_id>/set")
@owner_required
def stock_set(chapter_id: str):
    sku = request.form.get("sku", "")
    get_shop().inventory.set(chapter_id, {sku: _whole(request.form.get("on_hand", ""), sku)}, note="Owner Mode")
    return _done(f"{sku} set to {request.form.get('on_hand')}.", url_for("owner.stock") + f"#{chapter_id}")


@owner.post("/stock/<chapter_id>/adjust")
@owner_required
def stock_adjust(chapter_id: str):
    sku = request.form.get("sku", "")
    delta = _whole(request.form.get("delta", ""), sku, allow_negative=True)
    get_shop().inventory.adjust(chapter_id, {sku: delta}, note=request.form.get("note") or None)
    return _done(f"{sku}: {delta:+d}.", url_for("owner.stock") + f"#{chapter_id}")


@owner.get("/stock/<chapter_id>.csv")
@owner_required
def stock_csv(chapter_id: str):
    (chapter,) = get_shop().inventory.snapshot([chapter_id])
    out = io.StringIO()
    writer = csv.writer(out)
    write_row(writer, ["sku", "product", "size", "on_hand", "held", "available"])
    for row in chapter["skus"]:
        write_row(writer, [row["sku"], row["name"], row["size"], row["on_hand"], row["held"], row["available"]])
    return Response(
        out.getvalue(),
        mimetype="text/csv",
        headers={"Content-Disposition": f"attachment; filename={chapter_id}-stock.csv"},
    )


@owner.post("/stock/<chapter_id>/upload")
@owner_required
def stock_upload(chapter_id: str):
    """A CSV with columns sku,on_hand: sets those counts (or initializes the chapter with them)."""
    shop = get_shop()
    chapter = shop.inventory.chapter(chapter_id)
    upload = request.files.get("file")
    data = upload.read(CSV_MAX_BYTES + 1) if upload else b""
    if not data or len(data) > CSV_MAX_BYTES:
        raise BadRequest("choose a CSV file (at most 256 KiB) with the columns sku and on_hand")
    counts = read_stock_csv(data)
    initialized = shop.inventory.snapshot([chapter_id])[0]["initialized"]
    (shop.inventory.set if initialized else shop.inventory.initialize)(chapter_id, counts, note="CSV upload")
    return _done(
        f"{chapter.name}: {len(counts)} SKUs {'set' if initialized else 'initialized'} from the CSV.",
        url_for("owner.stock") + f"#{chapter_id}",
    )


_NOT_CSV_TEXT = "this file is not a CSV text file: export it as CSV (UTF-8) from your spreadsheet"
_SEPARATORS = (",", ";", "\t")  # a spreadsheet in a comma-decimal locale writes ';'


def _column(name: str | None) -> str:
    """'SKU', ' On Hand ', 'on-hand' -> 'sku', 'on_hand', 'on_hand'."""
    return "_".join((name or "").strip().lower().replace("-", " ").replace("_", " ").split())


def read_stock_csv(data: bytes) -> dict[str, int]:
    """The counts of a stock CSV: a header with sku and on_hand (any case and spacing), separated by , ; or tab.

    Raises BadRequest, in words for the owner: not a text file, no such header, a row that is not a whole
    number, or a SKU on two rows (refused, not silently the last one).
    """
    if b"\0" in data:
        raise BadRequest(_NOT_CSV_TEXT)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise BadRequest(_NOT_CSV_TEXT) from None
    header = text.lstrip("\r\n").split("\n", 1)[0]
    separator = max(_SEPARATORS, key=header.count)
    try:
        rows = list(csv.reader(io.StringIO(text), delimiter=separator))
    except csv.Error:
        raise BadRequest(_NOT_CSV_TEXT) from None
    numbered = [(n, row) for n, row in enumerate(rows, 1) if any(cell.strip() for cell in row)]
    columns = [_column(c) for c in numbered[0][1]] if numbered else []
    if "sku" not in columns or "on_hand" not in columns:
        found = ", ".join(c for c in columns if c) or "nothing"
        raise BadRequest(
            f"the CSV needs a header row with the columns sku and on_hand (found: {found}); "
            "separate the columns with commas or semicolons"
        )
    sku_at, count_at = columns.index("sku"), columns.index("on_hand")
    counts: dict[str, int] = {}
    rows_of: dict[str, list[int]] = {}
    for n, row in numbered[1:]:
        sku = row[sku_at].strip() if sku_at < len(row) else ""
        if not sku:
            continue
        value = row[count_at] if count_at < len(row) else ""
        counts[sku] = _whole(value, f"row {n} ({sku})")
        rows_of.setdefault(sku, []).append(n)
    twice = {sku: rows for sku, rows in rows_of.items() if len(rows) > 1}
    if twice:
        detail = "; ".join(f"{sku} on rows {', '.join(map(str, rows))}" for sku, rows in twice.items())
        raise BadRequest(f"a SKU is on more than one row ({detail}): keep one row per SKU and upload again")
    if not counts:
        raise BadRequest("the CSV has a header but no rows: add one row per SKU with its on_hand count")
    return counts


# -- orders ------------------------------------------------------------------


@owner.get("/orders")
@owner_required
def orders():
    shop = get_shop()
    status = request.args.get("status") or None
    query = (request.args.get("q") or "").strip()
    if query:
        found, next_cursor = shop.orders.search(query), None
    elif status == "attention":
        found, next_cursor = shop.orders.attention(limit=PAGE_SIZE, cursor=request.args.get("cursor") or None)
    else:
        found, next_cursor = shop.orders.page(status=status, limit=PAGE_SIZE, cursor=request.args.get("cursor") or None)
    return render_template(
        "owner/orders.html", orders=found, next_cursor=next_cursor, status=status, query=query, statuses=STATUSES
    )


@owner.get("/orders.csv")
@owner_required
def orders_csv():
    """Every order (of a status), streamed a page at a time: never built in memory."""
    shop = get_shop()
    status = request.args.get("status") or None
    pages = shop.orders.all(status=status)

    def rows():
        out = io.StringIO()
        writer = csv.writer(out)
        write_row(
            writer,
            [
                "id",
                "created_at",
                "status",
                "email",
                "name",
                "items",
                "amount_total",
                "currency",
                "amount_expected",
                "expected_currency",
                "shipping_name",
                "line1",
                "line2",
                "city",
                "postal_code",
                "state",
                "country",
                "tracking",
                "flags",
                "session_id",
                "payment_intent",
            ],
        )
        for o in pages:
            shipping = o["shipping"] or {}
            address = shipping.get("address") or {}
            write_row(
                writer,
                [
                    o["id"],
                    o["created_at"],
                    o["status"],
                    o["customer"]["email"],
                    o["customer"]["name"],
                    " ".join(f"{i['sku']}*{i['quantity']}" for i in o["items"]),
                    o["amount_total"],
                    o["currency"],  # what Stripe charged in: a USD payment says usd, whatever the shop's currency
                    o["amount_expected"],
                    o["expected_currency"],
                    shipping.get("name"),
                    *(address.get(k) for k in ("line1", "line2", "city", "postal_code", "state", "country")),
                    o["tracking"],
                    " ".join(o["flags"]),
                    o["stripe"]["session_id"],
                    o["stripe"]["payment_intent"],
                ],
            )
            yield out.getvalue()
            out.seek(0)
            out.truncate()

    return Response(
        stream_with_context(rows()),
        mimetype="text/csv",
        headers={"Content-Disposition": "attachment; filename=orders.csv"},
    )


@owner.get("/orders/<order_id>")
@owner_required
def order(order_id: str):
    shop = get_shop()
    found = shop.orders.get(order_id)
    live = (shop.store.last_event().get("livemode") == "true") or bool(
        shop.settings.stripe_secret_key and shop.settings.stripe_secret_key.startswith(("sk_live", "rk_live"))
    )
    moves = [s for s, sources in OWNER_TRANSITIONS.items() if found["status"] in sources]
    restockable = (
        {
            i["sku"]: i["quantity"] - found["restocked"].get(i["sku"], 0)
            for i in found["items"]
            if i.get("stock_tracked")
        }
        if found["status"] in ("refunded", "partially_refunded")
        else {}
    )
    return render_template(
        "owner/order.html",
        order=found,
        flag_help=FLAG_HELP,
        moves=moves,
        restockable={k: v for k, v in restockable.items() if v > 0},
        refundable=found["status"] in REFUNDABLE and bool(found["stripe"]["payment_intent"]),
        refund_left=(found["amount_total"] or 0) - (found.get("amount_refunded") or 0),
        refund_key=new_refund_key(),
        session_url=stripe_dashboard("session", found["stripe"]["session_id"], live),
        payment_url=stripe_dashboard("payment", found["stripe"]["payment_intent"], live),
    )


@owner.post("/orders/<order_id>/status")
@owner_required
def order_status(order_id: str):
    status = request.form.get("status", "")
    get_shop().orders.set_status(order_id, status, tracking=request.form.get("tracking") or None)
    return _done(f"Order {order_id} is {status}.", url_for("owner.order", order_id=order_id))


def _minor_units(value: str) -> int | None:
    """The refund form's amount, "45" or "45.50" in the shop's currency -> minor units; blank: all."""
    text = (value or "").strip().replace(",", ".")
    if not text:
        return None
    whole, _, cents = text.partition(".")
    if not whole.isdigit() or not (cents == "" or (cents.isdigit() and len(cents) <= 2)):
        raise BadRequest(f"amount: write it like 45 or 45.50, or leave it empty to refund everything, not {value!r}")
    return int(whole) * 100 + int((cents + "00")[:2])


@owner.post("/orders/<order_id>/refund")
@owner_required
def order_refund(order_id: str):
    """The refund form: one key per form shown, so a double click is one refund."""
    refund = get_shop().refunds.refund(
        order_id,
        _minor_units(request.form.get("amount", "")),
        request.form.get("restock") == "1",
        key=request.form.get("refund_key") or None,
    )
    return _done(
        f"Stripe created refund {refund['id']} ({refund['status']}). The order changes when Stripe confirms it"
        + (", and its units go back on sale then." if request.form.get("restock") == "1" else "."),
        url_for("owner.order", order_id=order_id),
    )


@owner.post("/orders/<order_id>/restock")
@owner_required
def order_restock(order_id: str):
    shop = get_shop()
    lines = {
        k.removeprefix("qty:"): _whole(v, k.removeprefix("qty:"))
        for k, v in request.form.items()
        if k.startswith("qty:") and v.strip() not in ("", "0")
    }
    shop.orders.restock(order_id, lines, shop.catalog)
    return _done(
        f"Restocked {sum(lines.values())} unit(s) of order {order_id}.", url_for("owner.order", order_id=order_id)
    )


# -- ledger and health -------------------------------------------------------


@owner.get("/ledger")
@owner_required
def ledger():
    shop = get_shop()
    sku = request.args.get("sku") or None
    reason = request.args.get("reason") or None
    entries, next_cursor = shop.inventory.ledger(
        sku=sku, reason=reason, limit=50, cursor=request.args.get("cursor") or None
    )
    return render_template(
        "owner/ledger.html",
        entries=entries,
        next_cursor=next_cursor,
        sku=sku,
        reason=reason,
        skus=list(shop.catalog.items),
    )


@owner.get("/health")
@owner_required
def health_page():
    with_stripe = request.args.get("stripe") == "1"
    return render_template(
        "owner/health.html", report=health.run_checks(get_shop(), stripe=with_stripe), with_stripe=with_stripe
    )


@owner.post("/stock/verify")
@owner_required
def stock_verify():
    """Replay the whole ledger against the counters, on request only; the result is stored for health and Today."""
    from shop import stock_audit

    shop = get_shop()
    result = stock_audit.verify(shop.inventory, shop.store)
    if result["ok"]:
        flash(f"Stock matches the ledger ({result['entries']} entries replayed).", "ok")
    else:
        flash(f"Stock differs from the ledger for {len(result['drift'])} count(s): see stock ledger below.", "error")
    return redirect(url_for("owner.health_page"))


@owner.post("/reconcile")
@owner_required
def reconcile_page():
    """Check Stripe for missed orders (and fulfil them when asked), through the webhook's own function."""
    from shop import reconcile

    window = request.form.get("since", "72h")
    try:
        seconds = reconcile.parse_window(window)
    except ValueError as e:
        raise BadRequest(str(e)) from None
    result = reconcile.reconcile(get_shop(), seconds, apply=request.form.get("apply") == "1")
    return render_template(
        "owner/reconcile.html", result=result, window=window, applied=request.form.get("apply") == "1"
    )


@owner.errorhandler(ShopError)
def owner_error(e: ShopError):
    """A refused action goes back to the page it came from with the reason, not to an error page."""
    if request.method == "POST" and e.status < 500:
        flash(e.message, "error")
        back = request.referrer if (request.referrer or "").startswith(request.host_url) else None
        return redirect(back or url_for("owner.dashboard"))
    return error_response(e.status, e.message)
