"""Login with OWNER_PASSWORD: a signed session cookie, CSRF tokens, and a per-address login limit."""

from __future__ import annotations

import functools
import hmac
import secrets

from flask import abort, flash, redirect, render_template, request, session, url_for

from api.owner import password_matches
from owner import owner
from shop.web import client_address, get_shop

LOGIN_ATTEMPTS = 5
LOGIN_WINDOW_SECONDS = 60


def csrf_token() -> str:
    if "csrf" not in session:
        session["csrf"] = secrets.token_urlsafe(32)
    return session["csrf"]


@owner.app_context_processor
def inject_csrf():
    return {"csrf_token": csrf_token}


def check_csrf() -> None:
    sent = request.form.get("csrf_token", "")
    if not sent or not hmac.compare_digest(sent, session.get("csrf", "")):
        abort(400, "this form is out of date or came from another site: reload the page and try again")


def owner_required(view):
    """Pages redirect to the login; actions (POST) without a login are refused with 401."""

    @functools.wraps(view)
    def wrapped(*args, **kwargs):
        if not session.get("owner"):
            if request.method == "GET":
                return redirect(url_for("owner.login", next=request.full_path if request.args else request.path))
            abort(401, "log in to Owner Mode first")
        if request.method == "POST":
            check_csrf()
        return view(*args, **kwargs)

    return wrapped


def _safe_next(target: str | None) -> str:
    if target and target.startswith("/owner") and not target.startswith("//"):
        return target
    return url_for("owner.dashboard")


@owner.route("/login", methods=["GET", "POST"])
def login():
    shop = get_shop()
    if not shop.settings.owner_password:
        return render_template("owner/login.html", closed=True), 503
    if request.method == "POST":
        check_csrf()
        allowed, wait = shop.store.hit_rate_limit(f"login:{client_address()}", LOGIN_ATTEMPTS, LOGIN_WINDOW_SECONDS)
        if not allowed:
            flash(f"Too many attempts. Wait {wait} seconds, then try again.", "error")
            return render_template("owner/login.html"), 429
        if password_matches(request.form.get("password", ""), shop.settings.owner_password):
            session.clear()
            session["owner"] = True
            session.permanent = False
            csrf_token()
            return redirect(_safe_next(request.args.get("next")))
        flash("That password is not right.", "error")
        return render_template("owner/login.html"), 401
    return render_template("owner/login.html")


@owner.post("/logout")
def logout():
    if session.get("owner"):
        check_csrf()
    session.clear()
    flash("You are logged out.", "ok")
    return redirect(url_for("owner.login"))
