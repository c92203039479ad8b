"""Driving our HTML forms over the Flask test client, as a browser would."""

from __future__ import annotations

import re

from flask.testing import FlaskClient
from werkzeug.test import TestResponse

_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_token(client: FlaskClient, path: str = "/login") -> str:
    page = client.get(path)
    match = _CSRF.search(page.get_data(as_text=True))
    assert match, f"no CSRF token on {path}"
    return match.group(1)


def sign_in(client: FlaskClient, identifier: str, password: str, *, form_page: str = "/login",
            **extra: str) -> TestResponse:
    """Post the sign-in form, with a CSRF token taken from ``form_page``."""
    data = {"csrf_token": csrf_token(client, form_page), "identifier": identifier, "password": password, **extra}
    return client.post("/login", data=data)


def sign_out(client: FlaskClient) -> TestResponse:
    return client.post("/logout", data={"csrf_token": csrf_token(client, "/account")})
