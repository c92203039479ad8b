"""Second-factor pages: the code from the authenticator app, a recovery code, or enrolling one.

Reached after a right password when the policy asks for a second factor (the session then owes it),
or later when an application needs more than a password (step-up). On success the browser goes back
to the authorization request it came from, or to the account page.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import quote

from flask import Flask, current_app, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from werkzeug.routing import MapAdapter
from werkzeug.wrappers import Response

from idp.authn import login, second_factor, sso
from idp.mfa import NoPendingEnrolment, Outcome, VerifyResult, WrongCode, totp
from idp.oidc import flow, interactions, responses
from idp.oidc.endpoints import answer
from idp.storage.sessions import SessionRecord
from idp.web import app_request, client, prebuilt, sso_cookie

from . import bp, early_posts
from .blank_forms import blank_form, early_blank_form
from .forms import FormError, text_field
from .parked import carried_uid, carried_uid_of, parked_in, parked_request, parked_uid

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIEnvironment

CODE_MAX = 32
_PAGE = "portal/second_factor.html"
_EARLY_CHECK = "dangnhap.early_second_factor"


def _session() -> SessionRecord | None:
    """The browser's session, complete or owing its second factor, as plain values: the pages change
    it by statements of their own (``idp.authn.second_factor``)."""
    return sso_cookie.record_including_pending_in(request.environ)


def _to_sign_in() -> Response:
    return redirect(url_for("portal.login_page", interaction=parked_uid()))


def _next_step(session: SessionRecord, parked: flow.Parked | None, urls: MapAdapter) -> str | flow.Decision:
    """Where to go once the factor is passed: the application's answer (decided in this response,
    for the session just completed), or the account page."""
    if parked is None:
        return urls.build("portal.account", {})
    complete = session if session.pending_factor is None else None
    if complete is not None:
        interactions.record_sign_in(parked[0], complete.sid)
    return flow.resume(parked, complete)


def _done(session: SessionRecord, step: str | flow.Decision | None = None) -> Response | tuple[str, int]:
    """The answer for the next step (``step`` when it was decided past Flask's cycle)."""
    if step is None:
        step = _next_step(session, parked_request(), app_request.url_adapter())
    return responses.redirect(step) if isinstance(step, str) else answer(step)


def _error(result: VerifyResult) -> tuple[str, int]:
    if result.outcome == Outcome.LOCKED:
        minutes = max(1, math.ceil(result.seconds / 60))
        return ngettext("Too many wrong codes. Please try again in %(num)d minute.",
                        "Too many wrong codes. Please try again in %(num)d minutes.", minutes), 429
    return _("The verification code is not correct."), 200


def _code_page(error: str | None = None, status: int = 200) -> tuple[str, int]:
    if error:
        return render_template(_PAGE, error=error, interaction=carried_uid()), status
    return blank_form(_PAGE, {}, interaction=carried_uid()), status


def _enrolled(record: SessionRecord) -> bool:
    """Whether the person has an authenticator, as read with the session when it was."""
    return record.enrolment.enrolled if record.enrolment is not None else totp.is_enrolled(record.subject)


def _asks_for_a_code(record: SessionRecord) -> bool:
    """Whether the session's page is the code form: the person has an authenticator, and the session
    does not owe an enrolment instead."""
    return record.pending_factor != login.FACTOR_ENROL and _enrolled(record)


@bp.get("/login/second-factor")
def second_factor_page() -> Response | tuple[str, int]:
    record = _session()
    if record is None:
        return _to_sign_in()
    if not _asks_for_a_code(record):
        return redirect(url_for("portal.enrol_page", interaction=parked_uid()))
    return _code_page()


def early_second_factor_page(environ: WSGIEnvironment) -> prebuilt.Page | None:
    """GET /login/second-factor answered past Flask's request cycle (``idp.web.prebuilt``) for a
    session that asks for a code: the blank form as ``second_factor_page`` renders it; None leaves the
    request to the view (no session, an enrolment owed, no skeleton yet, a failure).

    Every sign-in with a second factor (every official's) shows this page once. Its cost was the
    session loaded as an ORM row with a second query for the enrolment, now one plain read, and
    Flask's request cycle around a page from a skeleton (bench/README.md). As for the sign-in form
    (``idp.portal.signin.early_login_page``), the page is the view's skeleton filled with the same
    values, and the form session's cookie the one Flask sets.
    """
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    record = sso_cookie.record_including_pending_in(environ)
    if record is None or not _asks_for_a_code(record):
        return None
    page_request = app.request_class(environ)
    interaction = carried_uid_of(environ, parked_in(environ, page_request.args.get("interaction")))
    return early_blank_form(app, page_request, _PAGE, interaction=interaction)


@dataclass
class _EarlyCheck:
    """What ``early_second_factor`` did before leaving the answer to the view: the code's result, the
    session as it then was, and once decided where the browser goes next."""

    result: VerifyResult
    session: SessionRecord
    step: str | flow.Decision | None = None


@bp.post("/login/second-factor")
def second_factor_submit() -> Response | tuple[str, int]:
    early: _EarlyCheck | None = request.environ.get(_EARLY_CHECK)
    session = _session()
    if session is None:
        return _to_sign_in()
    use_recovery = request.form.get("method") == "recovery"
    try:
        code = text_field("recovery_code" if use_recovery else "code", max_length=CODE_MAX)
    except FormError:
        return _code_page(_("Please enter the code."), 400)
    check = second_factor.with_recovery_code if use_recovery else second_factor.with_code
    try:
        result, session = (early.result, early.session) if early else check(session, code, client.ip())
    except sso.SessionEnded:
        return _to_sign_in()
    if not result.ok:
        return _code_page(*_error(result))
    if use_recovery and result.remaining is not None:
        return render_template("portal/recovery_code_used.html", remaining=result.remaining, interaction=parked_uid())
    return _done(session, early.step if early else None)


def early_second_factor(environ: WSGIEnvironment) -> prebuilt.Moved | None:
    """POST /login/second-factor answered past Flask's request cycle (``idp.web.prebuilt``) when the
    authenticator's code is right and the browser goes on by a redirect: to the application with its
    code, or to the account page; None leaves the request to the view.

    Every official's sign-in posts this form. The steps are the view's own, with the same values
    (``early_posts``: the same CSRF check, the same form session's cookie). Whatever else is the
    view's: a recovery code, a session that is gone, a malformed field (before anything is done);
    and, once the code is checked (``_EarlyCheck``, so that it is checked once), a refusal, whose
    page the view renders, or an answer that is a page.
    """
    post = early_posts.checked_post(environ)
    if post is None or post.form.get("method") == "recovery":
        return None
    session = sso_cookie.record_including_pending_in(environ)
    if session is None:
        return None
    try:
        code = text_field("code", max_length=CODE_MAX, form=post.form)
    except FormError:
        return None
    result, session = second_factor.with_code(session, code, client.ip_of(environ))
    early = environ[_EARLY_CHECK] = _EarlyCheck(result, session)
    if not result.ok:
        return None
    early.step = _next_step(session, parked_in(environ, post.form.get("interaction")), post.urls())
    return post.moved(early.step)


@bp.get("/login/second-factor/continue")
def second_factor_continue() -> Response | tuple[str, int]:
    session = _session()
    if session is None:
        return redirect(url_for("portal.login_page"))
    return _done(session)


def _enrol_page(session: SessionRecord, error: str | None = None, status: int = 200) -> tuple[str, int]:
    enrolment = totp.start_enrolment(session.subject, second_factor.account_label(session))
    return render_template("portal/enrol.html", enrolment=enrolment, error=error, interaction=parked_uid()), status


def _may_enrol() -> SessionRecord | Response:
    """Enrolling here is only for someone with no authenticator yet: otherwise a password alone could
    replace the authenticator and walk past the second factor (a new one is set up from the account
    page, after passing the current one)."""
    session = _session()
    if session is None:
        return _to_sign_in()
    if _enrolled(session):
        return redirect(url_for("portal.second_factor_page", interaction=parked_uid()))
    return session


@bp.get("/login/enrol")
def enrol_page() -> Response | tuple[str, int]:
    session = _may_enrol()
    if isinstance(session, Response):
        return session
    return _enrol_page(session)


@bp.post("/login/enrol")
def enrol_submit() -> Response | tuple[str, int]:
    session = _may_enrol()
    if isinstance(session, Response):
        return session
    try:
        codes = second_factor.enrol(session, text_field("code", max_length=CODE_MAX), client.ip())
    except sso.SessionEnded:
        return _to_sign_in()
    except (FormError, WrongCode):
        return _enrol_page(session, _("The verification code is not correct. Scan the new QR code and try again."))
    except NoPendingEnrolment:
        return _enrol_page(session, _("The set-up expired. Scan the new QR code and try again."))
    text = "\n".join(codes) + "\n"
    return render_template("portal/recovery_codes.html", codes=codes, interaction=parked_uid(),
                           download="data:text/plain;charset=utf-8," + quote(text))
