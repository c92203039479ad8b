"""The SSO session cookie: reading the current session once per request, setting and clearing it.

The cookie is HttpOnly, SameSite=Lax (it must travel on the top-level redirects of the authorization
flow), Secure with the ``__Host-`` prefix whenever the issuer is https, and a browser-session cookie:
the server-side row decides how long the session really lives.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask import Response, current_app, request

from idp.authn import sso
from idp.storage import transaction, utcnow
from idp.storage.sessions import SessionRecord, SsoSession

from . import app_request

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIEnvironment

_CACHE_KEY = "dangnhap.sso_session"
_RECORD_KEY = "dangnhap.sso_session_record"


def cookie_name() -> str:
    return "__Host-dn_sso" if current_app.config["IDP_COOKIE_SECURE"] else "dn_sso"


def raw_token() -> str | None:
    return request.cookies.get(cookie_name())


def current_record() -> SessionRecord | None:
    """The live, complete SSO session of this browser as plain values (none while a second factor is
    owed), for what only reads it: the authorization endpoint and the interaction's pages."""
    return record_in(request.environ)


def record_in(environ: WSGIEnvironment) -> SessionRecord | None:
    """``current_record`` of the request ``environ``; in an app context, so also past Flask's request
    cycle (``idp.oidc.early_authorization``), which leaves what it found to the view."""
    found = record_including_pending_in(environ)
    return found if found is not None and found.pending_factor is None else None


def record_including_pending_in(environ: WSGIEnvironment) -> SessionRecord | None:
    """The live SSO session of the request ``environ`` as plain values, complete or not: for the
    second factor's pages (``idp.portal.second_factor``), which complete it by statements of their own
    (``idp.authn.second_factor``); in an app context.

    Looked up at most once per request; a page that has loaded (and maybe changed) the session row
    gets that row's values instead."""
    if _CACHE_KEY in environ:
        row = environ[_CACHE_KEY]
        return SessionRecord.of(row) if row is not None else None
    if _RECORD_KEY not in environ:
        token = app_request.cookies_of(environ).get(cookie_name())
        environ[_RECORD_KEY] = sso.look_up(token, utcnow()) if token else None
    return environ[_RECORD_KEY]  # type: ignore[no-any-return]


def current() -> SsoSession | None:
    """The live, complete SSO session row of this browser (none while a second factor is owed), for
    the pages that change or end it."""
    row = current_including_pending()
    return row if row is not None and row.pending_factor is None else None


def current_including_pending() -> SsoSession | None:
    """The live SSO session of this browser, complete or not, looked up at most once per request."""
    if _CACHE_KEY not in request.environ:
        _look_up(raw_token())
    return request.environ[_CACHE_KEY]


def _look_up(token: str | None) -> None:
    found = None
    if token:
        with transaction():
            found = sso.resume(token, utcnow())
    request.environ[_CACHE_KEY] = found


def set_cookie(response: Response, token: str) -> None:
    response.set_cookie(cookie_name(), token, httponly=True, samesite="Lax", path="/",
                        secure=current_app.config["IDP_COOKIE_SECURE"])


def clear_cookie(response: Response) -> None:
    response.delete_cookie(cookie_name(), path="/", httponly=True, samesite="Lax",
                           secure=current_app.config["IDP_COOKIE_SECURE"])
