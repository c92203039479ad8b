"""Driving our HTML forms over the Flask test client, as a browser would."""

from __future__ import annotations

import re

from flask.testing import FlaskClient
from werkzeug.test import TestResponse

_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def hidden_value(body: str, name: str) -> str | None:
    """The value of the form field ``name`` on the page (None when there is none)."""
    match = re.search(rf'name="{name}" value="([^"]*)"', body)
    return match.group(1) if match else None


def csrf_token_in(body: str) -> str:
    """The CSRF token a form page carries."""
    match = _CSRF.search(body)
    assert match, "no CSRF token on the page"
    return match.group(1)


def tampered(token: str) -> str:
    """``token`` with one character of its signature changed. Not the last one: in base64 it also
    carries padding bits, which decoding ignores, so changing it may leave the signature valid."""
    at = len(token) - 3
    return token[:at] + ("A" if token[at] != "A" else "B") + token[at + 1:]


def csrf_token(client: FlaskClient, path: str = "/login") -> str:
    return csrf_token_in(client.get(path).get_data(as_text=True))


def without_csrf_token(body: str) -> str:
    """The page with its CSRF token blanked, for comparing two pages.

    The token is signed with the second it was issued, so two requests that straddle a second
    carry different tokens on otherwise identical pages.
    """
    return _CSRF.sub('name="csrf_token" value=""', body)


def cookie_attributes(response: TestResponse) -> list[tuple[str, str]]:
    """The Set-Cookie headers with each cookie's value left out (every visitor has their own)."""
    return [(value.split("=")[0], value.split(";", 1)[1]) for value in response.headers.getlist("Set-Cookie")]


def assert_same_page(early: TestResponse, by_view: TestResponse) -> None:
    """A page answered past Flask's request cycle is the view's: status, headers, cookie attributes
    and text, but for what differs per visit (the CSRF token, and the interaction carried)."""
    assert early.status == by_view.status == "200 OK"
    assert [pair for pair in early.headers.to_wsgi_list() if pair[0] != "Set-Cookie"] == \
        [pair for pair in by_view.headers.to_wsgi_list() if pair[0] != "Set-Cookie"]
    assert cookie_attributes(early) == cookie_attributes(by_view)
    assert _comparable(early.text) == _comparable(by_view.text)


def assert_same_move(early: TestResponse, by_view: TestResponse) -> None:
    """A form post's redirect answered past Flask's request cycle is the view's: the same bodiless
    302, headers and cookie attributes, but for the Location and the cookies' values."""
    def others(response: TestResponse) -> list[tuple[str, str]]:
        return [pair for pair in response.headers.to_wsgi_list() if pair[0] not in ("Set-Cookie", "Location")]

    assert early.status == by_view.status == "302 FOUND"
    assert others(early) == others(by_view)
    assert cookie_attributes(early) == cookie_attributes(by_view)
    assert early.data == by_view.data == b""


def _comparable(page: str) -> str:
    uid = hidden_value(page, "interaction")
    return without_csrf_token(page.replace(uid, "UID") if uid else page)


def sign_in(client: FlaskClient, identifier: str, password: str, *, form_page: str = "/login",
            **extra: str) -> TestResponse:
    """Post the sign-in form, with a CSRF token taken from ``form_page``."""
    data = {"csrf_token": csrf_token(client, form_page), "identifier": identifier, "password": password, **extra}
    return client.post("/login", data=data)


def sign_out(client: FlaskClient) -> TestResponse:
    return client.post("/logout", data={"csrf_token": csrf_token(client, "/account")})
