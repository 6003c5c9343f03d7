"""Storefront pages (server-rendered): home, and the pages Stripe Checkout returns to."""

from __future__ import annotations

import re

from flask import Blueprint, render_template, request

from api import get_shop
from shop.errors import BadRequest, PaymentProviderError
from shop.orders import order_json

storefront = Blueprint("storefront", __name__)

_SESSION_ID = re.compile(r"^cs_[A-Za-z0-9_]{1,250}$")


@storefront.get("/")
def home():
    shop = get_shop()
    return render_template("home.html", catalog=shop.catalog)


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
        if not e.details.get("retryable"):
            raise
        # Stripe is slow or down: the webhook will fulfil; show what the store knows.
    order_id = shop.store.order_for_session(session_id)
    record = shop.store.get_order(order_id) if order_id else None
    order = order_json(record) if record else None
    if order and order["status"] == "awaiting_payment":
        processing = True
    return render_template("checkout_success.html", order=order, processing=processing, catalog=shop.catalog)


@storefront.get("/checkout/cancel")
def checkout_cancel():
    """The shopper left Stripe without paying: expire the session and release the hold."""
    order_id = request.args.get("order_id", "")
    result = get_shop().checkout.cancel(order_id)
    return render_template("checkout_cancel.html", result=result)
