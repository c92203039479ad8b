"""The OAuth 2.0 / OpenID Connect protocol, on Authlib.

It never renders a sign-in form and never talks to an identity source: when the person must act, it
stores the request as an interaction and hands over to the portal, then resumes.
"""

from __future__ import annotations

from flask import Flask

from idp.web import csrf, prebuilt
from idp.web import errors as web_errors

from . import (
    backchannel,
    discovery,
    early_authorization,
    endpoints,
    grants,
    introspection,
    jwks,
    keys,
    logout,
    server,
    token_endpoints,
    userinfo,
)

# Paths whose clients are programs: their errors are JSON (RFC 6749 §5.2), never HTML pages.
API_PATHS = ("/token", "/userinfo", "/revoke", "/introspect", "/jwks", "/.well-known/")


def init_app(app: Flask) -> None:
    """Build this app's authorization server and register the protocol's endpoints."""
    server.init_app(app)
    logout.init_app(app)
    backchannel.init_app(app)
    # Relying parties post to these from their own pages (or servers): no CSRF token can exist.
    csrf.exempt(endpoints.bp)
    csrf.exempt(token_endpoints.bp)
    app.register_blueprint(endpoints.bp)
    app.register_blueprint(token_endpoints.bp)
    app.register_blueprint(jwks.bp)
    # Fetched constantly, changed rarely: sent again whole while the document is the same.
    for path in endpoints.METADATA_PATHS:
        prebuilt.serve(app, path, discovery.document)
    prebuilt.serve(app, jwks.PATH, keys.jwks_document)
    # Called by portals on every page, by resource servers and services on every call: the common
    # requests are answered past Flask's cycle.
    prebuilt.answer(app, "GET", "/userinfo", userinfo.answer_for_get)
    prebuilt.answer(app, "POST", "/introspect", introspection.answer_for_post)
    prebuilt.answer(app, "POST", "/token", grants.answer_token)
    # Every portal's first page sends a signed-in person to be answered with a code at once.
    prebuilt.redirect(app, "/authorize", early_authorization.location_for_get)
    web_errors.register_api_paths(app, API_PATHS)
