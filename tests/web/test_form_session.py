"""The form session and its CSRF token are Flask's and Flask-WTF's own formats, signed without
itsdangerous' compression attempt: what either writes, the other reads."""

from __future__ import annotations

import re

from flask import Flask, session
from flask.sessions import SecureCookieSessionInterface
from flask.testing import FlaskClient
from flask_wtf.csrf import generate_csrf, validate_csrf
from itsdangerous import URLSafeTimedSerializer

from idp.web import form_session
from tests.conftest import DEFAULT_PASSWORD
from tests.helpers.forms import sign_in


def _session_cookie(client: FlaskClient, app: Flask) -> str:
    cookie = client.get_cookie(app.config["SESSION_COOKIE_NAME"])
    assert cookie is not None
    return cookie.value


def test_the_pages_token_is_flask_wtfs_own(app: Flask, client: FlaskClient) -> None:
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert token is not None
    cookie = _session_cookie(client, app)
    stored = SecureCookieSessionInterface().get_signing_serializer(app).loads(cookie)  # type: ignore[union-attr]
    # The session cookie and the token are read by the standard serializers, uncompressed.
    assert not cookie.startswith(".") and not token.group(1).startswith(".")
    standard = URLSafeTimedSerializer(app.secret_key, salt="wtf-csrf-token")  # type: ignore[arg-type]
    assert standard.loads(token.group(1)) == stored["csrf_token"]
    with app.app_context(), app.test_request_context():
        session["csrf_token"] = stored["csrf_token"]
        validate_csrf(token.group(1))  # Flask-WTF's check, which form posts go through


def test_one_token_per_request_whichever_generator_asks_first(app: Flask) -> None:
    # Each in an app context of its own, as every request has (the token is kept in ``g``).
    with app.app_context(), app.test_request_context():
        ours = form_session.csrf_token()
        assert generate_csrf() == ours == form_session.csrf_token()
    with app.app_context(), app.test_request_context():
        theirs = generate_csrf()
        assert form_session.csrf_token() == theirs
        validate_csrf(theirs)


def test_a_session_cookie_flask_compressed_is_still_read(app: Flask, client: FlaskClient, make_citizen) -> None:
    """Cookies written before (Flask compresses what gets shorter) still carry their form's token."""
    citizen = make_citizen()
    client.get("/login")
    raw = SecureCookieSessionInterface().get_signing_serializer(app).loads(_session_cookie(client, app))  # type: ignore[union-attr]
    padded = {**raw, "padding": "x" * 200}  # long enough for zlib to win
    compressed = SecureCookieSessionInterface().get_signing_serializer(app).dumps(padded)  # type: ignore[union-attr]
    assert compressed.startswith(".")
    client.set_cookie(app.config["SESSION_COOKIE_NAME"], compressed)
    assert sign_in(client, citizen.id_number, DEFAULT_PASSWORD).status_code == 302
