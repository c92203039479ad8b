"""Sign-in and sign-out pages: parse the form, call the sign-in flow, render what it decided."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

from flask import Flask, Request, current_app, make_response, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from werkzeug.datastructures import MultiDict
from werkzeug.routing import MapAdapter
from werkzeug.wrappers import Response

from idp.authn import login
from idp.oidc import flow, interactions, responses
from idp.oidc.endpoints import answer
from idp.web import app_request, client, prebuilt, sso_cookie

from . import bp
from .blank_forms import blank_form, early_blank_form
from .early_posts import checked_post
from .forms import IDENTIFIER_MAX, FormError, password_field, safe_next, text_field
from .parked import carried_uid, carried_uid_of, parked_in, parked_request, uid_of

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIEnvironment

_PAGE = "portal/login.html"
_EARLY_ATTEMPT = "dangnhap.early_sign_in"


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
    next_, interaction = safe_next(request.values.get("next")), carried_uid()
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
    interaction = carried_uid_of(environ, parked_in(environ, page_request.args.get("interaction")))
    return early_blank_form(app, page_request, _PAGE, next=safe_next(page_request.args.get("next")),
                            interaction=interaction)


@dataclass
class _EarlyAttempt:
    """What ``early_sign_in`` did before leaving the answer to the view: the sign-in's result, and
    once decided where the browser goes next."""

    result: login.Result
    step: str | flow.Decision | None = None


def _credentials(form: MultiDict[str, str] | None = None) -> tuple[str, str]:
    """The identifier and the password typed in (the request's form unless ``form``); FormError if
    either is missing or malformed."""
    return (text_field("identifier", max_length=IDENTIFIER_MAX, form=form), password_field("password", form=form))


def _attempt(environ: WSGIEnvironment, identifier: str, password: str, parked: flow.Parked | None,
             previous_token: str | None) -> login.Attempt:
    return login.Attempt(identifier=identifier, password=password, ip=client.ip_of(environ),
                         user_agent=client.user_agent_of(environ), previous_token=previous_token,
                         client=parked[2] if parked else None,
                         acr_values=tuple(parked[1].acr_values) if parked else ())


def _succeeded(result: login.Result) -> bool:
    return result.outcome in (login.Outcome.SIGNED_IN, login.Outcome.SECOND_FACTOR) and result.token is not None


def _next_step(result: login.Result, parked: flow.Parked | None, next_: str | None,
               urls: MapAdapter) -> str | flow.Decision:
    """Where a sign-in that succeeded sends the browser: the second factor's page, the application's
    answer (decided in this response, for the session just started), or ``next`` on this site (the
    account page by default)."""
    if result.outcome == login.Outcome.SECOND_FACTOR:
        return urls.build("portal.second_factor_page", {"interaction": uid_of(parked)})
    if parked is not None and result.session is not None:
        interactions.record_sign_in(parked[0], result.session.sid)
        return flow.resume(parked, result.session)
    return safe_next(next_) or urls.build("portal.account", {})


@bp.post("/login")
def login_submit() -> Response | tuple[str, int]:
    early: _EarlyAttempt | None = request.environ.get(_EARLY_ATTEMPT)
    try:
        identifier, password = _credentials()
    except FormError as error:
        message = (_("Please enter your personal identification number or e-mail and your password.")
                   if error.reason == "required" else _("The information entered is not valid."))
        return _form(error=message, status=400)
    parked = parked_request()
    result = early.result if early else login.sign_in(
        _attempt(request.environ, identifier, password, parked, sso_cookie.raw_token()))
    if not _succeeded(result):
        message, status = _messages(result)
        return _form(identifier=identifier, error=message, status=status)
    # A new form secret too: nothing tied to the anonymous visit survives the sign-in.
    session.pop("csrf_token", None)
    step = early.step if early and early.step else _next_step(
        result, parked, request.form.get("next"), app_request.url_adapter())
    response = responses.redirect(step) if isinstance(step, str) else make_response(answer(step))
    sso_cookie.set_cookie(response, cast(str, result.token))
    return response


def early_sign_in(environ: WSGIEnvironment) -> prebuilt.Moved | None:
    """POST /login answered past Flask's request cycle (``idp.web.prebuilt``) when the password is
    right and the browser goes on by a redirect: to the application with its code, to the second
    factor's page, or to ``next``; None leaves the request to the view.

    Every sign-in posts this form, and on the one core a worker has everything it costs besides the
    password's hash counts against the argon2id limit (bench/README.md): Flask's request cycle (its
    request context, hooks, response object, context locals) was about a quarter of it. The steps are
    the view's own, with the same values (``early_posts``: the same CSRF check, the form session's
    cookie as Flask saves it): the same fields, the same sign-in and next step, the same cookies (the
    SSO session's; the form session's, emptied). Whatever else is the view's: a CSRF failure or
    a malformed field (before anything is done), a browser that already has an SSO cookie, a query
    string, a body werkzeug reads otherwise; and, once the sign-in is done (``_EarlyAttempt``, so
    that it is done once), a refusal, whose page the view renders, or an answer that is a page.
    """
    post = checked_post(environ)
    if post is None or sso_cookie.cookie_name() in post.request.cookies:
        return None
    try:
        identifier, password = _credentials(post.form)
    except FormError:
        return None
    parked = parked_in(environ, post.form.get("interaction"))
    result = login.sign_in(_attempt(environ, identifier, password, parked, None))
    early = environ[_EARLY_ATTEMPT] = _EarlyAttempt(result)
    if not _succeeded(result):
        return None
    step = early.step = _next_step(result, parked, post.form.get("next"), post.urls())
    post.form_session.pop("csrf_token", None)
    return post.moved(step, lambda response: sso_cookie.set_cookie(response, cast(str, result.token)))
