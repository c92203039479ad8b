"""Back to the application after a form, in a real browser.

A form's POST answered by a redirect to the application is checked against the page's CSP
form-action, on every redirect: Chromium refuses the redirect to another origin when the page allows
only ``'self'``, and the person stays on our page. These tests follow the person in Chromium
(tests/helpers/browser.py) to the application's own server on loopback (tests/helpers/application.py)
after signing in, after refusing consent and after confirming a sign-out; a refused redirect is
reported among the page's problems (a console error) and the application never sees the visit.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlencode

import pytest
from flask import Flask
from playwright.sync_api import Page, expect

from tests.helpers.application import Application, application  # noqa: F401
from tests.helpers.browser import WatchedPage, chromium_page  # noqa: F401
from tests.helpers.live_server import LiveServer, live_server  # noqa: F401
from tests.helpers.oidc import RegisteredClient, authorize_params, exchange, register_client


@pytest.fixture
def citizen(make_citizen):  # type: ignore[no-untyped-def]
    return make_citizen()


@pytest.fixture
def rp(app: Flask, application: Application) -> RegisteredClient:  # noqa: F811
    """An application that asks no consent, its redirect URI on ``application``."""
    return register_client(redirect_uris=[application.callback], skip_consent=True)


def _answer(application: Application, path: str, method: str = "GET") -> dict[str, list[str]]:  # noqa: F811
    [visit] = application.arrived
    assert (visit.method, visit.path) == (method, path), visit
    return visit.params


def _authorize(page: Page, live_server: LiveServer, rp: RegisteredClient,  # noqa: F811
               application: Application) -> dict[str, str]:  # noqa: F811
    params = authorize_params(rp, redirect_uri=application.callback)
    page.goto(f"{live_server.url}/authorize?{urlencode(params)}")
    expect(page).to_have_url(re.compile(rf"^{re.escape(live_server.url)}/login\?interaction="))
    return params


def _sign_in(page: Page, citizen) -> None:  # type: ignore[no-untyped-def]
    page.locator("#identifier").fill(citizen.id_number)
    page.locator("#password").fill(citizen.password)
    page.get_by_role("button", name="Đăng nhập", exact=True).click()


def test_the_sign_in_form_returns_to_the_application(
        chromium_page: WatchedPage, live_server: LiveServer, citizen, rp: RegisteredClient,  # noqa: F811
        application: Application) -> None:  # noqa: F811
    page = chromium_page.page
    for visit in range(2):  # the first sign-in page comes from the view, the next one from its skeleton
        application.arrived.clear()
        page.context.clear_cookies()
        params = _authorize(page, live_server, rp, application)
        _sign_in(page, citizen)
        expect(page).to_have_url(re.compile(rf"^{re.escape(application.callback)}\?"))
        answer = _answer(application, "/callback")
        assert "code" in answer and answer["state"] == [params["state"]], (visit, answer)
    assert chromium_page.problems == []


def test_refusing_consent_returns_access_denied_to_the_application(
        chromium_page: WatchedPage, live_server: LiveServer, app: Flask, citizen,  # noqa: F811
        application: Application) -> None:  # noqa: F811
    rp = register_client(redirect_uris=[application.callback])
    page = chromium_page.page
    params = _authorize(page, live_server, rp, application)
    _sign_in(page, citizen)
    expect(page).to_have_url(re.compile(rf"^{re.escape(live_server.url)}/interaction/"))
    page.get_by_role("button", name="Từ chối", exact=True).click()
    expect(page).to_have_url(re.compile(rf"^{re.escape(application.callback)}\?"))
    answer = _answer(application, "/callback")
    assert answer["error"] == ["access_denied"] and answer["state"] == [params["state"]]
    assert chromium_page.problems == []


def test_a_confirmed_sign_out_returns_to_the_application(
        chromium_page: WatchedPage, live_server: LiveServer, app: Flask, citizen,  # noqa: F811
        application: Application) -> None:  # noqa: F811
    rp = register_client(redirect_uris=[application.callback], skip_consent=True,
                         post_logout_redirect_uris=[application.signed_out])
    page = chromium_page.page
    _authorize(page, live_server, rp, application)
    _sign_in(page, citizen)
    expect(page).to_have_url(re.compile(rf"^{re.escape(application.callback)}\?"))
    application.arrived.clear()
    # Without an id_token_hint the end-session request is confirmed by the person.
    logout = {"client_id": rp.client_id, "post_logout_redirect_uri": application.signed_out, "state": "s-1"}
    page.goto(f"{live_server.url}/session/end?{urlencode(logout)}")
    expect(page.locator("h1")).to_have_text("Đăng xuất")
    page.locator("form").get_by_role("button", name="Đăng xuất", exact=True).click()
    expect(page).to_have_url(re.compile(rf"^{re.escape(application.signed_out)}\?"))
    assert _answer(application, "/signed-out") == {"state": ["s-1"]}
    assert chromium_page.problems == []


def test_the_form_post_answer_reaches_the_application(
        chromium_page: WatchedPage, live_server: LiveServer, citizen, rp: RegisteredClient,  # noqa: F811
        application: Application) -> None:  # noqa: F811
    """response_mode=form_post: the sign-in's answer is our page, whose script posts the code on."""
    page = chromium_page.page
    params = authorize_params(rp, redirect_uri=application.callback, response_mode="form_post")
    page.goto(f"{live_server.url}/authorize?{urlencode(params)}")
    _sign_in(page, citizen)
    expect(page).to_have_url(application.callback)
    answer = _answer(application, "/callback", method="POST")
    assert "code" in answer and answer["state"] == [params["state"]] and answer["iss"] == [live_server.url]
    assert chromium_page.problems == []


