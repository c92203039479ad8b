"""The authorization request a sign-in or second-factor page serves.

The page names it by its ``interaction`` parameter (in the query on GET, in a hidden field on
POST). It is looked up once per request: the page's template, its checks and the final answer to
the application all need it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask import request

from idp.oidc import flow
from idp.storage import reading
from idp.web.security_headers import let_forms_go_to

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIEnvironment

_KEY = "dangnhap.parked_interaction"


def parked_request() -> flow.Parked | None:
    """The live parked request this page serves; None when there is none, or it expired."""
    environ = request.environ
    # Looked up once: the form's value is only read the first time.
    return environ[_KEY] if _KEY in environ else parked_in(environ, request.values.get("interaction"))  # type: ignore[no-any-return]


def parked_in(environ: WSGIEnvironment, uid: str | None) -> flow.Parked | None:
    """``parked_request`` of the request ``environ`` naming ``uid``; in an app context, so also for
    the sign-in and second-factor pages answered past Flask's request cycle (``idp.portal.signin``,
    ``idp.portal.second_factor``)."""
    if _KEY not in environ:
        with reading():  # only read here: the page's steps write in transactions of their own
            environ[_KEY] = flow.parked(uid) if uid else None
    return environ[_KEY]  # type: ignore[no-any-return]


def parked_uid() -> str | None:
    """The public id of that request, to carry to the next page."""
    return uid_of(parked_request())


def uid_of(found: flow.Parked | None) -> str | None:
    return found[0].uid if found is not None else None


def carried_uid() -> str | None:
    """``parked_uid`` for a page whose form carries it to the next step: that form may then be
    answered by a redirect to the application (its code, or its error), so the page lets its forms go
    to the request's redirect URI (``security_headers.let_forms_go_to``)."""
    return carried_uid_of(request.environ, parked_request())


def carried_uid_of(environ: WSGIEnvironment, found: flow.Parked | None) -> str | None:
    """``carried_uid`` of a page answered past Flask's request cycle."""
    if found is None:
        return None
    let_forms_go_to(environ, found[1].redirect_uri)
    return found[0].uid
