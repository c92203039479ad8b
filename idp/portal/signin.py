"""Sign-in and sign-out pages: parse the form, call the sign-in flow, render what it decided."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from flask import Flask, Request, current_app, make_response, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from werkzeug.wrappers import Response

from idp.authn import login
from idp.oidc import flow, interactions
from idp.oidc.endpoints import answer
from idp.web import client, prebuilt, sso_cookie

from . import bp
from .blank_forms import blank_form, kept_blank_form
from .forms import IDENTIFIER_MAX, FormError, password_field, safe_next, text_field
from .parked import parked_in, parked_request, parked_uid, uid_of

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIEnvironment

_PAGE = "portal/login.html"


def _throttle_message(result: login.Result) -> str:
    verdict = result.throttle
    if verdict.reason == "locked":
        minutes = max(1, math.ceil(verdict.seconds / 60))
        return ngettext("Account temporarily locked, please try again in %(num)d minute.",
                        "Account temporarily locked, please try again in %(num)d minutes.", minutes)
    return ngettext("Too many attempts. Please wait %(num)d second and try again.",
                    "Too many attempts. Please wait %(num)d seconds and try again.", verdict.seconds)


def _messages(result: login.Result) -> tuple[str, int]:
    if result.outcome == login.Outcome.THROTTLED:
        return _throttle_message(result), 429
    if result.outcome == login.Outcome.ACCOUNT_LOCKED:
        return _("This account has been locked. Please contact support."), 403
    if result.outcome == login.Outcome.ACCOUNT_DISABLED:
        return _("This account has been disabled. Please contact support."), 403
    if result.outcome == login.Outcome.DIRECTORY_UNAVAILABLE:
        return _("The directory is temporarily unavailable, please try again shortly."), 503
    return _("Wrong personal identification number/e-mail or password."), 200


def _form(identifier: str = "", error: str | None = None, status: int = 200) -> tuple[str, int]:
    next_, interaction = safe_next(request.values.get("next")), parked_uid()
    if identifier or error:
        return render_template(_PAGE, identifier=identifier, error=error, next=next_,
                               interaction=interaction), status
    return blank_form(_PAGE, {"identifier": ""}, next=next_, interaction=interaction), status


@bp.get("/login")
def login_page() -> Response | tuple[str, int]:
    # Signed-in visitors skip the form, unless an application asked for a fresh sign-in.
    if sso_cookie.current() is not None and parked_request() is None:
        return redirect(safe_next(request.args.get("next")) or url_for("portal.account"))
    return _form(identifier=_login_hint(request))


def _login_hint(page_request: Request) -> str:
    return page_request.args.get("login_hint", "")[:IDENTIFIER_MAX]


def early_login_page(environ: WSGIEnvironment) -> prebuilt.Page | None:
    """GET /login answered past Flask's request cycle (``idp.web.prebuilt``) for a visitor without an
    SSO cookie, the blank form as ``login_page`` renders it; None leaves the request to the view.

    Every sign-in starts here, and on the one core a worker has, Flask's cycle (request and response
    objects, routing, hooks, the context locals) was half of this page's cost besides the template
    (bench/README.md). The page is the view's: the same skeleton, filled with the same values; the
    form session is opened and saved by Flask's own session interface, so its cookie is the one Flask
    would set. Whatever else (a signed-in visitor, a ``login_hint``) is the view's.
    """
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    page_request = app.request_class(environ)
    if _login_hint(page_request) or sso_cookie.cookie_name() in page_request.cookies:
        return None
    form_session = app.session_interface.open_session(app, page_request)
    if form_session is None:  # no secret key: the view answers as Flask does
        return None
    interaction = uid_of(parked_in(environ, page_request.args.get("interaction")))
    page = kept_blank_form(app, page_request, form_session, _PAGE,
                           next=safe_next(page_request.args.get("next")), interaction=interaction)
    if page is None:
        return None
    response = app.response_class()
    app.session_interface.save_session(app, form_session, response)
    return prebuilt.Page(page.encode(), response.headers.getlist("Set-Cookie"))


@bp.post("/login")
def login_submit() -> Response | tuple[str, int]:
    try:
        identifier = text_field("identifier", max_length=IDENTIFIER_MAX)
        password = password_field("password")
    except FormError as error:
        message = (_("Please enter your personal identification number or e-mail and your password.")
                   if error.reason == "required" else _("The information entered is not valid."))
        return _form(error=message, status=400)
    parked = parked_request()
    result = login.sign_in(login.Attempt(
        identifier=identifier, password=password, ip=client.ip(), user_agent=client.user_agent(),
        previous_token=sso_cookie.raw_token(), client=parked[2] if parked else None,
        acr_values=tuple(parked[1].acr_values) if parked else ()))
    if result.outcome not in (login.Outcome.SIGNED_IN, login.Outcome.SECOND_FACTOR) or result.token is None:
        message, status = _messages(result)
        return _form(identifier=identifier, error=message, status=status)
    # A new form secret too: nothing tied to the anonymous visit survives the sign-in.
    session.pop("csrf_token", None)
    if result.outcome == login.Outcome.SECOND_FACTOR:
        response = redirect(url_for("portal.second_factor_page", interaction=parked_uid()))
    elif parked is not None and result.session is not None:
        # The application is answered in this response, for the session just started.
        interactions.record_sign_in(parked[0], result.session.sid)
        response = make_response(answer(flow.resume(parked, result.session)))
    else:
        response = redirect(safe_next(request.form.get("next")) or url_for("portal.account"))
    sso_cookie.set_cookie(response, result.token)
    return response
