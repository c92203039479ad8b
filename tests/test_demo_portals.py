"""The demo portals of `make run` (demo/portals.py): single sign-on across two apps against a live provider.

The provider is the real live server, reached over HTTP; the two portals are driven through their Flask
test clients, and call the provider over HTTP themselves (discovery, token, JWKS, UserInfo). A small
browser stands between them: it follows redirects by hand and keeps each side's cookies.
"""

from __future__ import annotations

import html
import http.cookiejar
import json
import re
import stat
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urljoin, urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient
from joserfc import jwt
from joserfc.jwk import RSAKey

from demo import portals as demo_portals
from demo import relying_party
from idp import demo
from idp.oidc import client_registry, keys
from tests.helpers.live_server import LiveServer, live_server  # noqa: F401

PASSWORD_FIELD = 'name="password"'


@dataclass(frozen=True)
class Page:
    url: str
    status: int
    location: str | None
    body: str

    def hidden_inputs(self) -> dict[str, str]:
        found = re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', self.body)
        return {name: html.unescape(value) for name, value in found}

    def form_action(self) -> str:
        match = re.search(r'<form method="post" action="([^"]+)"', self.body)
        assert match, f"no form on {self.url}"
        return urljoin(self.url, html.unescape(match.group(1)))


class _NoRedirects(urllib.request.HTTPErrorProcessor):
    """Hand every response back as it is: the browser follows redirects itself and reads error pages."""

    def http_response(self, request: Any, response: Any) -> Any:
        return response

    https_response = http_response


@dataclass
class Browser:
    """The provider over real HTTP (a cookie jar, redirects not followed); each portal through its client."""

    issuer: str
    portals: dict[str, FlaskClient]  # origin -> test client
    visited: list[Page] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._provider = urllib.request.build_opener(
            urllib.request.ProxyHandler({}), urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()),
            _NoRedirects)

    def request(self, url: str, data: dict[str, str] | None = None) -> Page:
        parts = urlsplit(url)
        origin = f"{parts.scheme}://{parts.netloc}"
        if origin == self.issuer:
            body = urlencode(data).encode() if data is not None else None
            request = urllib.request.Request(url, data=body)  # noqa: S310 (the live server's own URL)
            with self._provider.open(request, timeout=10) as response:
                page = Page(url, response.status, response.headers.get("Location"), response.read().decode())
        else:
            client = self.portals[origin]
            # A browser sends Origin with every POST.
            response = (client.get(url) if data is None
                        else client.post(url, data=data, headers={"Origin": origin}))
            page = Page(url, response.status_code, response.headers.get("Location"), response.get_data(as_text=True))
        self.visited.append(page)
        return page

    def go(self, url: str, data: dict[str, str] | None = None) -> Page:
        """Request ``url`` and follow redirects to the page at the end."""
        page = self.request(url, data)
        for _ in range(12):
            if page.status not in (301, 302, 303) or page.location is None:
                return page
            page = self.request(urljoin(page.url, page.location))
        raise AssertionError("too many redirects")

    def submit(self, page: Page, **fields: str) -> Page:
        return self.go(page.form_action(), {**page.hidden_inputs(), **fields})


@dataclass(frozen=True)
class Demo:
    server: LiveServer
    portals: list[demo_portals.Portal]
    apps: list[Flask]
    password: str

    def browser(self) -> Browser:
        clients = {portal.home.rstrip("/"): app.test_client() for portal, app in zip(self.portals, self.apps,
                                                                                     strict=True)}
        return Browser(self.server.url, clients)


@pytest.fixture
def seeded(live_server: LiveServer, monkeypatch: pytest.MonkeyPatch) -> Demo:  # noqa: F811
    """`make run`'s seed in the live provider, and the two portals pointed at it."""
    monkeypatch.delenv("DEMO_PORTAL_PORTS", raising=False)  # the default ports, whatever the shell says
    with live_server.app.app_context():
        demo.seed()
    instance = Path(live_server.app.instance_path)
    password = (instance / "demo-credentials").read_text().strip()
    portals = demo_portals.load_portals(instance)
    apps = demo_portals.create_portals(portals, live_server.url)
    return Demo(live_server, portals, apps, password)


def test_single_sign_on_across_the_two_portals(seeded: Demo) -> None:
    first, second = seeded.portals
    browser = seeded.browser()

    home = browser.go(first.home)
    assert home.status == 200 and "Cổng dịch vụ công (demo)" in home.body and "Đăng nhập" in home.body

    form = browser.go(first.home + "login")
    assert form.url.startswith(seeded.server.url + "/login") and PASSWORD_FIELD in form.body
    signed_in = browser.submit(form, identifier=demo.DEMO_ID_NUMBER, password=seeded.password)
    assert signed_in.url == first.home and signed_in.status == 200, signed_in.body
    assert "Xin chào, Nguyễn Văn An" in signed_in.body
    assert "an.nguyen@example.com" in signed_in.body and "17/05/1990" in signed_in.body
    assert f'href="{second.home}login"' in signed_in.body

    # The other portal: no password, but its consent page, since it is not a first-party app.
    browser.visited.clear()
    consent = browser.go(second.home + "login")
    assert "Hệ thống quản lý văn bản (demo)" in consent.body and "Cho phép" in consent.body
    there = browser.submit(consent, decision="allow")
    assert there.url == second.home and "Xin chào, Nguyễn Văn An" in there.body
    assert not any(PASSWORD_FIELD in page.body for page in browser.visited)

    # The same person on both: the same sub in each portal's verified ID token.
    subs = {re.search(r"<code>sub</code></th><td>([^<]+)</td>", page.body).group(1) for page in (signed_in, there)}
    assert len(subs) == 1 and demo.DEMO_ID_NUMBER not in subs


