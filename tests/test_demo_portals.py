"""The demo portals of `make run` (demo/portals.py): single sign-on across two apps against a live provider.

The provider is the real live server, reached over HTTP; the two portals are driven through their Flask
test clients, and call the provider over HTTP themselves (discovery, token, JWKS, UserInfo). A small
browser stands between them: it follows redirects by hand and keeps each side's cookies. For
back-channel logout the provider must reach the portals too: ``served`` also serves them on loopback
ports, where the provider's dispatcher POSTs its logout tokens.
"""

from __future__ import annotations

import html
import http.cookiejar
import json
import re
import stat
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient
from joserfc import jwt
from joserfc.jwk import RSAKey
from sqlalchemy import select
from werkzeug.serving import BaseWSGIServer, make_server

from demo import portals as demo_portals
from demo import relying_party, single_logout
from idp import demo
from idp.oidc import backchannel, client_registry, keys
from idp.storage import audit_events, db, rollback
from idp.storage.logout import DeliveryStatus, LogoutDelivery
from tests.helpers.live_server import LiveServer, live_server  # noqa: F401

PASSWORD_FIELD = 'name="password"'
BACKCHANNEL_EVENT = "http://schemas.openid.net/event/backchannel-logout"


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

    def frames(self) -> list[str]:
        """The front-channel logout pages a browser would load, in hidden frames, from this page."""
        return [html.unescape(src) for src in re.findall(r'<iframe class="frontchannel" src="([^"]+)"', self.body)]

    def link(self, element_id: str) -> str:
        match = re.search(rf'id="{element_id}" href="([^"]+)"', self.body)
        assert match, f"no #{element_id} on {self.url}"
        return urljoin(self.url, html.unescape(match.group(1)))

    def claim(self, name: str) -> str:
        """A claim of the ID token, as the portal's page shows it."""
        match = re.search(rf"<code>{name}</code></th><td>([^<]+)</td>", self.body)
        assert match, f"no {name} on {self.url}"
        return html.unescape(match.group(1))


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


def _seed(server: LiveServer) -> Demo:
    with server.app.app_context():
        demo.seed()
    instance = Path(server.app.instance_path)
    password = (instance / "demo-credentials").read_text().strip()
    portals = demo_portals.load_portals(instance)
    apps = demo_portals.create_portals(portals, server.url)
    return Demo(server, portals, apps, password)


