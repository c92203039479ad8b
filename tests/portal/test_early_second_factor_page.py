"""GET /login/second-factor is answered past Flask's request cycle
(``idp.portal.second_factor.early_second_factor_page``) for a session that asks for a code: the
same page, headers and form-session cookie as the view's, a form that takes the code; anything else
(no session, an enrolment owed, a failure) is the view's."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.exc import OperationalError

from idp import i18n
from idp.authn import sso
from idp.storage import subjects, transaction
from idp.web import sso_cookie
from tests.helpers.forms import assert_same_page, cookie_attributes, csrf_token_in, hidden_value
from tests.helpers.oidc import REDIRECT_URI, authorize_params, register_client
from tests.portal.test_second_factor import enrolled

PAGE = "/login/second-factor"


def _owing_a_code(app: Flask, person: Any, language: str = "vi", location: str = "/login") -> tuple[FlaskClient, str]:
    """A new browser whose password was right and whose session owes a code; and where it was sent."""
    browser = app.test_client()
    browser.set_cookie(i18n.LANG_COOKIE, language)
    page = browser.get(location).text
    data = {"csrf_token": csrf_token_in(page), "identifier": person.id_number, "password": person.password}
    if (uid := hidden_value(page, "interaction")) is not None:
        data["interaction"] = uid
    answer = browser.post("/login", data=data)
    assert answer.status_code == 302 and answer.headers["Location"].startswith(PAGE), answer.headers
    return browser, answer.headers["Location"]


@pytest.mark.parametrize("language", ["vi", "en"])
@pytest.mark.parametrize("within_an_authorization", [False, True])
def test_the_code_page_is_the_views_own(app: Flask, through_flask: list[str], make_citizen,  # type: ignore[no-untyped-def]
                                        language: str, within_an_authorization: bool) -> None:
    citizen = make_citizen()
    authenticator = enrolled(citizen.subject)
    rp = register_client(skip_consent=True)
    pages = []
    for _ in range(2):
        start = "/login"
        if within_an_authorization:
            start = app.test_client().get("/authorize", query_string=authorize_params(rp)).headers["Location"]
        browser, location = _owing_a_code(app, citizen, language, start)
        through_flask.clear()
        pages.append((browser, browser.get(location)))
        assert through_flask == ([PAGE] if len(pages) == 1 else [])  # the second never reached Flask
    (_, by_view), (browser, early) = pages
    assert_same_page(early, by_view)
    assert [name for name, _ in cookie_attributes(early)] == [app.config["SESSION_COOKIE_NAME"]]
    assert csrf_token_in(early.text) != csrf_token_in(by_view.text)
    assert (hidden_value(early.text, "interaction") is not None) == within_an_authorization
    # Its form takes the code.
    done = browser.post(PAGE, data={"csrf_token": csrf_token_in(early.text), "code": authenticator.now(),
                                    "method": "totp", "interaction": hidden_value(early.text, "interaction") or ""})
    assert done.status_code == 302
    assert done.headers["Location"].startswith(REDIRECT_URI if within_an_authorization else "/account")


def test_no_session_or_an_enrolment_owed_is_the_views(app: Flask, through_flask: list[str],  # type: ignore[no-untyped-def]
                                                      make_citizen) -> None:
    citizen, admin = make_citizen(), make_citizen()
    enrolled(citizen.subject)
    _owing_a_code(app, citizen)[0].get(PAGE)  # kept
    through_flask.clear()
    assert app.test_client().get(PAGE).headers["Location"].startswith("/login")
    stranger = app.test_client()
    with app.app_context():
        stranger.set_cookie(sso_cookie.cookie_name(), "no-such-session")
    assert stranger.get(PAGE).headers["Location"].startswith("/login")
    with transaction():
        subjects.set_roles(admin.subject.id, {"admin"})  # must enrol: no authenticator yet
    browser, location = _owing_a_code(app, admin)
    assert browser.get(location).headers["Location"].startswith("/login/enrol")
    assert through_flask == [PAGE, PAGE, PAGE]


def test_a_failure_while_asking_goes_to_the_view(app: Flask, through_flask: list[str], make_citizen,  # type: ignore[no-untyped-def]
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    citizen = make_citizen()
    enrolled(citizen.subject)
    _owing_a_code(app, citizen)[0].get(PAGE)
    browser, location = _owing_a_code(app, citizen)
    through_flask.clear()

    def database_down(token: str, now: Any) -> None:
        raise OperationalError("SELECT", {}, Exception("connection refused"))

    monkeypatch.setattr(sso, "look_up", database_down)
    assert browser.get(location).status_code == 500  # the view's own error page
    monkeypatch.undo()
    assert browser.get(location).status_code == 200
    assert through_flask == [PAGE]
