"""POST /login is answered past Flask's request cycle (``idp.portal.signin.early_sign_in``) when the
password is right and the browser goes on by a redirect: the view's status, headers and cookies, the
sign-in done once; anything else (a refusal, a CSRF or form error, a signed-in browser, an answer that
is a page) is the view's."""

from __future__ import annotations

import io
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import pytest
from flask import Flask, request, request_started
from flask.testing import FlaskClient
from sqlalchemy.exc import OperationalError
from werkzeug.test import TestResponse

from idp.oidc import flow
from idp.storage import audit_events
from idp.web import sso_cookie
from tests.conftest import make_app
from tests.helpers.forms import assert_same_move, cookie_attributes, csrf_token_in, hidden_value, tampered
from tests.helpers.oidc import (
    REDIRECT_URI,
    authorize_params,
    exchange,
    register_client,
    sign_in_recorded_failing_once,
)
from tests.portal.test_second_factor import enrolled


def _form_page(app: Flask, location: str = "/login") -> tuple[FlaskClient, str]:
    """A new browser on the sign-in form: the browser and the page."""
    browser = app.test_client()
    return browser, browser.get(location).text


def _post(browser: FlaskClient, page: str, citizen: Any, password: str | None = None, **extra: str) -> TestResponse:
    data = {"csrf_token": csrf_token_in(page), "identifier": citizen.id_number,
            "password": password or citizen.password, **extra}
    if (uid := hidden_value(page, "interaction")) is not None:
        data["interaction"] = uid
    return browser.post("/login", data=data)


def _signs_in(app: Flask, citizen: Any, location: str = "/login", **extra: str) -> tuple[FlaskClient, TestResponse]:
    browser, page = _form_page(app, location)
    return browser, _post(browser, page, citizen, **extra)


def _after_a_kept_sign_in(app: Flask, through_flask: list[str], citizen: Any) -> tuple[FlaskClient, str]:
    """A new browser on the sign-in form, once the view has answered a sign-in (which is then kept)
    and with ``through_flask`` emptied."""
    _signs_in(app, citizen)
    through_flask.clear()
    return _form_page(app)


def _sign_in_form_of(app: Flask, rp: Any, **params: str) -> str:
    """Where a new visitor's authorization request for ``rp`` sends them: the sign-in form, with the
    parked interaction."""
    return app.test_client().get("/authorize", query_string=authorize_params(rp, **params)).headers["Location"]


def _events(kind: str) -> int:
    return sum(event.event == kind for event in audit_events.recent())


@pytest.mark.parametrize(("next_", "location"), [
    (None, "/account"),
    ("/account?tab=1", "/account?tab=1"),
    ("https://evil.example/", "/account"),
    ("/account?q=Thanh Hóa", "/account?q=Thanh%20H%C3%B3a"),
])
def test_a_right_password_is_answered_past_flask(app: Flask, through_flask: list[str], make_citizen,  # type: ignore[no-untyped-def]
                                                 next_: str | None, location: str) -> None:
    citizen = make_citizen()
    extra = {"next": next_} if next_ else {}
    first_browser, by_view = _signs_in(app, citizen, **extra)
    through_flask.clear()
    browser, early = _signs_in(app, citizen, **extra)
    assert through_flask == []  # neither the form nor the password reached Flask
    assert_same_move(early, by_view)
    assert early.headers["Location"] == by_view.headers["Location"] == location
    sso = sso_cookie.cookie_name()
    assert [name for name, _ in cookie_attributes(early)] == [sso, app.config["SESSION_COOKIE_NAME"]]
    assert browser.get_cookie(sso).value != first_browser.get_cookie(sso).value  # type: ignore[union-attr]
    assert browser.get_cookie(app.config["SESSION_COOKIE_NAME"]) is None  # the anonymous form session is gone
    assert browser.get("/account").status_code == 200
    assert _events("login.success") == 2


def test_an_authorization_gets_its_code_in_the_same_response(app: Flask, through_flask: list[str],
                                                             make_citizen) -> None:  # type: ignore[no-untyped-def]
    citizen, rp = make_citizen(), register_client(skip_consent=True)
    by_view, early = (_signs_in(app, citizen, _sign_in_form_of(app, rp))[1] for _ in range(2))
    assert through_flask == ["/authorize", "/login", "/login"]  # the first authorization's, all three
    assert_same_move(early, by_view)
    params = parse_qs(urlsplit(early.headers["Location"]).query)
    assert early.headers["Location"].startswith(REDIRECT_URI + "?")
    assert sorted(params) == sorted(parse_qs(urlsplit(by_view.headers["Location"]).query)) == ["code", "iss", "state"]
    tokens = exchange(app.test_client(), rp, params["code"][0])
    assert tokens.status_code == 200 and "id_token" in tokens.json


