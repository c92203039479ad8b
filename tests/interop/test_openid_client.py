"""Interoperability: openid-client (panva's certified relying-party library) against a live server.

Our own tests read our own responses with our own assumptions. openid-client was written by someone
else to the specifications and is OpenID certified: when it completes discovery, the code flow with
PKCE, ID token validation (signature against our JWKS, iss, aud, nonce), the RFC 9207 ``iss`` check,
UserInfo, refresh, introspection (RFC 7662), revocation (RFC 7009) and RP-initiated logout, real
relying parties can too. The Node side is tests/interop/rp.mjs; it prints what it observed as one JSON
object, which the tests below judge. What the library raised when the provider refused something is
an observation too, reported as ``{"name": <openid-client error class>, "error": <code>, "status": ...}``.

Nothing here is skipped: without Node or the installed package the tests fail, since a missing
interop run must not pass for a successful one. ``make test`` installs the package (npm ci).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

from idp.identity import accounts
from idp.oidc import client_registry
from tests.conftest import DEFAULT_PASSWORD
from tests.helpers.live_server import LiveServer, live_server  # noqa: F401

INTEROP_DIR = Path(__file__).resolve().parent
RP_SCRIPT = INTEROP_DIR / "rp.mjs"
# Never requested: rp.mjs stops at the redirect, and fetch refuses port 9 (discard) anyway.
REDIRECT_URI = "http://127.0.0.1:9/callback"
POST_LOGOUT_REDIRECT_URI = "http://127.0.0.1:9/signed-out"
SCOPE = "openid profile email phone address"
ID_NUMBER = "038090123456"
RP_TIMEOUT_SECONDS = 60
MIN_NODE_MAJOR = 20  # global fetch and WebCrypto, which openid-client 6 uses

# The refusals, as openid-client raises them for our answers.
INVALID_TOKEN = {"name": "WWWAuthenticateChallengeError", "error": "invalid_token", "status": 401}  # RFC 6750 §3.1
INVALID_GRANT = {"name": "ResponseBodyError", "error": "invalid_grant", "status": 400}  # RFC 6749 §5.2
# RFC 7662 §2.1: introspection requires client authentication; a public client has none to give.
INVALID_CLIENT = {"name": "WWWAuthenticateChallengeError", "error": "invalid_client", "status": 401}
# OIDC Core §3.1.2.6, sent to the redirect URI (openid-client checked its iss and state first).
LOGIN_REQUIRED = {"name": "AuthorizationResponseError", "error": "login_required", "status": None}
INACTIVE = {"active": False}  # RFC 7662 §2.2: nothing more is said of an inactive token


@dataclass(frozen=True)
class Person:
    sub: str
    identifier: str
    password: str


@dataclass(frozen=True)
class Expected:
    """What the observations must say, for one client of one live server."""

    issuer: str
    client_id: str
    person: Person
    confidential: bool  # only a confidential client may introspect
    access_token_lifetime: int
    refresh_token_lifetime: int

    @classmethod
    def of(cls, server: LiveServer, client_id: str, person: Person, *, confidential: bool) -> Expected:
        config = server.app.config
        return cls(server.url, client_id, person, confidential, config["IDP_ACCESS_TOKEN_LIFETIME_SECONDS"],
                   config["IDP_REFRESH_TOKEN_LIFETIME_SECONDS"])


@pytest.fixture
def citizen(live_server: LiveServer) -> Person:  # noqa: F811
    """The person who signs in: the ID token must name them by ``sub``, never by their ID number."""
    with live_server.app.app_context():
        subject = accounts.create_citizen(id_number_text=ID_NUMBER, full_name="Nguyễn Văn An",
                                          password=DEFAULT_PASSWORD, email="an@example.vn", phone="0912345678",
                                          address="12 Lê Lợi, phường Điện Biên, Thanh Hóa")
        return Person(sub=subject.sub, identifier=ID_NUMBER, password=DEFAULT_PASSWORD)


def _register_client(server: LiveServer, *, client_secret: str | None = None, **metadata: Any) -> str:
    """A first-party client (no consent page) allowed to refresh; returns its client_id."""
    with server.app.app_context():
        client, _secret = client_registry.register(
            {"client_name": "Cổng thử nghiệm", "redirect_uris": [REDIRECT_URI],
             "post_logout_redirect_uris": [POST_LOGOUT_REDIRECT_URI],
             "grant_types": ["authorization_code", "refresh_token"], "scope": SCOPE, "skip_consent": True,
             **metadata},
            client_secret=client_secret)
        return client.client_id


def _node() -> str:
    """The Node.js executable, once everything rp.mjs needs is known to be there; else the test fails."""
    node = shutil.which("node")
    if node is None:
        pytest.fail("Node.js is not installed: the openid-client interop test needs it; run `make test`, "
                    "which installs nodejs and npm on Debian when run as root")
    version = subprocess.run([node, "--version"], capture_output=True, text=True, check=False).stdout.strip()
    if int(version.removeprefix("v").split(".")[0] or 0) < MIN_NODE_MAJOR:
        pytest.fail(f"openid-client 6 needs Node.js {MIN_NODE_MAJOR} or newer, not {version or 'unknown'}")
    if not (INTEROP_DIR / "node_modules" / "openid-client").is_dir():
        pytest.fail("openid-client is not installed in tests/interop/node_modules: run `make test` "
                    "(or `npm ci --prefix tests/interop`)")
    return node


def _run_relying_party(issuer: str, client_id: str, client_secret: str, person: Person) -> dict[str, Any]:
    """Run rp.mjs and return its observations; any failure on the Node side fails the test, verbatim."""
    node = _node()
    env = {**os.environ, "ISSUER": issuer, "CLIENT_ID": client_id, "CLIENT_SECRET": client_secret,
           "REDIRECT_URI": REDIRECT_URI, "POST_LOGOUT_REDIRECT_URI": POST_LOGOUT_REDIRECT_URI,
           "USERNAME": person.identifier, "PASSWORD": person.password}
    try:
        completed = subprocess.run([node, str(RP_SCRIPT)], env=env, cwd=INTEROP_DIR, capture_output=True,
                                   encoding="utf-8", timeout=RP_TIMEOUT_SECONDS, check=False)
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"rp.mjs did not finish in {RP_TIMEOUT_SECONDS} s; stderr:\n{exc.stderr}")
    try:
        result = json.loads(completed.stdout)
    except json.JSONDecodeError:
        pytest.fail(f"rp.mjs exited {completed.returncode} without a JSON answer\n"
                    f"stdout:\n{completed.stdout}\nstderr:\n{completed.stderr}")
    if completed.returncode != 0 or "error" in result:
        pytest.fail(f"openid-client failed at {result.get('error')}\n"
                    f"{json.dumps(result, indent=2, ensure_ascii=False)}\nstderr:\n{completed.stderr}")
    return result


def _assert_code_flow_interoperates(result: dict[str, Any], expected: Expected) -> None:
    """What openid-client saw; the checks it made itself (signature, nonce, state, iss) already passed."""
    issuer, client_id, person = expected.issuer, expected.client_id, expected.person
    assert result["issuer"] == issuer
    assert result["authorization_response_iss_parameter_supported"] is True
    assert {"code", "state", "iss"} <= set(result["callback_parameters"])  # RFC 9207

    header, claims = result["id_token_header"], result["id_token_claims"]
    assert header["alg"] == "RS256" and header.get("kid")
    assert claims["iss"] == issuer
    assert claims["sub"] == person.sub != ID_NUMBER  # our own identifier, never the ID number
    assert claims["aud"] in (client_id, [client_id])
    assert claims.get("nonce") and claims.get("at_hash")
    assert result["at_hash_matches"] is True  # OIDC Core §3.1.3.6, checked by rp.mjs

    userinfo = result["userinfo"]
    assert userinfo["sub"] == claims["sub"]
    assert userinfo["name"] == "Nguyễn Văn An"
    assert userinfo["email"] == "an@example.vn"
    assert result["userinfo_again"] == userinfo  # answered past Flask's request cycle, the same

    refresh = result["refresh"]
    assert refresh["new_refresh_token"] is True  # rotated
    assert refresh["id_token"] is True
    assert refresh["id_token_claims"]["sub"] == claims["sub"]  # OIDC Core §12.2
    assert refresh["reused_refresh_token_error"] == INVALID_GRANT  # RFC 6749 §5.2, RFC 9700 §4.14.2


def _assert_active(body: dict[str, Any] | None, expected: Expected, sid: str, *, access_token: bool) -> None:
    """RFC 7662 §2.2: active, naming the person, the client, the scope and the session; valid for exactly
    the token's lifetime. An access token also says its type (§2.2) and its audience and jti (RFC 9068)."""
    assert body is not None
    body = dict(body)
    lifetime = body.pop("exp") - body.pop("iat")
    wanted = {"active": True, "iss": expected.issuer, "client_id": expected.client_id, "sub": expected.person.sub,
              "scope": SCOPE, "sid": sid}
    if access_token:
        jti = body.pop("jti")
        assert isinstance(jti, str) and jti
        wanted |= {"token_type": "Bearer", "aud": expected.client_id}
        assert lifetime == expected.access_token_lifetime
    else:
        assert lifetime == expected.refresh_token_lifetime  # no token_type: a refresh token has none
    assert body == wanted


