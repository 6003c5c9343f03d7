"""Storefront pages (server-rendered): chapters, products with live sizes, cart, and the checkout returns."""

from __future__ import annotations

import re

from flask import Blueprint, abort, redirect, render_template, request, url_for

from shop import releases
from shop.errors import BadRequest, NotFound, PaymentProviderError
from shop.orders import order_json
from shop.shoppers import COOKIE, MAX_AGE
from shop.web import get_shop

storefront = Blueprint("storefront", __name__)

_SESSION_ID = re.compile(r"^cs_[A-Za-z0-9_]{1,250}$")


def money(amount: int | None, currency: str, *, code: bool = False) -> str:
    """4500, "eur" -> "€45.00"; with ``code`` (amounts in two currencies side by side) -> "EUR 45.00"."""
    symbols = {"eur": "€", "gbp": "£", "usd": "$", "chf": "CHF "}
    value = f"{(amount or 0) / 100:,.2f}"
    if code:
        return f"{currency.upper()} {value}"
    return f"{symbols.get(currency, currency.upper() + ' ')}{value}"


@storefront.app_context_processor
def shop_context():
    """Every page's header lists the chapters."""
    shop = get_shop()
    # The countdown runs on the shop's clock, not the shopper's device clock (which may be off by minutes).
    return {"catalog": shop.catalog, "server_now_ms": lambda: int(shop.inventory.clock() * 1000)}


@storefront.after_request
def shopper_cookie(response):
    """Every storefront HTML page gives a shopper without a valid cookie a new one (SPEC section 7).

    First-party, HttpOnly, SameSite=Lax and signed with SECRET_KEY: a checkout names its shopper
    with it, and no page can read or forge it.
    """
    if response.mimetype == "text/html":
        shop = get_shop()
        if shop.shoppers.read(request.cookies.get(COOKIE)) is None:
            _, value = shop.shoppers.new()
            response.set_cookie(
                COOKIE,
                value,
                max_age=MAX_AGE,
                httponly=True,
                samesite="Lax",
                secure=shop.settings.production,
                path="/",
            )
    return response


@storefront.app_template_filter("shopper_time")
def shopper_time(iso: str | None) -> str:
    """The text inside a ``<time>`` before the page's script writes it in the shopper's own zone."""
    return releases.owner_words(releases.parse_time(iso, "time")) if iso else ""


@storefront.app_template_filter("money")
def money_filter(amount, currency=None, code=False):
    return money(amount, currency or get_shop().catalog.currency, code=code)


def size_states(shop, product, stock: dict) -> list[dict]:
    """Each size of a product with what a shopper may do: buy, only N left, sold out, not on sale yet.

    ``stock`` is the product's chapter as the inventory shows it, with its ``release``. Before the
    chapter opens a size with stock is shown as it will be, with its control disabled (``opens``: the
    page's script enables it when the countdown ends); after it closes, none is buyable.
    """
    skus = [product.sku(s) for s in product.sizes]
    release = stock["release"]
    available = {row["sku"]: row["available"] for row in stock["skus"]}
    threshold = shop.settings.low_stock_threshold
    states = []
    for size, sku in zip(product.sizes, skus, strict=True):
        n = available.get(sku)
        if n is None:
            state, label = "soon", "coming soon"
        elif n == 0:
            state, label = "sold_out", "sold out"
        elif n <= threshold:
            state, label = "low", f"only {n} left"
        else:
            state, label = "in_stock", ""
        in_stock = state in ("in_stock", "low")
        states.append(
            {
                "size": size,
                "sku": sku,
                "available": n,
                "state": state,
                "label": label,
                "buyable": in_stock and release["state"] == "open",
                "opens": in_stock and release["state"] == "scheduled",
            }
        )
    return states


def cart_catalog(shop) -> dict:
    """What the cart script needs to show lines and totals: names, sizes, prices from the catalog."""
    limits = shop.catalog.limits
    return {
        "currency": shop.catalog.currency,
        "items": {
            sku: {
                "name": i.name,
                "size": i.size,
                "price": i.price,
                "product": i.product,
                # a per-customer limit: the cart asks for the email
                **({"limit": limits[i.product]} if i.product in limits else {}),
            }
            for sku, i in shop.catalog.items.items()
        },
    }


def line_runs(shop, release: dict) -> bool:
    """Whether a chapter's waiting line takes shoppers now: from opens_at - starts_minutes_before until it closes."""
    queue = release.get("queue")
    if not queue or not release.get("opens_at") or release["state"] == "closed":
        return False
    starts = releases.parse_time(release["opens_at"], "opens_at") - queue["starts_minutes_before"] * 60_000
    return shop.inventory.now_ms() >= starts


