"""A double click in a real browser: each of the sign-in's forms reaches the server once.

Chromium (tests/helpers/browser.py) double-clicks the button of the sign-in page, of the second factor
and of the consent page while the server is slow to answer (every POST is held back, as at a morning
peak). Without ``submit_once.js`` each double click sent its form twice: the password was hashed twice,
and the browser showed the answer to the second post, which found the sign-in already done (the
person ended on the account page instead of the application), the code already used, or the consent
already answered (the "request already used" page).
"""

from __future__ import annotations

import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import urlencode

from flask import Flask
from playwright.sync_api import Page, expect

from tests.helpers.application import Application, application  # noqa: F401
from tests.helpers.browser import WatchedPage, chromium_page  # noqa: F401
from tests.helpers.live_server import LiveServer, live_server  # noqa: F401
from tests.helpers.oidc import authorize_params, register_client
from tests.portal.test_second_factor import enrolled

HELD_BACK_SECONDS = 0.6
SECOND_CLICK_AFTER_MS = 150  # well within the time the first post is held back


class SlowPosts:
    """WSGI middleware: counts the POSTs by path and holds each back before the app answers it."""

    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        self.app = app
        self.posts: Counter[str] = Counter()
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ["REQUEST_METHOD"] == "POST":
            with self._lock:
                self.posts[environ["PATH_INFO"]] += 1
            time.sleep(HELD_BACK_SECONDS)
        return self.app(environ, start_response)


def _double_click(page: Page, button: str) -> None:
    """Two clicks on ``button``, the second while the server holds the first post back. (Playwright's
    own clicks return once the navigation they start has an answer, too late for a second click; a
    double click's second click may also come before the first post is sent, and Chromium then sends
    only one.)"""
    page.locator(button).evaluate(
        "(button, later) => { button.click(); setTimeout(() => button.click(), later); }", SECOND_CLICK_AFTER_MS)


def test_double_clicks_send_each_form_once_and_reach_the_application(
        chromium_page: WatchedPage, live_server: LiveServer, app: Flask, make_citizen,  # noqa: F811
        application: Application) -> None:  # noqa: F811
    redirect_uri, arrived = application.callback, application.arrived
    citizen = make_citizen()
    authenticator = enrolled(citizen.subject)
    rp = register_client(redirect_uris=[redirect_uri])  # asks for consent
    params = authorize_params(rp, redirect_uri=redirect_uri)
    slow = SlowPosts(live_server.app.wsgi_app)
    live_server.app.wsgi_app = slow  # type: ignore[method-assign]
    page = chromium_page.page
    page.goto(f"{live_server.url}/authorize?{urlencode(params)}")

    expect(page).to_have_url(re.compile(rf"^{re.escape(live_server.url)}/login\b"))
    page.locator("#identifier").fill(citizen.id_number)
    page.locator("#password").fill(citizen.password)
    _double_click(page, "form button[type=submit]")

    expect(page).to_have_url(re.compile(rf"^{re.escape(live_server.url)}/login/second-factor\b"))
    page.locator("#code").fill(authenticator.now())
    _double_click(page, "form:has([name=method][value=totp]) button")

    expect(page).to_have_url(re.compile(rf"^{re.escape(live_server.url)}/interaction/"))
    expect(page.locator("h1")).to_have_text("Đồng ý cấp quyền")
    _double_click(page, "button[value=allow]")

    expect(page).to_have_url(re.compile(rf"^{re.escape(redirect_uri)}\?"))
    [visit] = arrived
    answer = visit.params
    assert "code" in answer and answer["state"] == [params["state"]], answer
    posts = {re.sub(r"/interaction/[^/]+/", "/interaction/…/", path): count for path, count in slow.posts.items()}
    assert posts == {"/login": 1, "/login/second-factor": 1, "/interaction/…/consent": 1}
    assert chromium_page.problems == []


def test_a_refused_password_leaves_a_form_that_is_sent_again(
        chromium_page: WatchedPage, live_server: LiveServer, make_citizen) -> None:  # noqa: F811
    """A wrong password comes back on a new page, whose form is sent as the first was."""
    citizen = make_citizen()
    page = chromium_page.page
    page.goto(f"{live_server.url}/login")
    for _ in range(2):
        page.locator("#identifier").fill(citizen.id_number)
        page.locator("#password").fill("not the password")
        page.locator("form button[type=submit]").click()
        expect(page.locator("[role=alert]")).to_be_visible()
    page.locator("#identifier").fill(citizen.id_number)
    page.locator("#password").fill(citizen.password)
    page.locator("form button[type=submit]").click()
    page.wait_for_url(f"{live_server.url}/account")
    assert chromium_page.problems == []
