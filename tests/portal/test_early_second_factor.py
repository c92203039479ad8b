"""POST /login/second-factor is answered past Flask's request cycle
(``idp.portal.second_factor.early_second_factor``) when the authenticator's code is right and the
browser goes on by a redirect: the view's status and headers, the code checked once; anything else (a
wrong or replayed code, a CSRF or form error, a recovery code, an answer that is a page) is the view's."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pyotp
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from werkzeug.test import TestResponse

from idp.authn import sso
from idp.authn.levels import ACR_MFA
from idp.mfa import totp
from idp.storage import audit_events, db, sessions, transaction, utcnow
from idp.storage.sessions import SsoSession
from idp.web import sso_cookie
from tests.helpers.forms import assert_same_move, csrf_token_in, hidden_value, tampered
from tests.helpers.oidc import (
    REDIRECT_URI,
    authorize_params,
    decode,
    exchange,
    register_client,
    sign_in_recorded_failing_once,
)
from tests.portal.test_second_factor import enrolled

PAGE = "/login/second-factor"


def _owing_a_code(app: Flask, person: Any, location: str = "/login") -> tuple[FlaskClient, str]:
    """A new browser whose password was right, on the code's page: the browser and the page."""
    browser = app.test_client()
    page = browser.get(location).text
    data = {"csrf_token": csrf_token_in(page), "identifier": person.id_number, "password": person.password}
    if (uid := hidden_value(page, "interaction")) is not None:
        data["interaction"] = uid
    to_code = browser.post("/login", data=data)
    assert to_code.headers["Location"].startswith(PAGE), to_code.headers
    return browser, browser.get(to_code.headers["Location"]).text


def _post(browser: FlaskClient, page: str, code: str, path: str = PAGE, **extra: str) -> TestResponse:
    data = {"csrf_token": csrf_token_in(page), "method": "totp", "code": code, **extra}
    if (uid := hidden_value(page, "interaction")) is not None:
        data["interaction"] = uid
    return browser.post(path, data=data)


def _passes(app: Flask, person: Any, authenticator: pyotp.TOTP, location: str = "/login") -> TestResponse:
    browser, page = _owing_a_code(app, person, location)
    return _post(browser, page, authenticator.now())


def _person(make_citizen: Any) -> tuple[Any, pyotp.TOTP]:
    citizen = make_citizen()
    return citizen, enrolled(citizen.subject)


def _kept(app: Flask, through_flask: list[str], make_citizen: Any) -> None:
    """The view has answered a right code once (so its redirect is kept), and ``through_flask`` is emptied."""
    assert _passes(app, *_person(make_citizen)).status_code == 302
    through_flask.clear()


def _events(kind: str) -> int:
    return sum(event.event == kind for event in audit_events.recent())


def _session_of(browser: FlaskClient) -> SsoSession:
    token = browser.get_cookie(sso_cookie.cookie_name()).value  # type: ignore[union-attr]
    return db.session.execute(select(SsoSession).where(SsoSession.token_hash == sso.hash_token(token))).scalar_one()


def test_a_right_code_is_answered_past_flask(app: Flask, through_flask: list[str], make_citizen) -> None:  # type: ignore[no-untyped-def]
    by_view = _passes(app, *_person(make_citizen))
    citizen, authenticator = _person(make_citizen)
    browser, page = _owing_a_code(app, citizen)
    through_flask.clear()
    early = _post(browser, page, authenticator.now())
    assert through_flask == []
    assert_same_move(early, by_view)
    assert early.headers["Location"] == by_view.headers["Location"] == "/account"
    assert early.headers.getlist("Set-Cookie") == []  # as the view's: the form session is unchanged
    assert browser.get("/account").status_code == 200
    session = _session_of(browser)
    assert session.amr.split() == ["pwd", "otp", "mfa"] and session.pending_factor is None
    assert _events("login.success") == 2