def test_consent_and_the_second_factor_are_redirects_too(app: Flask, through_flask: list[str],
                                                         make_citizen) -> None:  # type: ignore[no-untyped-def]
    citizen, rp = make_citizen(), register_client()
    _signs_in(app, citizen)  # the view's, kept
    _form_page(app, _sign_in_form_of(app, rp))  # the view's: the form's skeleton with an interaction
    through_flask.clear()
    _browser, to_consent = _signs_in(app, citizen, _sign_in_form_of(app, rp))
    assert to_consent.headers["Location"].startswith("/interaction/")
    enrolled(citizen.subject)
    _browser, to_code = _signs_in(app, citizen)
    assert to_code.status_code == 302 and to_code.headers["Location"] == "/login/second-factor"
    assert [name for name, _ in cookie_attributes(to_code)][0] == sso_cookie.cookie_name()
    assert "/login" not in through_flask
    assert _events("login.password_ok") == 1


def test_a_refusal_is_the_views_page_and_counted_once(app: Flask, through_flask: list[str],
                                                       make_citizen) -> None:  # type: ignore[no-untyped-def]
    citizen = make_citizen()
    browser, page = _after_a_kept_sign_in(app, through_flask, citizen)
    refused = _post(browser, page, citizen, password="not-the-password")
    assert refused.status_code == 200 and f'value="{citizen.id_number}"' in refused.text  # the form, to try again
    assert through_flask == ["/login"]  # the view rendered what the early attempt found
    assert _events("login.failure") == 1 and _events("login.success") == 1
    assert browser.get_cookie(sso_cookie.cookie_name()) is None


@pytest.mark.parametrize("tamper", ["missing", "wrong", "another browser's"])
def test_a_csrf_failure_is_the_views_and_signs_nobody_in(app: Flask, through_flask: list[str], make_citizen,  # type: ignore[no-untyped-def]
                                                         tamper: str) -> None:
    citizen = make_citizen()
    browser, page = _after_a_kept_sign_in(app, through_flask, citizen)
    tokens = {"missing": "", "wrong": tampered(csrf_token_in(page)),
              "another browser's": csrf_token_in(_form_page(app)[1])}
    answer = browser.post("/login", data={"csrf_token": tokens[tamper], "identifier": citizen.id_number,
                                          "password": citizen.password})
    assert answer.status_code == 400 and through_flask == ["/login"]
    assert _events("login.success") == 1 and browser.get_cookie(sso_cookie.cookie_name()) is None


@pytest.mark.parametrize("form", [
    {"identifier": "\x00"}, {"password": ""}, {"identifier": "x" * 300},
])
def test_a_malformed_field_is_the_views(app: Flask, through_flask: list[str], make_citizen,  # type: ignore[no-untyped-def]
                                        form: dict[str, str]) -> None:
    citizen = make_citizen()
    browser, page = _after_a_kept_sign_in(app, through_flask, citizen)
    data = {"csrf_token": csrf_token_in(page), "identifier": citizen.id_number, "password": citizen.password, **form}
    assert browser.post("/login", data=data).status_code == 400
    assert through_flask == ["/login"] and _events("login.failure") == 0


def test_a_body_werkzeug_reads_otherwise_is_the_views(app: Flask, through_flask: list[str],
                                                      make_citizen) -> None:  # type: ignore[no-untyped-def]
    citizen = make_citizen()
    browser, page = _after_a_kept_sign_in(app, through_flask, citizen)
    token = quote(csrf_token_in(page), safe="")
    not_utf8 = f"csrf_token={token}&identifier={citizen.id_number}&password=".encode() + b"\xff\xfe"
    answer = browser.post("/login", data=not_utf8, content_type="application/x-www-form-urlencoded")
    assert answer.status_code == 400 and through_flask == ["/login"]  # werkzeug reads no form: no token
    multipart = browser.post("/login", data={"csrf_token": csrf_token_in(page), "identifier": citizen.id_number,
                                             "password": citizen.password, "file": (io.BytesIO(b""), "empty.txt")})
    assert multipart.status_code == 302 and through_flask == ["/login"] * 2


