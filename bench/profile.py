"""Where the time of a hot request goes: pyinstrument profiles of the token endpoint (client_credentials,
code exchange, refresh), userinfo (one token presented again, and many tokens in turn),
introspection, an SSO authorization and a whole sign-in flow.

    make bench-profile                  # or: .venv/bin/python -m bench.profile [--calls 2000]

A SQLite database is seeded as for ``make bench`` (bench/seed.py) and tokens are obtained over HTTP
from the production server (a real sign-in), which is then stopped. The app is then called in
process, straight through its WSGI interface (no HTTP server, no test client in between), with its
thread keeping a database connection as a serving worker's do, so the profile shows the app's own
work; the server's share is in ``make bench``'s figures. Each profile is written as text to
bench/profiles/<scenario>.txt, with the mean time per call, for the issue notes.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import itertools
import json
import secrets
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from flask import Flask
from pyinstrument import Profiler
from werkzeug.test import EnvironBuilder

from idp import create_app, storage
from tests.helpers.slapd import free_port

from . import flows, seed, servers
from .keepalive import Connection, Response
from .report import interpreter
from .targets import MANY_TOKENS

PROFILES_DIR = Path(__file__).resolve().parent / "profiles"


class Caller:
    """Calls the app's WSGI interface directly with a prepared request."""

    def __init__(self, app: Flask, issuer: str) -> None:
        self.app = app
        self.issuer = issuer

    def __call__(self, method: str, path: str, *, form: dict[str, str] | None = None,
                 headers: dict[str, str] | None = None) -> tuple[str, bytes]:
        status, _headers, body = self.full(method, path, form=form, headers=headers)
        return status, body

    def full(self, method: str, path: str, *, form: dict[str, str] | None = None,
             headers: dict[str, str] | None = None) -> tuple[str, dict[str, str], bytes]:
        """Status line, headers (lower-case names, repeated ones joined by newlines) and body."""
        environ = EnvironBuilder(path=path, base_url=self.issuer, method=method, data=form,
                                 headers=headers).get_environ()
        started: list[tuple[str, list[tuple[str, str]]]] = []
        body = self.app(environ, lambda s, h, exc=None: started.append((s, h)))
        try:
            content = b"".join(body)
        finally:
            getattr(body, "close", lambda: None)()
        status, header_list = started[0]
        joined: dict[str, str] = {}
        for name, value in header_list:
            key = name.lower()
            joined[key] = f"{joined[key]}\n{value}" if key in joined else value
        return status, joined, content


class InProcessBrowser(Connection):
    """A bench.keepalive connection whose requests go straight to the app's WSGI interface, so the
    same flow driver (bench/flows.py) can be profiled in process."""

    def __init__(self, caller: Caller) -> None:
        super().__init__("127.0.0.1", 0)
        self.caller = caller

    async def request(self, method: str, target: str, *, form: dict[str, str] | None = None,
                      headers: dict[str, str] | None = None) -> Response:
        sent = dict(headers or {})
        if self.cookies:
            sent["Cookie"] = self.cookie_header()
        status, response_headers, body = self.caller.full(method, target, form=form, headers=sent)
        response = Response(int(status.split()[0]), response_headers, body)
        self._keep_cookies(response_headers.get("set-cookie", ""))
        return response


async def _tokens(port: int, clients: seed.Clients, citizen: flows.User) -> dict[str, Any]:
    browser, backend = Connection("127.0.0.1", port), Connection("127.0.0.1", port)
    try:
        discovery = json.loads((await backend.request("GET", "/.well-known/openid-configuration")).body)
        provider = flows.Provider.from_discovery(discovery)
        code, verifier = await flows.authorize(browser, provider, clients.portal, citizen)
        return await flows.exchange(backend, provider, clients.portal, code, verifier)
    finally:
        browser.close()
        backend.close()


@contextlib.contextmanager
def prepared(work: Path) -> Iterator[tuple[Flask, str, seed.Clients, dict[str, Any], flows.User]]:
    clients = seed.Clients.generate()
    port = free_port()
    issuer = f"http://127.0.0.1:{port}"
    config = {"IDP_DATABASE_URL": f"sqlite:///{work / 'profile.db'}", "IDP_INSTANCE_PATH": str(work / "instance"),
              "IDP_SECRET_KEY": secrets.token_urlsafe(32), "IDP_DATA_KEY": secrets.token_urlsafe(32),
              "IDP_ISSUER": issuer}
    people = seed.seed(config, clients, totp_people=0, officials=0)
    with open(work / "server.log", "wb") as log:
        server = servers.start_dangnhap("dangnhap", port, config, workers=1, threads=1, log=log)
        try:
            tokens = asyncio.run(_tokens(port, clients, people.citizen))
        finally:
            server.stop()
    app = create_app(config)
    storage.keep_connections(True)  # as in a serving worker (idp/serve.py)
    try:
        yield app, issuer, clients, tokens, people.citizen
    finally:
        storage.keep_connections(False)