def test_an_authorization_gets_its_code_in_the_same_response(app: Flask, through_flask: list[str],
                                                             make_citizen) -> None:  # type: ignore[no-untyped-def]
    rp = register_client(skip_consent=True)

    def sign_in_form() -> str:
        return app.test_client().get("/authorize", query_string=authorize_params(rp)).headers["Location"]

    by_view = _passes(app, *_person(make_citizen), location=sign_in_form())
    citizen, authenticator = _person(make_citizen)
    browser, page = _owing_a_code(app, citizen, sign_in_form())
    through_flask.clear()
    early = _post(browser, page, authenticator.now())
    assert through_flask == []
    assert_same_move(early, by_view)
    assert early.headers["Location"].startswith(REDIRECT_URI + "?")
    params = parse_qs(urlsplit(early.headers["Location"]).query)
    assert sorted(params) == sorted(parse_qs(urlsplit(by_view.headers["Location"]).query)) == ["code", "iss", "state"]
    tokens = exchange(app.test_client(), rp, params["code"][0])
    assert tokens.status_code == 200
    claims = decode(tokens.json["id_token"])
    assert claims["acr"] == ACR_MFA and claims["amr"] == ["pwd", "otp", "mfa"]


@pytest.mark.parametrize("wrong", ["wrong", "replayed"])
def test_a_wrong_or_replayed_code_is_the_views_page_and_counted_once(app: Flask, through_flask: list[str],  # type: ignore[no-untyped-def]
                                                                    make_citizen, wrong: str) -> None:
    _kept(app, through_flask, make_citizen)
    citizen, authenticator = _person(make_citizen)
    code = authenticator.now()
    if wrong == "replayed":
        assert _passes(app, citizen, authenticator).status_code == 302
    else:
        code = "000000" if code != "000000" else "111111"
    browser, page = _owing_a_code(app, citizen)
    through_flask.clear()
    refused = _post(browser, page, code)
    assert refused.status_code == 200 and "Mã xác thực không đúng." in refused.text
    assert through_flask == [PAGE]  # the view rendered what the early check found
    assert _events("mfa.failed") == 1
    assert _session_of(browser).pending_factor == "otp"


def test_a_locked_budget_is_the_views_page(app: Flask, through_flask: list[str], make_citizen) -> None:  # type: ignore[no-untyped-def]
    _kept(app, through_flask, make_citizen)
    citizen, authenticator = _person(make_citizen)
    browser, page = _owing_a_code(app, citizen)
    for _ in range(app.config["IDP_TOTP_MAX_FAILURES"]):
        _post(browser, page, "000000" if authenticator.now() != "000000" else "111111")
    through_flask.clear()
    locked = _post(browser, page, authenticator.now())
    assert locked.status_code == 429 and through_flask == [PAGE]


@pytest.mark.parametrize("tamper", ["missing", "wrong", "another browser's"])
def test_a_csrf_failure_is_the_views_and_uses_no_code(app: Flask, through_flask: list[str], make_citizen,  # type: ignore[no-untyped-def]
                                                      tamper: str) -> None:
    _kept(app, through_flask, make_citizen)
    citizen, authenticator = _person(make_citizen)
    browser, page = _owing_a_code(app, citizen)
    tokens = {"missing": "", "wrong": tampered(csrf_token_in(page)),
              "another browser's": csrf_token_in(_owing_a_code(app, citizen)[1])}
    through_flask.clear()
    answer = browser.post(PAGE, data={"csrf_token": tokens[tamper], "method": "totp", "code": authenticator.now()})
    assert answer.status_code == 400 and through_flask == [PAGE]
    assert _session_of(browser).pending_factor == "otp"
    assert totp.verify(citizen.subject, authenticator.now()).ok  # the code is still unused


@pytest.mark.parametrize("form", [{"code": ""}, {"code": "1" * 40}, {"code": "\x00"}])
def test_a_malformed_field_is_the_views(app: Flask, through_flask: list[str], make_citizen,  # type: ignore[no-untyped-def]
                                        form: dict[str, str]) -> None:
    _kept(app, through_flask, make_citizen)
    citizen, _authenticator = _person(make_citizen)
    browser, page = _owing_a_code(app, citizen)
    through_flask.clear()
    assert _post(browser, page, **{"code": "", **form}).status_code == 400
    assert through_flask == [PAGE] and _events("mfa.failed") == 0