def _assert_introspected(observed: dict[str, Any], expected: Expected, sid: str, *, access_token_active: bool,
                         refresh_token_active: bool) -> None:
    """``observed`` holds the introspection of a grant's two tokens, or None for each when the client
    is public (it may not introspect)."""
    for kind, active in (("access_token", access_token_active), ("refresh_token", refresh_token_active)):
        if not expected.confidential:
            assert observed[kind] is None
        elif active:
            _assert_active(observed[kind], expected, sid, access_token=kind == "access_token")
        else:
            assert observed[kind] == INACTIVE


def _assert_revocation_interoperates(result: dict[str, Any], expected: Expected) -> None:
    """A second grant of the session: introspected, then its access token and its refresh token revoked."""
    revocation, sid = result["revocation"], result["id_token_claims"]["sid"]
    assert revocation["sid"] == sid  # the same session, signed in without a form
    assert revocation["introspection_refused"] == (None if expected.confidential else INVALID_CLIENT)

    _assert_introspected(revocation["before"], expected, sid, access_token_active=True, refresh_token_active=True)

    # RFC 7009 §2.1: the access token is dead at once, for UserInfo as for a resource server; its
    # refresh token lives on (the server's choice, idp/oidc/revocation.py).
    after = revocation["after_access_token"]
    _assert_introspected(after, expected, sid, access_token_active=False, refresh_token_active=True)
    assert after["userinfo_refused"] == INVALID_TOKEN

    after = revocation["after_refresh_token"]
    _assert_introspected(after, expected, sid, access_token_active=False, refresh_token_active=False)
    assert after["refresh_refused"] == INVALID_GRANT


