"""The signed-in person's own page."""

from __future__ import annotations

from flask import redirect, render_template, url_for
from werkzeug.wrappers import Response

from idp.mfa import policy as mfa_policy
from idp.mfa import recovery_codes, totp
from idp.storage.sessions import SsoSession
from idp.web import sso_cookie

from . import bp


@bp.get("/")
def home() -> Response:
    return redirect(url_for("portal.account" if sso_cookie.current() else "portal.login_page"))


def account_page(session: SsoSession, error: str | None = None) -> str:
    subject = session.subject
    enrolled = totp.is_enrolled(subject)
    return render_template("portal/account.html", subject=subject, sso=session, error=error,
                           two_step_on=enrolled, two_step_required=mfa_policy.always_required(subject),
                           recovery_codes_left=recovery_codes.remaining(subject) if enrolled else 0)


@bp.get("/account")
def account() -> Response | str:
    current = sso_cookie.current()
    if current is None:
        return redirect(url_for("portal.login_page", next=url_for("portal.account")))
    return account_page(current)
