"""Form posts answered past Flask's request cycle (``idp.web.prebuilt``'s moves): what the password's
post (``idp.portal.signin.early_sign_in``) and the code's (``idp.portal.second_factor``) share.

Each takes the view's steps with the same values; these are the steps around them. Before anything
is done, a post goes to the view unless Flask-WTF's check would let it through and its form is read
as werkzeug reads it. Once done, the answer is the redirect the view would send, with the cookies
its response would set: the page's own, and the form session's, saved by Flask's session interface.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from flask import Flask, Request, Response, current_app
from flask.sessions import SessionMixin
from werkzeug.datastructures import MultiDict
from werkzeug.routing import MapAdapter
from werkzeug.urls import iri_to_uri

from idp.oidc import flow, responses
from idp.web import app_request, prebuilt
from idp.web import form_session as form_session_

from .forms import posted_form

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIEnvironment


@dataclass(frozen=True)
class Post:
    """A form post the view would take: its request, its fields and its form session."""

    app: Flask
    request: Request
    form: MultiDict[str, str]
    form_session: SessionMixin

    def urls(self) -> MapAdapter:
        return app_request.url_adapter_of(self.request)

    def moved(self, step: str | flow.Decision,
              set_cookies: Callable[[Response], None] | None = None) -> prebuilt.Moved | None:
        """The view's bodiless 302 for ``step`` (a place on this site, or the application's answer),
        with the cookies ``set_cookies`` sets and the form session's; None when the view answers
        ``step`` with a page (an error page, ``form_post``)."""
        location = step if isinstance(step, str) else responses.location_of(step, self.urls)
        if location is None:
            return None
        response = self.app.response_class()
        if set_cookies is not None:
            set_cookies(response)
        self.app.session_interface.save_session(self.app, self.form_session, response)
        return prebuilt.Moved(iri_to_uri(location), response.headers.getlist("Set-Cookie"))


def checked_post(environ: WSGIEnvironment) -> Post | None:
    """The post, when the view would take it: no query string, a form werkzeug reads as
    ``forms.posted_form`` does, and the CSRF check Flask-WTF makes passed
    (``form_session.csrf_passed``). None leaves the request to the view, which then checks and
    answers."""
    if environ.get("QUERY_STRING"):
        return None
    form = posted_form(environ)
    if form is None:
        return None
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    page_request = app.request_class(environ)
    form_session = app.session_interface.open_session(app, page_request)
    if form_session is None or not form_session_.csrf_passed(app, page_request, form_session, form):
        return None
    return Post(app, page_request, form, form_session)
