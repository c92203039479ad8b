"""GET /authorize is decided past Flask's request cycle (``idp.oidc.early_authorization``): a redirect
to the client is answered there exactly as the view answers it, and every other decision is left to
the view, which answers it without deciding (or writing) again."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from idp.storage import audit_events, db
from idp.storage.grants import AuthorizationCode
from idp.storage.interactions import Interaction
from tests.helpers.forms import sign_in
from tests.helpers.oidc import (
    asks_to_sign_in,
    authorize_params,
    exchange,
    interaction_uid,
    redirect_params,
    register_client,
)
from tests.portal.test_second_factor import enrolled


def _authorize(client: FlaskClient, rp, **overrides):  # type: ignore[no-untyped-def]
    return client.get("/authorize", query_string=authorize_params(rp, **overrides))


def _count(model: type) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


@pytest.fixture
def signed_in(client: FlaskClient, citizen) -> FlaskClient:  # type: ignore[no-untyped-def]
    assert sign_in(client, citizen.id_number, citizen.password).status_code == 302
    return client


@pytest.fixture
def kept(signed_in: FlaskClient, rp, through_flask: list[str]) -> list[str]:  # type: ignore[no-untyped-def]
    """The view has answered one authorization with a code; its headers are kept."""
    assert "code" in redirect_params(_authorize(signed_in, rp))
    assert through_flask[-1] == "/authorize"
    through_flask.clear()
    return through_flask


def test_a_code_from_the_sso_session_is_answered_past_flask_as_the_view_answers(
        signed_in: FlaskClient, rp, through_flask: list[str]) -> None:  # type: ignore[no-untyped-def]
    by_view = _authorize(signed_in, rp)
    early = _authorize(signed_in, rp, state="st-2")
    assert through_flask.count("/authorize") == 1  # the second never reached Flask
    assert early.status == by_view.status == "302 FOUND"
    without_location = [(name, value) for name, value in early.headers.to_wsgi_list() if name != "Location"]
    assert without_location == [pair for pair in by_view.headers.to_wsgi_list() if pair[0] != "Location"]
    assert early.data == by_view.data == b""
    assert early.headers["Cache-Control"] == "no-store" and "frame-ancestors 'none'" in \
        early.headers["Content-Security-Policy"]
    answer = redirect_params(early)
    assert answer["state"] == "st-2" and answer["iss"] == signed_in.application.config["IDP_ISSUER"]
    assert exchange(signed_in, rp, answer["code"]).status_code == 200


def test_errors_for_the_client_are_answered_past_flask_and_audited_once(
        kept: list[str], signed_in: FlaskClient, rp) -> None:  # type: ignore[no-untyped-def]
    assert redirect_params(_authorize(signed_in, rp, response_type="token"))["error"] == "unsupported_response_type"
    assert redirect_params(_authorize(signed_in, rp, scope="openid admin"))["error"] == "invalid_scope"
    assert kept == []
    assert len(audit_events.recent(event="authorization.refused")) == 2


def test_an_interaction_is_started_once_and_the_browser_sent_to_it_past_flask(
        kept: list[str], app: Flask, rp) -> None:  # type: ignore[no-untyped-def]
    stranger = app.test_client()
    before = _count(Interaction)
    response = _authorize(stranger, rp, login_hint="an@example.vn", ui_locales="en")
    assert asks_to_sign_in(response) and response.data == b""
    assert kept == []  # never reached Flask...
    assert _count(Interaction) == before + 1  # ...and started one interaction
    page = stranger.get(response.headers["Location"]).get_data(as_text=True)
    assert 'value="an@example.vn"' in page and '<html lang="en"' in page


def test_the_redirect_to_the_sign_in_form_is_the_views_own(app: Flask, rp, through_flask: list[str]) -> None:  # type: ignore[no-untyped-def]
    by_view = _authorize(app.test_client(), rp, login_hint="an@example.vn")
    early = _authorize(app.test_client(), rp, login_hint="an@example.vn")
    assert through_flask == ["/authorize"]  # the first kept the view's headers, the second was answered past Flask
    assert early.status == by_view.status == "302 FOUND" and early.data == by_view.data == b""
    assert [pair for pair in early.headers.to_wsgi_list() if pair[0] != "Location"] == \
        [pair for pair in by_view.headers.to_wsgi_list() if pair[0] != "Location"]
    locations = [response.headers["Location"] for response in (by_view, early)]
    assert [location.replace(interaction_uid(location), "UID") for location in locations] == \
        ["/login?interaction=UID&login_hint=an@example.vn"] * 2


def test_form_post_is_the_views_page_with_the_one_code_issued(
        kept: list[str], signed_in: FlaskClient, rp) -> None:  # type: ignore[no-untyped-def]
    before = _count(AuthorizationCode)
    response = _authorize(signed_in, rp, response_mode="form_post")
    assert response.status_code == 200 and 'name="code"' in response.get_data(as_text=True)
    assert kept == ["/authorize"] and _count(AuthorizationCode) == before + 1


def test_an_untrusted_request_is_the_views_error_page(kept: list[str], signed_in: FlaskClient, rp) -> None:  # type: ignore[no-untyped-def]
    response = _authorize(signed_in, rp, redirect_uri="https://evil.example/callback")
    assert response.status_code == 400 and "Location" not in response.headers
    assert kept == ["/authorize"]


def test_a_session_owing_its_second_factor_gets_no_code(kept: list[str], app: Flask, rp, make_citizen) -> None:  # type: ignore[no-untyped-def]
    person = make_citizen()
    enrolled(person.subject)
    browser = app.test_client()
    assert sign_in(browser, person.id_number, person.password).status_code == 302  # the password only
    response = _authorize(browser, rp)
    assert asks_to_sign_in(response)  # as the view decides: the session is not complete yet
    assert "/authorize" not in kept  # and sent there past Flask


def test_an_iri_redirect_uri_is_sent_as_werkzeug_sends_it(signed_in: FlaskClient, through_flask: list[str]) -> None:
    iri = "https://cổng.example.vn/về?tỉnh=thanh-hóa"
    rp = register_client(redirect_uris=[iri], skip_consent=True)
    by_view = signed_in.get("/authorize", query_string=authorize_params(rp, redirect_uri=iri, state="s"))
    early = signed_in.get("/authorize", query_string=authorize_params(rp, redirect_uri=iri, state="s"))
    assert through_flask.count("/authorize") == 1
    view_location, early_location = by_view.headers["Location"], early.headers["Location"]
    assert early_location.isascii() and early_location.startswith("https://xn--")
    assert early_location.split("code=")[0] == view_location.split("code=")[0]

