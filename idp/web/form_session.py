"""Flask's signed-cookie session (it carries the CSRF token of our forms), without its per-request cost.

Flask builds a new itsdangerous serializer for every request, whether or not the request carries a
session cookie; on the protocol endpoints (token, userinfo, JWKS), which never have one, that was
the largest single cost of request set-up. Here the serializer is built once per app and key set,
and not at all for a request without the cookie. Behaviour is otherwise Flask's own.
"""

from __future__ import annotations

from flask import Flask, Request
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface
from itsdangerous import URLSafeTimedSerializer

_EXTENSION = "dangnhap.session_serializer"


class FormSessionInterface(SecureCookieSessionInterface):
    def get_signing_serializer(self, app: Flask) -> URLSafeTimedSerializer | None:
        keys = (app.secret_key, tuple(app.config["SECRET_KEY_FALLBACKS"] or ()))
        cached = app.extensions.get(_EXTENSION)
        if cached is None or cached[0] != keys:
            # Serializers keep no per-call state: one can serve every thread.
            cached = app.extensions[_EXTENSION] = (keys, super().get_signing_serializer(app))
        return cached[1]

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        # Without any Cookie header (the protocol endpoints), werkzeug's cookie parsing is skipped too.
        if app.secret_key and ("HTTP_COOKIE" not in request.environ
                               or not request.cookies.get(self.get_cookie_name(app))):
            return self.session_class()
        return super().open_session(app, request)


def init_app(app: Flask) -> None:
    app.session_interface = FormSessionInterface()
