"""Answering the client at its redirect URI: query string or auto-submitted form (form_post).

Every answer carries ``iss`` (RFC 9207, mix-up defence) and echoes ``state``. form_post needs a
script to submit the form; it is a static file, so the CSP still forbids inline script, and the CSP's
form-action is widened to exactly the client's origin for that one page.
"""

from __future__ import annotations

from urllib.parse import urlencode, urlsplit

from flask import Response, current_app, make_response, redirect, render_template

from idp.web.security_headers import CSP


def to_client(redirect_uri: str, mode: str, state: str | None, **params: str) -> Response:
    values = {k: v for k, v in params.items() if v is not None}
    if state is not None:
        values["state"] = state
    values["iss"] = current_app.config["IDP_ISSUER"]
    if mode == "form_post":
        response = make_response(render_template("oidc/form_post.html", action=redirect_uri, values=values))
        parts = urlsplit(redirect_uri)
        origin = f"{parts.scheme}://{parts.netloc}"
        response.headers["Content-Security-Policy"] = CSP.replace("form-action 'self'", f"form-action {origin}")
        return response
    separator = "&" if urlsplit(redirect_uri).query else "?"
    return redirect(redirect_uri + separator + urlencode(values), code=302)
