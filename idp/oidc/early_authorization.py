"""GET /authorize decided past Flask's request cycle (``idp.web.prebuilt``).

Every portal sends a signed-in person here on its first page, and the answer is usually a code from
the SSO session at once: a redirect. Flask's request cycle (request and response objects, routing,
hooks, werkzeug's redirect with its body and its IRI conversions) was ≈ 40% of such a request's
cost in process (bench/README.md). The decision itself is the view's (``flow.authorize``, with the
same parameters and SSO session); a redirect to the client in the query response mode is answered
here, and so is a redirect to the page where the person acts (the sign-in form that starts every
new visitor's sign-in): both are the view's bodiless 302, whose headers are the same. Any other
decision (an error page, form_post) is left in the environ for the view, which answers it without
deciding again: what was written (an interaction, a code) is written once.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask import current_app

from idp.web import app_request, sso_cookie

from . import flow, responses

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIEnvironment

_DECIDED = "dangnhap.authorization_decision"


def location_for_get(environ: WSGIEnvironment) -> str | None:
    """Where to redirect the browser when the decision is an answer to the client in the query
    response mode (a code, or an error) or the person's interaction; else None, the decision kept
    for the view (``decided``)."""
    decision = flow.authorize(app_request.query_of(environ), sso_cookie.record_in(environ))
    location = responses.location_of(decision, lambda: app_request.url_adapter_of(current_app.request_class(environ)))
    if location is None:
        environ[_DECIDED] = decision
    return location


def decided(environ: WSGIEnvironment) -> flow.Decision | None:
    """The decision taken for this request past Flask's cycle and left to the view, if any."""
    return environ.pop(_DECIDED, None)