def _assert_rp_initiated_logout_interoperates(result: dict[str, Any], expected: Expected) -> None:
    """A third grant of the session, then RP-initiated logout with its ID token as the hint."""
    logout, sid = result["logout"], result["id_token_claims"]["sid"]
    assert logout["sid"] == sid

    before = logout["before"]
    _assert_introspected(before, expected, sid, access_token_active=True, refresh_token_active=True)
    assert before["userinfo_refused"] is None  # UserInfo answered

    # RP-Initiated Logout §2: a hint naming the person signed in ends the session without asking;
    # §3: the browser goes straight to the registered post_logout_redirect_uri, with the state.
    end_session = logout["end_session"]
    state = end_session["state"]
    assert state
    assert end_session == {
        "parameters": ["client_id", "id_token_hint", "post_logout_redirect_uri", "state"],
        "state": state,
        "status": 302,
        "location": f"{POST_LOGOUT_REDIRECT_URI}?{urlencode({'state': state})}",
        "page": None,
    }

    # The session is gone (the browser's cookie with it), and so are the grants made within it.
    assert logout["prompt_none_refused"] == LOGIN_REQUIRED
    after = logout["after"]
    _assert_introspected(after, expected, sid, access_token_active=False, refresh_token_active=False)
    assert after["userinfo_refused"] == INVALID_TOKEN
    assert after["refresh_refused"] == INVALID_GRANT  # not a reuse: this refresh token was never used


def test_confidential_client_interoperates_from_sign_in_to_logout(
        live_server: LiveServer, citizen: Person) -> None:  # noqa: F811
    secret = secrets.token_urlsafe(32)  # 43 characters
    client_id = _register_client(live_server, client_secret=secret)
    result = _run_relying_party(live_server.url, client_id, secret, citizen)
    expected = Expected.of(live_server, client_id, citizen, confidential=True)
    _assert_code_flow_interoperates(result, expected)
    _assert_revocation_interoperates(result, expected)
    _assert_rp_initiated_logout_interoperates(result, expected)


def test_public_client_with_pkce_interoperates_from_sign_in_to_logout(
        live_server: LiveServer, citizen: Person) -> None:  # noqa: F811
    client_id = _register_client(live_server, token_endpoint_auth_method="none")
    result = _run_relying_party(live_server.url, client_id, "", citizen)
    expected = Expected.of(live_server, client_id, citizen, confidential=False)
    _assert_code_flow_interoperates(result, expected)
    _assert_revocation_interoperates(result, expected)
    _assert_rp_initiated_logout_interoperates(result, expected)
