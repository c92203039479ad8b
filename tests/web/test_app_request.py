"""The app's requests read their cookies and query string from the WSGI environ directly
(``idp.web.app_request``): the cookies are exactly those werkzeug's own request finds, the query's
parameters too but for bytes that are not UTF-8, and the views see them."""

from __future__ import annotations

from urllib.parse import urlencode

import flask
import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import EnvironBuilder

from idp import i18n
from idp.web import app_request

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
    ours, werkzeugs = app_request.Request(environ).cookies, flask.Request(environ).cookies
    assert list(ours.items(multi=True)) == list(werkzeugs.items(multi=True))
    assert type(ours) is type(werkzeugs)


def test_the_views_see_the_cookies(app: Flask, client: FlaskClient) -> None:
    """The language cookie chooses the page's language (``i18n``), read through the app's request."""
    assert app.request_class is app_request.Request
    assert '<html lang="vi"' in client.get("/login").text
    client.set_cookie(i18n.LANG_COOKIE, "en")
    assert '<html lang="en"' in client.get("/login").text


@pytest.mark.parametrize("query", [
    "",
    "a=1&a=2&b=&c",
    "scope=openid+profile&state=%C3%A9t%C3%A9",
    "x=%ZZ&y=%",
    "v=%FF%FE",
    "k=v;w=x",
    urlencode({"state": "tỉnh Thanh Hóa"}),
])
def test_the_query_is_read_as_werkzeug_reads_it(query: str) -> None:
    environ = EnvironBuilder(path="/authorize", query_string=query).get_environ()
    werkzeugs = flask.Request(environ)
    for read in (app_request.Request(environ).args, app_request.query_of(environ)):
        assert list(read.items(multi=True)) == list(werkzeugs.args.items(multi=True))
        assert type(read) is type(werkzeugs.args)
    assert app_request.Request(environ).full_path == werkzeugs.full_path


# Bytes as a WSGI server hands them over (PEP 3333: latin-1), not percent-encoded, and not UTF-8.
RAW = "client_id=\xff\xfe&ui_locales=\xe9n"


def test_bytes_that_are_not_utf8_become_replacement_characters() -> None:
    environ = EnvironBuilder(path="/authorize").get_environ()
    environ["QUERY_STRING"] = RAW
    assert app_request.query_of(environ).to_dict() == {"client_id": "\ufffd\ufffd", "ui_locales": "\ufffdn"}
    assert app_request.Request(environ).full_path == "/authorize?client_id=\ufffd\ufffd&ui_locales=\ufffdn"


@pytest.mark.parametrize(("path", "status"), [
    ("/authorize", 400),  # no such client: the error page, never a redirect
    ("/login", 200),
    ("/no-such-page", 404),
])
def test_such_a_query_gets_the_pages_own_answer(client: FlaskClient, path: str, status: int) -> None:
    response = client.get(path, environ_overrides={"QUERY_STRING": RAW})
    assert response.status_code == status and '<html lang="vi"' in response.text