def test_a_recovery_code_and_a_query_string_are_the_views(app: Flask, through_flask: list[str],  # type: ignore[no-untyped-def]
                                                          make_citizen) -> None:
    _kept(app, through_flask, make_citizen)
    citizen = make_citizen()
    enrolment = totp.start_enrolment(citizen.subject, "test")
    authenticator = pyotp.TOTP(enrolment.secret)
    codes = totp.confirm_enrolment(citizen.subject, authenticator.at(utcnow() - timedelta(seconds=30)))
    browser, page = _owing_a_code(app, citizen)
    through_flask.clear()
    used = browser.post(PAGE, data={"csrf_token": csrf_token_in(page), "method": "recovery",
                                    "recovery_code": codes[0]})
    assert used.status_code == 200 and "Bạn còn 9 mã khôi phục." in used.text and through_flask == [PAGE]
    browser, page = _owing_a_code(app, citizen)
    through_flask.clear()
    answer = _post(browser, page, authenticator.now(), path=PAGE + "?x=1")
    assert answer.status_code == 302 and answer.headers["Location"] == "/account" and through_flask == [PAGE]


def test_no_session_or_an_ended_one_is_the_views(app: Flask, through_flask: list[str], make_citizen) -> None:  # type: ignore[no-untyped-def]
    _kept(app, through_flask, make_citizen)
    citizen, authenticator = _person(make_citizen)
    browser, page = _owing_a_code(app, citizen)
    with transaction():
        sessions.delete_session(_session_of(browser))
    through_flask.clear()
    answer = _post(browser, page, authenticator.now())
    assert answer.status_code == 302 and answer.headers["Location"].startswith("/login")
    assert through_flask == [PAGE] and _events("login.success") == 1  # the kept one's only
    stranger = app.test_client()  # a form session of its own, and no SSO session
    answer = _post(stranger, stranger.get("/login").text, authenticator.now())
    assert answer.status_code == 302 and answer.headers["Location"].startswith("/login")
    assert through_flask == [PAGE, PAGE]


def test_an_answer_that_is_a_page_is_the_views_with_the_code_checked_once(app: Flask, through_flask: list[str],  # type: ignore[no-untyped-def]
                                                                          make_citizen) -> None:
    rp = register_client(skip_consent=True)
    _kept(app, through_flask, make_citizen)
    citizen, authenticator = _person(make_citizen)
    form = app.test_client().get("/authorize", query_string=authorize_params(rp, response_mode="form_post"))
    browser, page = _owing_a_code(app, citizen, form.headers["Location"])
    through_flask.clear()
    answer = _post(browser, page, authenticator.now())
    assert answer.status_code == 200 and hidden_value(answer.text, "code")
    assert through_flask == [PAGE]  # only the form_post page reached Flask
    assert _events("login.success") == 2
    assert exchange(app.test_client(), rp, hidden_value(answer.text, "code") or "").status_code == 200


def test_a_failure_after_the_check_is_answered_by_the_view_from_what_was_done(  # type: ignore[no-untyped-def]
        app: Flask, through_flask: list[str], make_citizen, monkeypatch: pytest.MonkeyPatch) -> None:
    rp = register_client(skip_consent=True)
    _kept(app, through_flask, make_citizen)
    citizen, authenticator = _person(make_citizen)
    form = app.test_client().get("/authorize", query_string=authorize_params(rp)).headers["Location"]
    browser, page = _owing_a_code(app, citizen, form)
    calls = sign_in_recorded_failing_once(monkeypatch)
    through_flask.clear()
    answer = _post(browser, page, authenticator.now())
    assert answer.status_code == 302 and answer.headers["Location"].startswith(REDIRECT_URI + "?code=")
    assert through_flask == [PAGE] and len(calls) == 2
    assert _events("login.success") == 2 and _events("mfa.failed") == 0  # the code was checked once