def found_or_404(found):
    """The chapter or product a page shows; a 404 page where the catalog has none by the id in the address."""
    if found is None:
        abort(404)
    return found


def into_the_line(shop, chapter_id: str, release: dict):
    """A redirect to the chapter's line page while its line runs and this shopper holds no valid pass, else None."""
    if not line_runs(shop, release):
        return None
    from shop.line import PASS_COOKIE

    shopper_id = shop.shoppers.read(request.cookies.get(COOKIE))
    state = shop.line_cookies.read_pass(
        request.cookies.get(PASS_COOKIE + chapter_id), shopper_id, chapter_id, shop.inventory.now_ms()
    )
    if state == "ok":
        return None
    return redirect(url_for("storefront.line_page", chapter_id=chapter_id, next=request.path))


@storefront.get("/line/<chapter_id>")
def line_page(chapter_id: str):
    """The waiting line: a calm page whose script joins the line and follows the place (static/line.js)."""
    shop = get_shop()
    found = found_or_404(shop.catalog.chapter(chapter_id))
    back = request.args.get("next", "")
    if not (back.startswith("/chapters/") or back.startswith("/products/")) or "//" in back:
        back = url_for("storefront.chapter", chapter_id=found.id)
    release = shop.releases.get(found.id)
    return render_template("line.html", chapter=found, release=release, back=back, runs=line_runs(shop, release))


@storefront.get("/")
def home():
    return render_template("home.html", releases=get_shop().releases.all())


@storefront.get("/chapters/<chapter_id>")
def chapter(chapter_id: str):
    shop = get_shop()
    found = found_or_404(shop.catalog.chapter(chapter_id))
    release = shop.releases.get(found.id)
    return into_the_line(shop, found.id, release) or render_template("chapter.html", chapter=found, release=release)


@storefront.get("/products/<product_id>")
def product(product_id: str):
    shop = get_shop()
    found = found_or_404(shop.catalog.product(product_id))
    stock = shop.inventory.snapshot([found.chapter])[0]  # the sizes' stock and the chapter's release
    release = stock["release"]
    waiting = into_the_line(shop, found.chapter, release)
    if waiting:
        return waiting
    sizes = size_states(shop, found, stock)
    return render_template(
        "product.html",
        product=found,
        chapter=shop.catalog.chapter(found.chapter),
        sizes=sizes,
        release=release,
        any_buyable=any(s["buyable"] for s in sizes),
        any_opens=any(s["opens"] for s in sizes),
        limit_words=releases.limit_words(found.name, found.limit) if found.limit else None,
    )


@storefront.get("/cart")
def cart():
    shop = get_shop()
    return render_template(
        "cart.html", cart_catalog=cart_catalog(shop), hold_minutes=shop.settings.checkout_hold_minutes
    )


@storefront.get("/checkout/success")
def checkout_success():
    """Stripe sends the shopper here after paying. Fulfil now if the webhook has not yet."""
    session_id = request.args.get("session_id", "")
    if not _SESSION_ID.match(session_id):
        raise BadRequest("this page needs the session_id Stripe adds to the address; open the link from Stripe again")
    shop = get_shop()
    processing = False
    try:
        session = shop.gateway.retrieve_session(session_id)
        if session.get("status") == "complete":
            shop.fulfillment.fulfil_session(session, source="success_page")
        processing = session.get("payment_status") == "unpaid"
    except PaymentProviderError as e:
        stripe_status = getattr(e.__cause__, "http_status", None) or 0
        if 400 <= stripe_status < 500 and stripe_status not in (401, 403, 429):
            # Stripe does not know this session: the shopper's link is wrong, not the shop.
            if not shop.store.order_for_session(session_id):
                raise NotFound(
                    "we could not find this checkout: open the link from your confirmation email, "
                    "or go back to the shop"
                ) from None
        elif not e.details.get("retryable"):
            raise
        # Stripe is slow or down: the webhook will fulfil; show what the store knows.
    order_id = shop.store.order_for_session(session_id)
    record = shop.store.get_order(order_id) if order_id else None
    order = order_json(record) if record else None
    if order and order["status"] == "awaiting_payment":
        processing = True
    return render_template("checkout_success.html", order=order, processing=processing)


@storefront.get("/checkout/cancel")
def checkout_cancel():
    """The shopper left Stripe without paying: expire the session and release the hold."""
    order_id = request.args.get("order_id", "")
    result = get_shop().checkout.cancel(order_id)
    return render_template("checkout_cancel.html", result=result)