def test_a_signed_in_browser_and_a_query_string_are_the_views(app: Flask, through_flask: list[str],
                                                             make_citizen) -> None:  # type: ignore[no-untyped-def]
    citizen = make_citizen()
    browser, first = _signs_in(app, citizen)
    old = browser.get_cookie(sso_cookie.cookie_name()).value  # type: ignore[union-attr]
    through_flask.clear()
    again = _post(browser, browser.get("/account").text, citizen)  # a form of the account page: its token
    assert again.status_code == 302 and browser.get_cookie(sso_cookie.cookie_name()).value != old  # type: ignore[union-attr]
    assert through_flask == ["/account", "/login"]
    browser, page = _form_page(app)
    answer = browser.post("/login?next=/account", data={"csrf_token": csrf_token_in(page),
                                                        "identifier": citizen.id_number, "password": citizen.password})
    assert answer.status_code == 302 and through_flask == ["/account", "/login", "/login"]
    assert_same_move(answer, first)


def test_an_answer_that_is_a_page_is_the_views_without_a_second_sign_in(app: Flask, through_flask: list[str],
                                                                        make_citizen) -> None:  # type: ignore[no-untyped-def]
    citizen, rp = make_citizen(), register_client(skip_consent=True)
    _signs_in(app, citizen)
    _form_page(app, _sign_in_form_of(app, rp))
    through_flask.clear()
    browser, page = _form_page(app, _sign_in_form_of(app, rp, response_mode="form_post"))
    answer = _post(browser, page, citizen)
    assert answer.status_code == 200 and hidden_value(answer.text, "code")
    assert browser.get_cookie(sso_cookie.cookie_name()) is not None
    assert through_flask == ["/login"]  # only the form_post page reached Flask
    assert _events("login.success") == 2
    assert exchange(app.test_client(), rp, hidden_value(answer.text, "code") or "").status_code == 200


def test_a_failure_while_answering_goes_to_the_view(app: Flask, through_flask: list[str], make_citizen,  # type: ignore[no-untyped-def]
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    citizen, rp = make_citizen(), register_client(skip_consent=True)
    _signs_in(app, citizen)
    sign_in_form = app.test_client().get("/authorize", query_string=authorize_params(rp)).headers["Location"]
    browser, page = _form_page(app, sign_in_form)

    def database_down(uid: str) -> None:
        raise OperationalError("SELECT", {}, Exception("connection refused"))

    # Before the sign-in: the view meets the same failure and answers it; nobody was signed in.
    monkeypatch.setattr(flow, "parked", database_down)
    through_flask.clear()
    assert _post(browser, page, citizen).status_code == 500 and through_flask == ["/login"]
    assert _events("login.success") == 1
    monkeypatch.undo()
    # After the sign-in: the view answers with what was done, and does not sign in again.
    calls = sign_in_recorded_failing_once(monkeypatch)
    through_flask.clear()
    answer = _post(*_form_page(app, sign_in_form), citizen)
    assert answer.status_code == 302 and answer.headers["Location"].startswith(REDIRECT_URI + "?code=")
    assert through_flask == ["/login"] and len(calls) == 2
    assert _events("login.success") == 2


def test_over_https_the_referer_is_checked_as_flask_wtf_does(app_config: dict[str, Any], make_citizen) -> None:  # type: ignore[no-untyped-def]
    app_config["IDP_ISSUER"] = "https://dangnhap.thanhhoa.gov.vn"
    secure = make_app(app_config)
    seen: list[str] = []
    request_started.connect(lambda sender, **_: seen.append(request.path), secure, weak=False)
    with secure.app_context():
        citizen = make_citizen()
        answers = []
        for referer in ("https://localhost/login", "https://localhost/login", "https://evil.example/login", None):
            browser = secure.test_client()
            browser.environ_base.update({"wsgi.url_scheme": "https", "HTTP_REFERER": referer or ""})
            if referer is None:
                del browser.environ_base["HTTP_REFERER"]
            answers.append(_post(browser, browser.get("/login").text, citizen))
        assert [answer.status_code for answer in answers] == [302, 302, 400, 400]
        assert seen == ["/login", "/login", "/login", "/login"]  # the first form, then the view's posts but the second
        assert_same_move(answers[1], answers[0])
        assert answers[1].headers["Set-Cookie"].startswith("__Host-dn_sso=")
        assert "Strict-Transport-Security" in answers[1].headers
        assert _events("login.success") == 2