@pytest.fixture
def seeded(live_server: LiveServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[Demo]:  # noqa: F811
    """`make run`'s seed in the live provider, and the two portals pointed at it (not listening: a
    back-channel logout token sent to them finds nobody)."""
    monkeypatch.delenv("DEMO_PORTAL_PORTS", raising=False)  # the default ports, whatever the shell says
    yield _seed(live_server)
    backchannel.dispatcher(live_server.app).stop()


def _unattached(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    start_response("503 Service Unavailable", [("Content-Type", "text/plain")])
    return [b"the portal is not attached yet\n"]


@pytest.fixture
def served(live_server: LiveServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[Demo]:  # noqa: F811
    """As ``seeded``, but each portal also listens on a free loopback port, registered as its URIs, as
    `make run` serves them: the provider's dispatcher POSTs logout tokens there."""
    servers: list[BaseWSGIServer] = [make_server("127.0.0.1", 0, _unattached, threaded=True) for _ in range(2)]
    monkeypatch.setenv("DEMO_PORTAL_PORTS", " ".join(str(server.server_port) for server in servers))
    seeded = _seed(live_server)
    threads = []
    for server, app in zip(servers, seeded.apps, strict=True):
        server.app = app  # the same app as the test client's: one portal, reached both ways
        threads.append(threading.Thread(target=server.serve_forever, daemon=True))
        threads[-1].start()
    try:
        yield seeded
    finally:
        backchannel.dispatcher(live_server.app).stop()
        for server, thread in zip(servers, threads, strict=True):
            server.shutdown()
            server.server_close()
            thread.join(timeout=10)


def _sign_in_to_both(seeded: Demo, browser: Browser) -> tuple[Page, Page]:
    first, second = seeded.portals
    signed_in = browser.submit(browser.go(first.home + "login"), identifier=demo.DEMO_ID_NUMBER,
                               password=seeded.password)
    there = browser.submit(browser.go(second.home + "login"), decision="allow")
    assert "Xin chào" in signed_in.body and "Xin chào" in there.body
    assert signed_in.claim("sid") == there.claim("sid")  # one SSO session, two portals
    return signed_in, there


def _settled_deliveries(app: Flask, timeout: float = 10.0) -> list[LogoutDelivery]:
    """The provider's back-channel deliveries, once its dispatcher has none pending."""
    deadline = time.monotonic() + timeout
    with app.app_context():
        while True:
            rollback()  # see what the dispatcher committed
            rows = list(db.session.scalars(select(LogoutDelivery).order_by(LogoutDelivery.client_id)))
            if rows and all(row.status is not DeliveryStatus.PENDING for row in rows):
                return rows
            assert time.monotonic() < deadline, "back-channel deliveries still pending"
            time.sleep(0.02)


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


def test_sign_out_once_signs_out_of_every_portal(served: Demo) -> None:
    first, second = served.portals
    browser = served.browser()
    signed_in, _there = _sign_in_to_both(served, browser)
    sid = signed_in.claim("sid")
    # The portal keeps the ID token for id_token_hint: its cookie still fits a browser's 4 KB.
    cookie = browser.portals[first.home.rstrip("/")].get_cookie(served.apps[0].config["SESSION_COOKIE_NAME"],
                                                               domain="127.0.0.1")
    assert cookie is not None and len(cookie.value) < 4000

    # Đăng xuất on the first portal: to the provider's end-session endpoint, which needs no confirmation
    # (the hint names the person signed in) and shows its signed-out page with the front-channel frames.
    browser.visited.clear()
    signed_out = browser.submit(signed_in)
    to_provider = urlsplit(browser.visited[0].location or "")
    assert f"{to_provider.scheme}://{to_provider.netloc}{to_provider.path}" == served.server.url + "/session/end"
    asked = parse_qs(to_provider.query)
    assert asked["post_logout_redirect_uri"] == [first.home] and asked["client_id"] == [first.client.client_id]
    assert asked["id_token_hint"] and asked["state"]
    assert signed_out.url.startswith(served.server.url + "/session/end") and signed_out.status == 200
    query = urlencode({"iss": served.server.url, "sid": sid})
    assert sorted(signed_out.frames()) == sorted(f"{p.frontchannel_logout_uri}?{query}" for p in served.portals)

    # Back to the first portal (the page's link, which its script follows once the frames have loaded).
    back = browser.go(signed_out.link("return-to-app"))
    assert back.url == first.home and back.status == 200
    assert "khỏi hệ thống Đăng nhập một lần" in back.body and "Xin chào" not in back.body

    # The frames are not loaded here: the second portal is signed out by the back-channel alone.
    deliveries = _settled_deliveries(served.server.app)
    assert [(row.client_id, row.status) for row in deliveries] == sorted(
        (p.client.client_id, DeliveryStatus.DELIVERED) for p in served.portals)
    with served.server.app.app_context():
        assert {e.client_id for e in audit_events.recent(event="logout.backchannel.delivered")} == {
            p.client.client_id for p in served.portals}
    other = browser.go(second.home)
    assert "Xin chào" not in other.body and "Đăng nhập" in other.body
    assert "qua back-channel" in other.body

    # And the provider's session is over: signing in again asks for the password.
    again = browser.go(first.home + "login")
    assert PASSWORD_FIELD in again.body


def test_front_channel_page_signs_the_other_portal_out(seeded: Demo) -> None:
    _first, second = seeded.portals
    browser = seeded.browser()
    signed_in, _there = _sign_in_to_both(seeded, browser)
    signed_out = browser.submit(signed_in)
    # What the browser does with the signed-out page: load each frame (with the portal's cookie; the
    # provider and the portals are the same site, 127.0.0.1). The back-channel finds no portal listening.
    [frame] = [uri for uri in signed_out.frames() if uri.startswith(second.frontchannel_logout_uri)]
    client = browser.portals[second.home.rstrip("/")]
    response = client.get(frame)
    assert response.status_code == 200
    assert response.headers["Content-Security-Policy"].endswith(f"frame-ancestors {seeded.server.url}")
    assert response.headers["Cache-Control"] == "no-store" and "X-Frame-Options" not in response.headers
    other = browser.go(second.home)
    assert "Xin chào" not in other.body and "qua front-channel" in other.body


@pytest.mark.parametrize("query", [{"iss": "http://127.0.0.1:1", "sid": "s"}, {"sid": "s"}, {"iss": "ISSUER"}],
                         ids=["another-issuer", "no-iss", "no-sid"])
def test_front_channel_page_refuses_what_its_provider_did_not_send(seeded: Demo, query: dict[str, str]) -> None:
    first, _second = seeded.portals
    query = {k: (seeded.server.url if v == "ISSUER" else v) for k, v in query.items()}
    response = seeded.apps[0].test_client().get(first.frontchannel_logout_uri + "?" + urlencode(query))
    assert response.status_code == 400
    assert response.headers["Content-Security-Policy"].endswith(f"frame-ancestors {seeded.server.url}")


def test_return_from_logout_with_a_state_it_did_not_send_is_refused(seeded: Demo) -> None:
    first, _second = seeded.portals
    page = seeded.browser().go(first.home + "?state=forged")
    assert page.status == 400 and "không khớp" in page.body


def _logout_token(seeded: Demo, changes: dict[str, Any], *, typ: str = "logout+jwt") -> str:
    """A logout token signed by the live provider's key, with ``changes`` (None removes a claim)."""
    now = int(time.time())
    claims = {"iss": seeded.server.url, "aud": seeded.portals[0].client.client_id, "iat": now, "exp": now + 120,
              "jti": f"jti-{time.monotonic_ns()}", "sub": "s-1", "sid": "sid-1", "events": {BACKCHANNEL_EVENT: {}}}
    claims.update(changes)
    with seeded.server.app.app_context():
        return keys.sign({k: v for k, v in claims.items() if v is not None}, typ=typ)


def _post_logout_token(seeded: Demo, token: str) -> Any:
    return seeded.apps[0].test_client().post(seeded.portals[0].backchannel_logout_uri, data={"logout_token": token})


@pytest.mark.parametrize("names", [("sid",), ("sub",), ("sid", "sub")], ids=["sid", "sub", "both"])
def test_back_channel_token_ends_the_portal_session_once(seeded: Demo, names: tuple[str, ...]) -> None:
    first, _second = seeded.portals
    browser = seeded.browser()
    page = browser.submit(browser.go(first.home + "login"), identifier=demo.DEMO_ID_NUMBER, password=seeded.password)
    claims = {name: page.claim(name) for name in ("sid", "sub")}
    token = _logout_token(seeded, {name: (claims[name] if name in names else None) for name in ("sid", "sub")})
    assert _post_logout_token(seeded, token).status_code == 200
    assert "qua back-channel" in browser.go(first.home).body
    replayed = _post_logout_token(seeded, token)  # Back-Channel Logout §2.6: jti not seen before
    assert replayed.status_code == 400 and replayed.json["error"] == "invalid_request"
    assert replayed.headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize("changes", [
    {"iss": "http://127.0.0.1:1"}, {"aud": "demo-quan-ly-van-ban"}, {"events": None},
    {"events": {"http://schemas.openid.net/event/other": {}}}, {"events": {BACKCHANNEL_EVENT: "yes"}},
    {"nonce": "n-1"}, {"sub": None, "sid": None}, {"exp": int(time.time()) - 3600}, {"iat": None},
    {"iat": int(time.time()) + 3600}, {"jti": None},
], ids=["iss", "aud", "no-events", "other-event", "event-not-object", "nonce", "no-sub-no-sid", "expired",
       "no-iat", "future-iat", "no-jti"])
def test_back_channel_refuses_an_invalid_logout_token(seeded: Demo, changes: dict[str, Any]) -> None:
    response = _post_logout_token(seeded, _logout_token(seeded, changes))
    assert response.status_code == 400 and response.json["error"] == "invalid_request"


def test_back_channel_refuses_a_token_that_is_not_a_logout_token(seeded: Demo) -> None:
    portal = seeded.portals[0]
    client = seeded.apps[0].test_client()
    stranger = RSAKey.generate_key(2048, parameters={"kid": "not-published"})
    now = int(time.time())
    forged = jwt.encode({"alg": "RS256", "kid": "not-published", "typ": "logout+jwt"},
                        {"iss": seeded.server.url, "aud": portal.client.client_id, "iat": now, "exp": now + 120,
                         "jti": "j-1", "sid": "sid-1", "events": {BACKCHANNEL_EVENT: {}}}, stranger)
    for token in (forged, _logout_token(seeded, {}, typ="JWT"), "not-a-jwt"):
        assert _post_logout_token(seeded, token).status_code == 400
    assert client.post(portal.backchannel_logout_uri).status_code == 400
    assert client.post(portal.backchannel_logout_uri, data={"logout_token": ["a", "b"]}).status_code == 400


def test_ended_sessions_are_remembered_within_bounds(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [1_000_000.0]
    monkeypatch.setattr(single_logout.time, "time", lambda: clock[0])
    ended = single_logout.EndedSessions(limit=2)
    for sid in ("a", "b", "c"):
        ended.end(single_logout.LogoutNotice(sub=None, sid=sid), "back-channel")
    assert ended.ended(sid="a", sub="s", signed_in_at=0) is None  # the oldest, dropped when full
    assert ended.ended(sid="c", sub="s", signed_in_at=0).how == "back-channel"
    # A notice naming only the person ends the sessions that started before it, not a later one.
    ended.end(single_logout.LogoutNotice(sub="s", sid=None), "back-channel")
    assert ended.ended(sid="x", sub="s", signed_in_at=clock[0] - 1) is not None
    assert ended.ended(sid="x", sub="s", signed_in_at=clock[0] + 1) is None
    # Forgotten once the cookies they refuse have expired anyway.
    clock[0] += single_logout.SESSION_LIFETIME_SECONDS + 1
    assert ended.ended(sid="c", sub="s", signed_in_at=0) is None


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
        # Single logout, both ways, on the portals' own origins.
        for row, home in zip(rows, ("http://127.0.0.1:5001/", "http://127.0.0.1:5002/"), strict=True):
            assert row.post_logout_redirect_uris == [home]
            assert row.backchannel_logout_uri == home + "backchannel-logout"
            assert row.frontchannel_logout_uri == home + "frontchannel-logout"
            assert row.backchannel_logout_session_required and row.frontchannel_logout_session_required


def test_portal_refuses_an_id_token_signed_with_a_key_the_provider_does_not_publish(seeded: Demo) -> None:
    client = seeded.portals[0].client
    stranger = RSAKey.generate_key(2048, parameters={"kid": "not-published"})
    forged = jwt.encode({"alg": "RS256", "kid": "not-published"}, _claims(seeded.server, client.client_id, {}),
                        stranger)
    with pytest.raises(relying_party.SignInFailed):
        relying_party.verify_id_token(relying_party.Provider(seeded.server.url), client, forged, "n-1")
