"""The benchmark's flow driver (bench/flows.py over bench/keepalive.py) against a live dangnhap: the
steps `make bench` times must be the real flow, ending in real tokens, or its figures mean nothing."""

from __future__ import annotations

import asyncio
import time
from urllib.parse import parse_qs, urlsplit

import pytest

from bench import flows, seed
from bench.keepalive import Connection
from idp.identity import accounts
from idp.mfa import totp
from idp.oidc import client_registry, keys
from tests.conftest import DEFAULT_PASSWORD, new_id_number
from tests.helpers.live_server import LiveServer, live_server  # noqa: F401


@pytest.fixture
def bench_setup(live_server: LiveServer) -> tuple[seed.Clients, flows.User, flows.User]:  # noqa: F811
    """The benchmark's clients, a citizen, and a citizen with TOTP."""
    clients = seed.Clients.generate()
    with live_server.app.app_context():
        client_registry.import_clients(clients.metadata(), actor="test")
        number, with_totp = new_id_number(), new_id_number()
        accounts.create_citizen(id_number_text=number, full_name="Lê Văn Đo", password=DEFAULT_PASSWORD)
        subject = accounts.create_citizen(id_number_text=with_totp, full_name="Lê Thị Tải", password=DEFAULT_PASSWORD)
        uri, _codes = totp.provision(subject, subject.sub)
    secret = parse_qs(urlsplit(uri).query)["secret"][0]
    return clients, flows.User(number, DEFAULT_PASSWORD), flows.User(with_totp, DEFAULT_PASSWORD, secret)


def _run(server: LiveServer, scenario):  # type: ignore[no-untyped-def]
    port = int(server.url.rsplit(":", 1)[1])
    browser, backend = Connection("127.0.0.1", port), Connection("127.0.0.1", port)
    provider = flows.Provider(f"{server.url}/authorize", f"{server.url}/token")
    try:
        return asyncio.run(scenario(browser, backend, provider))
    finally:
        browser.close()
        backend.close()


def test_sign_in_exchange_single_sign_on_and_refresh(live_server: LiveServer, bench_setup) -> None:  # noqa: F811
    clients, citizen, _ = bench_setup

    async def scenario(browser: Connection, backend: Connection, provider: flows.Provider):  # type: ignore[no-untyped-def]
        code, verifier = await flows.authorize(browser, provider, clients.portal, citizen)
        first = await flows.exchange(backend, provider, clients.portal, code, verifier)
        # Signed in now: the next authorization needs no password (how the code-exchange scenario mints).
        code, verifier = await flows.authorize(browser, provider, clients.public, None)
        public = await flows.exchange(backend, provider, clients.public, code, verifier)
        rotated = await flows.refresh(backend, provider, clients.public, public["refresh_token"])
        return first, public, rotated

    first, public, rotated = _run(live_server, scenario)
    with live_server.app.app_context():
        assert keys.verify(first["access_token"], typ="at+jwt")["client_id"] == clients.portal.client_id
    assert rotated["refresh_token"] != public["refresh_token"]


def test_totp_sign_in_fills_in_the_code(live_server: LiveServer, bench_setup) -> None:  # noqa: F811
    clients, _, with_totp = bench_setup
    step = int(time.time() // 30)

    async def scenario(browser: Connection, backend: Connection, provider: flows.Provider):  # type: ignore[no-untyped-def]
        code, verifier = await flows.authorize(browser, provider, clients.portal, with_totp, totp_step=step)
        return await flows.exchange(backend, provider, clients.portal, code, verifier)

    answer = _run(live_server, scenario)
    with live_server.app.app_context():
        assert "otp" in keys.verify(answer["id_token"])["amr"]


def test_a_refused_password_is_a_flow_error(live_server: LiveServer, bench_setup) -> None:  # noqa: F811
    clients, citizen, _ = bench_setup
    wrong = flows.User(citizen.login, "not-the-password")

    async def scenario(browser: Connection, backend: Connection, provider: flows.Provider):  # type: ignore[no-untyped-def]
        return await flows.authorize(browser, provider, clients.portal, wrong)

    with pytest.raises(flows.FlowError):
        _run(live_server, scenario)
