"""The signed-in person's own page."""

from __future__ import annotations

from flask import redirect, render_template, url_for
from werkzeug.wrappers import Response

from idp.web import sso_cookie

from . import bp


@bp.get("/")
def home() -> Response:
    return redirect(url_for("portal.account" if sso_cookie.current() else "portal.login_page"))


@bp.get("/account")
def account() -> Response | str:
    current = sso_cookie.current()
    if current is None:
        return redirect(url_for("portal.login_page", next=url_for("portal.account")))
    return render_template("portal/account.html", subject=current.subject, sso=current)