def scenarios(call: Caller, clients: seed.Clients, tokens: dict[str, Any], citizen: flows.User,
              calls: int) -> dict[str, Callable[[], str]]:
    refresh_token = tokens["refresh_token"]
    provider = flows.Provider(f"{call.issuer}/authorize", f"{call.issuer}/token")

    def client_credentials() -> str:
        return call("POST", "/token", form={"grant_type": "client_credentials"},
                    headers=clients.cc_rs256.auth_headers())[0]

    def refreshed() -> tuple[str, dict[str, Any]]:
        """A refresh of the one grant's token chain: a refresh token used twice would revoke it."""
        nonlocal refresh_token
        status, body = call("POST", "/token", form={"grant_type": "refresh_token", "refresh_token": refresh_token},
                            headers=clients.portal.auth_headers())
        answer = json.loads(body)
        refresh_token = answer.get("refresh_token", refresh_token)
        return status, answer

    def refresh() -> str:
        return refreshed()[0]

    def userinfo() -> str:
        return call("GET", "/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"})[0]

    # As bench/protocol.py's "many tokens" scenario: each token's signature is verified at each call.
    many = itertools.cycle([refreshed()[1]["access_token"] for _ in range(MANY_TOKENS)])

    def userinfo_many_tokens() -> str:
        return call("GET", "/userinfo", headers={"Authorization": f"Bearer {next(many)}"})[0]

    def introspection() -> str:
        return call("POST", "/introspect", form={"token": tokens["access_token"]},
                    headers=clients.portal.auth_headers())[0]

    def sign_in() -> str:
        """A citizen's complete flow, as bench/protocol.py runs it: a new browser, the code exchanged."""
        async def flow() -> None:
            browser = InProcessBrowser(call)
            code, verifier = await flows.authorize(browser, provider, clients.portal, citizen)
            await flows.exchange(InProcessBrowser(call), provider, clients.portal, code, verifier)

        asyncio.run(flow())
        return "200 OK"

    signed_in = InProcessBrowser(call)
    asyncio.run(flows.authorize(signed_in, provider, clients.portal, citizen))

    minted: list[tuple[str, str]] = []

    def code_exchange() -> str:
        """A code redeemed, as bench/protocol.py's scenario does. The codes come from the SSO session,
        all at the first (warm-up) call, so that the profile holds the exchanges alone; they live 60 s."""
        if not minted:
            async def mint() -> list[tuple[str, str]]:
                return [await flows.authorize(signed_in, provider, clients.portal, None) for _ in range(calls + 20)]
            minted.extend(asyncio.run(mint()))
        code, verifier = minted.pop()
        return call("POST", "/token", form={"grant_type": "authorization_code", "code": code,
                                            "redirect_uri": clients.portal.redirect_uri, "code_verifier": verifier},
                    headers=clients.portal.auth_headers())[0]

    def sso_authorization() -> str:
        """Another portal's authorization for the signed-in person, answered from the SSO session."""
        asyncio.run(flows.authorize(signed_in, provider, clients.portal, None))
        return "200 OK"

    return {"token-client_credentials": client_credentials, "token-code-exchange": code_exchange,
            "token-refresh": refresh, "userinfo": userinfo,
            "userinfo-many-tokens": userinfo_many_tokens, "introspection": introspection,
            "sso-authorization": sso_authorization, "citizen-sign-in-flow": sign_in}


def profile(name: str, request: Callable[[], str], calls: int) -> str:
    for _ in range(min(20, calls)):  # warm caches, as a running worker has them
        if not (status := request()).startswith("200"):
            raise RuntimeError(f"{name}: {status}")
    profiler = Profiler(interval=0.0005)
    started = time.perf_counter()
    with profiler:
        for _ in range(calls):
            request()
    mean_us = (time.perf_counter() - started) / calls * 1e6
    header = (f"# {name}: {calls} calls in process (WSGI, SQLite), mean {mean_us:.0f} µs per call under the "
              f"profiler\n# {datetime.now().astimezone():%Y-%m-%d %H:%M %z}, python -m bench.profile under "
              f"Python {interpreter()}\n\n")
    return header + profiler.output_text(unicode=True, color=False, show_all=False)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=2000, help="calls per profile (default 2000)")
    args = parser.parse_args(argv)
    PROFILES_DIR.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="dangnhap-profile-") as tmp, \
            contextlib.redirect_stderr(io.StringIO()) as quiet:
        try:
            with prepared(Path(tmp)) as (app, issuer, clients, tokens, citizen):
                for name, request in scenarios(Caller(app, issuer), clients, tokens, citizen, args.calls).items():
                    calls = args.calls if name != "citizen-sign-in-flow" else max(1, args.calls // 20)
                    text = profile(name, request, calls)
                    (PROFILES_DIR / f"{name}.txt").write_text(text)
                    print(text.splitlines()[0], file=sys.stdout)
        except Exception:
            sys.stderr.write(quiet.getvalue())
            raise
    return 0


if __name__ == "__main__":
    sys.exit(main())
