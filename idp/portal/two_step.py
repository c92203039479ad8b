"""Two-step verification on the account page: turn it on, replace the authenticator, new recovery
codes, turn it off. Every change here needs a session that already passed a second factor when the
account has one (its sign-in required it), and CSRF-checked posts."""

from __future__ import annotations

from urllib.parse import quote

from flask import redirect, render_template, url_for
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from idp.authn import second_factor
from idp.mfa import NoPendingEnrolment, NotAllowed, NotEnrolled, WrongCode, recovery_codes, totp
from idp.storage.sessions import SsoSession
from idp.web import client, sso_cookie

from . import bp
from .account import account_page
from .forms import FormError, text_field


def _session() -> SsoSession | Response:
    """The complete session, which must have passed the second factor if the account has one."""
    session = sso_cookie.current()
    if session is None:
        return redirect(url_for("portal.login_page", next=url_for("portal.account")))
    if totp.is_enrolled(session.subject) and "mfa" not in session.amr.split():
        return redirect(url_for("portal.second_factor_page"))
    return session


def _codes_page(codes: list[str]) -> str:
    return render_template("portal/recovery_codes.html", codes=codes, interaction=None,
                           download="data:text/plain;charset=utf-8," + quote("\n".join(codes) + "\n"),
                           continue_url=url_for("portal.account"))


def _setup_page(session: SsoSession, error: str | None = None) -> str:
    enrolment = totp.start_enrolment(session.subject, second_factor.account_label(session))
    return render_template("portal/enrol.html", enrolment=enrolment, error=error, interaction=None,
                           action=url_for("portal.two_step_setup_submit"))


@bp.get("/account/two-step/setup")
def two_step_setup() -> Response | str:
    session = _session()
    return session if isinstance(session, Response) else _setup_page(session)


@bp.post("/account/two-step/setup")
def two_step_setup_submit() -> Response | str:
    session = _session()
    if isinstance(session, Response):
        return session
    try:
        codes = totp.confirm_enrolment(session.subject, text_field("code", max_length=32), ip=client.ip())
    except (FormError, WrongCode):
        return _setup_page(session, _("The verification code is not correct. Scan the new QR code and try again."))
    except NoPendingEnrolment:
        return _setup_page(session, _("The set-up expired. Scan the new QR code and try again."))
    return _codes_page(codes)


@bp.post("/account/two-step/recovery-codes")
def two_step_new_recovery_codes() -> Response | str:
    session = _session()
    if isinstance(session, Response):
        return session
    try:
        return _codes_page(recovery_codes.regenerate(session.subject, ip=client.ip()))
    except NotEnrolled:
        return redirect(url_for("portal.account"))


@bp.post("/account/two-step/disable")
def two_step_disable() -> Response | tuple[str, int]:
    session = _session()
    if isinstance(session, Response):
        return session
    try:
        result = totp.disable(session.subject, text_field("code", max_length=32), ip=client.ip())
    except FormError:
        return _account_error(session, _("Please enter the code."))
    except NotAllowed:
        return _account_error(session, _("Your account requires two-step verification; it cannot be turned off."))
    if not result.ok:
        return _account_error(session, _("The verification code is not correct."))
    return redirect(url_for("portal.account"))


def _account_error(session: SsoSession, message: str) -> tuple[str, int]:
    return account_page(session, error=message), 400
