"""GET /login is answered past Flask's request cycle (``idp.portal.signin.early_login_page``) for a
visitor without an SSO session: the same page, headers and form-session cookie as the view's, a form
that signs in; anything else is the view's."""

from __future__ import annotations

from urllib.parse import quote

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.exc import OperationalError
from werkzeug.test import TestResponse

from idp import i18n
from idp.oidc import flow
from idp.web import prebuilt, sso_cookie
from tests.helpers.forms import (
    assert_same_page,
    cookie_attributes,
    csrf_token_in,
    hidden_value,
    sign_in,
)
from tests.helpers.oidc import authorize_params, interaction_uid, register_client

HOSTILE_NEXT = "/x?a=\"><script>alert('1')</script>&b=<&c=\x00csrf_token\x00"


def _visit(app: Flask, query: str = "", cookie: tuple[str, str] | None = None) -> TestResponse:
    """GET /login by a new visitor (a browser with no cookies but ``cookie``, a name and a value)."""
    browser = app.test_client()
    if cookie is not None:
        browser.set_cookie(*cookie)
    return browser.get("/login" + query)


@pytest.mark.parametrize("language", ["vi", "en"])
@pytest.mark.parametrize("query", ["", "?next=/account", "?next=" + quote(HOSTILE_NEXT, safe=""),
                                   "?ui_locales=en%20vi", "?interaction=gone-or-never-was"])
def test_a_new_visitors_page_is_the_views_own(app: Flask, through_flask: list[str], language: str,
                                             query: str) -> None:
    cookie = (i18n.LANG_COOKIE, language)
    by_view, early = _visit(app, query, cookie), _visit(app, query, cookie)
    assert through_flask == ["/login"]  # the second never reached Flask
    assert_same_page(early, by_view)
    assert [name for name, _ in cookie_attributes(early)] == [app.config["SESSION_COOKIE_NAME"]]
    assert csrf_token_in(early.text) != csrf_token_in(by_view.text)
    assert "<script>" not in early.text
    assert f'<html lang="{"en" if "ui_locales" in query else language}"' in early.text


def test_its_form_signs_in(app: Flask, through_flask: list[str], make_citizen) -> None:  # type: ignore[no-untyped-def]
    citizen = make_citizen()
    _visit(app)
    _visit(app, "?next=/account?tab=1")
    assert through_flask == ["/login", "/login"]  # the first with a ``next`` was the view's: its skeleton
    browser = app.test_client()
    page = browser.get("/login?next=/account?tab=1")
    assert through_flask == ["/login", "/login"]
    answer = browser.post("/login", data={"csrf_token": csrf_token_in(page.text), "identifier": citizen.id_number,
                                          "password": citizen.password, "next": hidden_value(page.text, "next")})
    assert answer.status_code == 302 and answer.headers["Location"] == "/account?tab=1"


def test_a_returning_visitor_keeps_their_form_session(app: Flask, through_flask: list[str]) -> None:
    browser = app.test_client()
    first = browser.get("/login")
    again = browser.get("/login")
    assert through_flask == ["/login"]
    assert first.headers.getlist("Set-Cookie") and not again.headers.getlist("Set-Cookie")  # as Flask: unchanged
    forged = _visit(app, cookie=(app.config["SESSION_COOKIE_NAME"], "forged.value.sig"))
    assert forged.headers["Set-Cookie"].startswith(app.config["SESSION_COOKIE_NAME"] + "=ey")  # a new session
    assert through_flask == ["/login"]


def test_the_carried_interaction_is_the_parked_requests(app: Flask, through_flask: list[str],
                                                        make_citizen) -> None:  # type: ignore[no-untyped-def]
    citizen, rp = make_citizen(), register_client()
    uids = []
    for browser in (app.test_client(), app.test_client()):
        location = browser.get("/authorize", query_string=authorize_params(rp)).headers["Location"]
        page = browser.get(location)
        uids.append(interaction_uid(location))
        assert hidden_value(page.text, "interaction") == uids[-1]
    assert through_flask.count("/login") == 1
    answer = sign_in(browser, citizen.id_number, citizen.password, interaction=uids[-1], form_page=location)
    assert answer.status_code == 302 and answer.headers["Location"].startswith(f"/interaction/{uids[-1]}")  # consent


@pytest.mark.parametrize("query", ["?login_hint=0380900001", "?login_hint=someone&next=/account"])
def test_a_login_hint_is_the_views(app: Flask, through_flask: list[str], query: str) -> None:
    _visit(app)
    for _ in range(2):
        assert 'value="' + query.split("=")[1].split("&")[0] + '"' in _visit(app, query).text
    assert through_flask == ["/login"] * 3


def test_a_signed_in_visitor_is_the_views(app: Flask, client: FlaskClient, through_flask: list[str],
                                          make_citizen) -> None:  # type: ignore[no-untyped-def]
    citizen = make_citizen()
    _visit(app)
    assert sign_in(client, citizen.id_number, citizen.password).status_code == 302
    through_flask.clear()
    assert client.get("/login").headers["Location"] == "/account"
    assert through_flask == ["/login"]
    # An SSO cookie the server no longer knows: the view's page too.
    with app.app_context():
        stale = _visit(app, cookie=(sso_cookie.cookie_name(), "no-such-session"))
    assert stale.status_code == 200 and through_flask == ["/login"] * 2


def test_a_failure_while_asking_goes_to_the_view(app: Flask, through_flask: list[str],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    _visit(app, "?interaction=x")

    def database_down(uid: str) -> None:
        raise OperationalError("SELECT", {}, Exception("connection refused"))

    monkeypatch.setattr(flow, "parked", database_down)
    assert _visit(app, "?interaction=x").status_code == 500  # the view's own error page
    monkeypatch.undo()
    assert _visit(app, "?interaction=x").status_code == 200
    assert through_flask == ["/login"] * 2


def test_a_page_that_set_no_cookie_is_not_kept(app: Flask) -> None:
    browser = app.test_client()
    browser.get("/login")
    middleware = app.extensions[prebuilt.EXTENSION]
    middleware._kept.clear()
    browser.get("/login")  # a returning visitor: the view sets no cookie, so where cookies go is unknown
    assert ("GET", "/login") not in middleware._kept
    _visit(app)
    assert ("GET", "/login") in middleware._kept
