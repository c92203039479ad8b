"""The authorization request a sign-in or second-factor page serves.

The page names it by its ``interaction`` parameter (in the query on GET, in a hidden field on
POST). It is looked up once per request: the page's template, its checks and the final answer to
the application all need it.
"""

from __future__ import annotations

from flask import request

from idp.oidc import flow
from idp.storage import reading

_KEY = "dangnhap.parked_interaction"


def parked_request() -> flow.Parked | None:
    """The live parked request this page serves; None when there is none, or it expired."""
    if _KEY not in request.environ:
        uid = request.values.get("interaction")
        with reading():  # only read here: the page's steps write in transactions of their own
            request.environ[_KEY] = flow.parked(uid) if uid else None
    return request.environ[_KEY]


def parked_uid() -> str | None:
    """The public id of that request, to carry to the next page."""
    found = parked_request()
    return found[0].uid if found is not None else None
