"""Login with OWNER_PASSWORD: a signed session cookie that can end, CSRF tokens, and the credential limit
shared with the owner API (shop.owner_access)."""

from __future__ import annotations

import functools
import hmac
import logging
import secrets

from flask import abort, flash, g, make_response, redirect, render_template, request, session, url_for

from owner import owner
from shop.owner_access import TooManyAttempts
from shop.web import client_address, get_owner_access, get_shop

log = logging.getLogger("shop.owner")


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
    """Pages redirect to the login; actions (POST) without a valid session are refused with 401.

    A session is valid while its generation is the store's (logout bumps it), OWNER_PASSWORD is the one
    it logged in with, and it is neither 12 hours idle nor 7 days old (shop.owner_access). A POST is
    judged whole before it runs. A page (GET changes nothing) is judged on the cookie alone first, runs,
    and is judged on the generation before anything of it is sent: a page whose own pipeline read the
    generation (Today) needs no round trip of its own for it.
    """

    @functools.wraps(view)
    def wrapped(*args, **kwargs):
        access = get_owner_access()
        if request.method != "GET":
            ended = access.session_ended(session, owner_generation)
            if ended:
                _end(ended)
                abort(401, "your Owner Mode session has ended: log in again")
            access.touch(session)
            check_csrf()
            return view(*args, **kwargs)
        ended = access.session_ended(session, None)
        if ended:
            return _end(ended)
        try:
            response = view(*args, **kwargs)
        except Exception:
            # An error page (an unknown order, say) is owner content too: only for a live session.
            ended = access.session_ended(session, owner_generation)
            if ended:
                return _end(ended)
            raise
        ended = access.session_ended(session, owner_generation)
        if ended:
            return _end(ended)
        access.touch(session)
        return response

    return wrapped


def _end(why: str):
    """Forget an ended session; a page request goes to the login."""
    if session.get("owner"):
        log.info("owner session ended (%s) for %s on %s %s", why, client_address(), request.method, request.path)
        session.clear()
    return redirect(url_for("owner.login", next=request.full_path if request.args else request.path))


def owner_generation() -> int:
    """The store's session generation, read once per request (or taken from a page's own pipeline)."""
    if "owner_generation" not in g:
        g.owner_generation = get_shop().store.owner_generation()
    return g.owner_generation


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
        password = request.form.get("password", "")
        if not password:
            flash("Enter the owner password.", "error")
            return render_template("owner/login.html"), 401
        try:
            attempt = get_owner_access().try_credential(password, client_address(), request.path)
        except TooManyAttempts as e:
            flash(f"Too many attempts. Wait {e.details['retry_after']} seconds, then try again.", "error")
            response = make_response(render_template("owner/login.html"), 429)
            response.headers["Retry-After"] = str(e.details["retry_after"])
            return response
        if attempt.verdict == "ok":
            session.clear()
            get_owner_access().start_session(session, attempt.generation)
            session.permanent = False
            csrf_token()
            return redirect(_safe_next(request.args.get("next")))
        flash("That password is not right.", "error")
        return render_template("owner/login.html"), 401
    return render_template("owner/login.html")


@owner.post("/logout")
def logout():
    """End this session and every copy of it (the store's generation moves on)."""
    if session.get("owner"):
        check_csrf()
        if not get_owner_access().session_ended(session, owner_generation):  # an ended copy cannot end others
            get_owner_access().end_sessions()
    session.clear()
    flash("You are logged out.", "ok")
    return redirect(url_for("owner.login"))
