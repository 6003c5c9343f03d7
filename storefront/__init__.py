"""Storefront pages (server-rendered)."""

from __future__ import annotations

from flask import Blueprint, render_template

from api import get_shop

storefront = Blueprint("storefront", __name__)


@storefront.get("/")
def home():
    shop = get_shop()
    return render_template("home.html", catalog=shop.catalog)
