"""The app's requests read their cookies from the WSGI environ directly (``idp.web.cookies``): the
cookies are exactly those werkzeug's own request finds, and the views see them."""

from __future__ import annotations

import flask
import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import EnvironBuilder

from idp import i18n
from idp.web import cookies

HEADERS = {"User-Agent": "Mozilla/5.0", "Accept-Language": "vi,en;q=0.8", "X-Forwarded-For": "10.0.0.1"}


@pytest.mark.parametrize("header", [
    None,
    "",
    "dn_sso=abc; session=eyJ4Ijp7fX0.sig; lang=vi",
    'a=1; a=2; quoted="x y\\"z"; spaced = v ; empty=; =nameless; flag',
    "tên=Thanh Hóa".encode().decode("latin-1"),  # non-ASCII as a WSGI server hands it over (PEP 3333)
])
def test_the_cookies_are_those_werkzeug_finds(header: str | None) -> None:
    headers = {**HEADERS, **({"Cookie": header} if header is not None else {})}
    environ = EnvironBuilder(path="/authorize", headers=headers).get_environ()
    ours, werkzeugs = cookies.Request(environ).cookies, flask.Request(environ).cookies
    assert list(ours.items(multi=True)) == list(werkzeugs.items(multi=True))
    assert type(ours) is type(werkzeugs)


def test_the_views_see_the_cookies(app: Flask, client: FlaskClient) -> None:
    """The language cookie chooses the page's language (``i18n``), read through the app's request."""
    assert app.request_class is cookies.Request
    assert '<html lang="vi"' in client.get("/login").text
    client.set_cookie(i18n.LANG_COOKIE, "en")
    assert '<html lang="en"' in client.get("/login").text