def test_sign_out_ends_the_portal_session_only(seeded: Demo) -> None:
    first, _second = seeded.portals
    browser = seeded.browser()
    form = browser.go(first.home + "login")
    page = browser.submit(form, identifier=demo.DEMO_ID_NUMBER, password=seeded.password)

    signed_out = browser.submit(page)
    assert "Đăng nhập" in signed_out.body and "Xin chào" not in signed_out.body
    # The provider's session is still there: signing in again needs no password.
    browser.visited.clear()
    again = browser.go(first.home + "login")
    assert "Xin chào, Nguyễn Văn An" in again.body
    assert not any(PASSWORD_FIELD in page.body for page in browser.visited)


def test_denied_consent_is_reported_by_the_portal(seeded: Demo) -> None:
    first, second = seeded.portals
    browser = seeded.browser()
    browser.submit(browser.go(first.home + "login"), identifier=demo.DEMO_ID_NUMBER, password=seeded.password)
    refused = browser.submit(browser.go(second.home + "login"), decision="deny")
    assert refused.status == 400 and "Bạn đã từ chối cấp quyền" in refused.body


def test_callback_without_a_pending_sign_in_is_refused(seeded: Demo) -> None:
    first, _second = seeded.portals
    page = seeded.browser().go(first.home + "callback?" + urlencode({"code": "x", "state": "forged",
                                                                    "iss": seeded.server.url}))
    assert page.status == 400 and "không hợp lệ" in page.body


def test_sign_out_refuses_a_post_from_elsewhere(seeded: Demo) -> None:
    first, second = seeded.portals
    client = seeded.apps[0].test_client()
    assert client.post(first.home + "logout", headers={"Origin": second.home.rstrip("/")}).status_code == 403
    assert client.post(first.home + "logout").status_code == 403


def test_portals_have_their_own_cookie_and_no_script(seeded: Demo) -> None:
    names = {app.config["SESSION_COOKIE_NAME"] for app in seeded.apps}
    assert len(names) == 2 and not names & {"dn_sso", "dn_form", "session"}
    response = seeded.apps[0].test_client().get(seeded.portals[0].home)
    csp = response.headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "script" not in csp
    assert "<script" not in response.get_data(as_text=True)


def _claims(server: LiveServer, client_id: str, changes: dict[str, Any]) -> dict[str, Any]:
    now = int(time.time())
    claims = {"iss": server.url, "sub": "s-1", "aud": client_id, "iat": now, "exp": now + 300, "nonce": "n-1"}
    claims.update(changes)
    return {k: v for k, v in claims.items() if v is not None}


@pytest.mark.parametrize("changes", [
    {"nonce": "another"}, {"nonce": None}, {"aud": "someone-else"}, {"iss": "http://127.0.0.1:1"},
    {"exp": int(time.time()) - 3600}, {"aud": ["demo-dich-vu-cong", "other"]},
], ids=["nonce", "no-nonce", "aud", "iss", "expired", "two-audiences-no-azp"])
def test_portal_refuses_an_id_token_not_meant_for_it(seeded: Demo, changes: dict[str, Any]) -> None:
    client = seeded.portals[0].client
    provider = relying_party.Provider(seeded.server.url)
    with seeded.server.app.app_context():
        good = keys.sign(_claims(seeded.server, client.client_id, {}))
        bad = keys.sign(_claims(seeded.server, client.client_id, changes))
    assert relying_party.verify_id_token(provider, client, good, "n-1")["sub"] == "s-1"
    with pytest.raises(relying_party.SignInFailed):
        relying_party.verify_id_token(provider, client, bad, "n-1")


def test_seed_registers_the_portals_once_and_keeps_their_secrets_private(seeded: Demo) -> None:
    path = Path(seeded.server.app.instance_path) / demo.PORTALS_FILE
    before = path.read_text()
    with seeded.server.app.app_context():
        demo.seed()
        assert path.read_text() == before and stat.S_IMODE(path.stat().st_mode) == 0o600
        entries = json.loads(before)["portals"]
        rows = [client_registry.get(entry["client_id"]) for entry in entries]
        assert [row.skip_consent for row in rows] == [True, False]
        assert all(client_registry.verify_secret(row, entry["client_secret"]) for row, entry in zip(rows, entries,
                                                                                                    strict=True))
        assert [row.redirect_uris for row in rows] == [["http://127.0.0.1:5001/callback"],
                                                       ["http://127.0.0.1:5002/callback"]]


def test_portal_refuses_an_id_token_signed_with_a_key_the_provider_does_not_publish(seeded: Demo) -> None:
    client = seeded.portals[0].client
    stranger = RSAKey.generate_key(2048, parameters={"kid": "not-published"})
    forged = jwt.encode({"alg": "RS256", "kid": "not-published"}, _claims(seeded.server, client.client_id, {}),
                        stranger)
    with pytest.raises(relying_party.SignInFailed):
        relying_party.verify_id_token(relying_party.Provider(seeded.server.url), client, forged, "n-1")