def test_a_sign_out_loads_the_front_channel_pages_then_returns(
        chromium_page: WatchedPage, live_server: LiveServer, app: Flask, citizen,  # noqa: F811
        application: Application) -> None:  # noqa: F811
    """The signed-out page loads each application's front-channel logout page in a frame, then its
    script returns the browser to the application that asked."""
    rp = register_client(redirect_uris=[application.callback], skip_consent=True,
                         post_logout_redirect_uris=[application.signed_out],
                         frontchannel_logout_uri=application.front_channel_logout)
    page = chromium_page.page
    _authorize(page, live_server, rp, application)
    _sign_in(page, citizen)
    expect(page).to_have_url(re.compile(rf"^{re.escape(application.callback)}\?"))
    # The application redeems its code: it has taken part in the session, and is signed out with it.
    [code] = _answer(application, "/callback")["code"]
    assert exchange(app.test_client(), rp, code, redirect_uri=application.callback).status_code == 200
    application.arrived.clear()
    logout = {"client_id": rp.client_id, "post_logout_redirect_uri": application.signed_out, "state": "s-2"}
    page.goto(f"{live_server.url}/session/end?{urlencode(logout)}")
    page.locator("form").get_by_role("button", name="Đăng xuất", exact=True).click()
    expect(page).to_have_url(re.compile(rf"^{re.escape(application.signed_out)}\?"))
    frame, back = application.arrived
    assert (frame.path, frame.params["iss"]) == ("/front-channel-logout", [live_server.url]) and frame.params["sid"]
    assert (back.path, back.params) == ("/signed-out", {"state": ["s-2"]})
    assert chromium_page.problems == []


def test_a_second_application_gets_its_code_without_a_page(
        chromium_page: WatchedPage, live_server: LiveServer, citizen, rp: RegisteredClient,  # noqa: F811
        application: Application) -> None:  # noqa: F811
    """Signed in once, signed in everywhere: the second application's request is answered at once
    from the SSO session, no page shown."""
    second = register_client(redirect_uris=[application.callback], skip_consent=True)
    page = chromium_page.page
    _authorize(page, live_server, rp, application)
    _sign_in(page, citizen)
    expect(page).to_have_url(re.compile(rf"^{re.escape(application.callback)}\?"))
    application.arrived.clear()
    params = authorize_params(second, redirect_uri=application.callback)
    page.goto(f"{live_server.url}/authorize?{urlencode(params)}")
    expect(page).to_have_url(re.compile(rf"^{re.escape(application.callback)}\?"))
    answer = _answer(application, "/callback")
    assert "code" in answer and answer["state"] == [params["state"]]
    assert chromium_page.problems == []


def test_a_sign_in_in_a_popup_answers_the_window_that_opened_it(
        chromium_page: WatchedPage, live_server: LiveServer, citizen, app: Flask,  # noqa: F811
        application: Application) -> None:  # noqa: F811
    """A single-page application signs in through a popup: the popup goes through our pages and ends at
    the application's callback, which hands the code to the application's window (window.opener)."""
    rp = register_client(redirect_uris=[application.popup_callback], skip_consent=True)
    params = authorize_params(rp, redirect_uri=application.popup_callback)
    page = chromium_page.page
    page.goto(f"{application.url}/opener?{urlencode({'to': f'{live_server.url}/authorize?{urlencode(params)}'})}")
    with page.expect_popup() as opened:
        page.locator("#open").click()
    popup = opened.value
    _sign_in(popup, citizen)
    expect(popup).to_have_title("answered")
    answer = parse_qs(page.evaluate("window.answer").removeprefix("?"))
    assert "code" in answer and answer["state"] == [params["state"]]
    assert chromium_page.problems == []


def test_a_silent_renewal_in_a_hidden_frame_gets_its_answer(
        chromium_page: WatchedPage, live_server: LiveServer, citizen, rp: RegisteredClient,  # noqa: F811
        application: Application) -> None:  # noqa: F811
    """prompt=none in a hidden frame, as single-page applications renew: our redirects may pass
    through a frame (only our pages may not be shown in one), so the frame's last page, the
    application's, gets the code when signed in and login_required when not."""
    renewer = register_client(redirect_uris=[application.frame_callback], skip_consent=True)
    page = chromium_page.page

    def renewed() -> dict[str, list[str]]:
        params = authorize_params(renewer, redirect_uri=application.frame_callback, prompt="none")
        to = f"{live_server.url}/authorize?{urlencode(params)}"
        page.goto(f"{application.url}/framer?{urlencode({'to': to})}")
        page.wait_for_function("window.answer !== null")
        answer = parse_qs(page.evaluate("window.answer").removeprefix("?"))
        assert answer["state"] == [params["state"]]
        return answer

    assert renewed()["error"] == ["login_required"]
    _authorize(page, live_server, rp, application)
    _sign_in(page, citizen)
    expect(page).to_have_url(re.compile(rf"^{re.escape(application.callback)}\?"))
    assert "code" in renewed()
    assert chromium_page.problems == []
