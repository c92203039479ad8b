"""Client authentication at the token endpoint (RFC 6749 §2.3, §3.2.1, §5.2; RFC 7523 §3; OIDC Core §9)
and the token endpoint's own HTTP rules."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import quote

import pytest
from flask import Flask
from flask.testing import FlaskClient

from idp.oidc import client_registry
from tests.helpers.jwt_client import (
    ClientKey,
    assertion_claims,
    assertion_form,
    b64,
    client_key,
    header_of,
)
from tests.helpers.oidc import REDIRECT_URI, RegisteredClient, code_flow, exchange, pkce, register_client

CLIENT_CREDENTIALS = {"grant_type": "client_credentials"}



@pytest.fixture
def machine(app) -> RegisteredClient:  # type: ignore[no-untyped-def]
    """A confidential client of the default method, client_secret_basic."""
    return register_client(grant_types=["client_credentials"], redirect_uris=[], scope="profile")


@pytest.fixture
def token_url(app: Flask) -> str:
    return app.config["IDP_ISSUER"] + "/token"


def _basic(client_id: str, secret: str) -> dict[str, str]:
    # RFC 6749 §2.3.1: both are form-urlencoded before the Basic encoding.
    raw = f"{quote(client_id, safe='')}:{quote(secret, safe='')}".encode()
    return {"Authorization": "Basic " + base64.b64encode(raw).decode()}


def _assert_invalid_client(response, *, header_used: bool = False) -> None:  # type: ignore[no-untyped-def]
    """RFC 6749 §5.2: invalid_client; 401 with a matching challenge when the Authorization header was used."""
    assert response.json["error"] == "invalid_client", response.json
    if header_used:
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"].startswith("Basic")
    else:
        assert response.status_code in (400, 401)
    assert "access_token" not in response.json


def _jwt_client(key: ClientKey, **metadata) -> RegisteredClient:  # type: ignore[no-untyped-def]
    metadata.setdefault("grant_types", ["client_credentials"])
    metadata.setdefault("redirect_uris", [])
    metadata.setdefault("scope", "profile")
    return register_client(token_endpoint_auth_method="private_key_jwt", jwks=key.jwks(), **metadata)


def _with_assertion(client: FlaskClient, assertion: str, **form: str):  # type: ignore[no-untyped-def]
    return client.post("/token", data={**CLIENT_CREDENTIALS, **assertion_form(assertion), **form})


# --- client_secret_basic -----------------------------------------------------------------------------------

def test_client_secret_basic(client: FlaskClient, machine) -> None:
    response = client.post("/token", data=CLIENT_CREDENTIALS, headers=machine.basic_auth())
    assert response.status_code == 200, response.json
    assert response.json["token_type"] == "Bearer"


def test_basic_credentials_are_form_urlencoded(client: FlaskClient) -> None:
    secret = "p@ss:w%rd+with/odd=chars&more-than-32-characters"
    row, _ = client_registry.register({"client_name": "Máy chủ", "grant_types": ["client_credentials"],
                                       "scope": "profile"}, client_secret=secret)
    response = client.post("/token", data=CLIENT_CREDENTIALS, headers=_basic(row.client_id, secret))
    assert response.status_code == 200, response.json


def test_wrong_secret_is_invalid_client_with_a_basic_challenge(client: FlaskClient, machine) -> None:
    response = client.post("/token", data=CLIENT_CREDENTIALS, headers=_basic(machine.client_id, "not-the-secret"))
    _assert_invalid_client(response, header_used=True)


def test_unknown_client_is_invalid_client(client: FlaskClient, machine) -> None:
    response = client.post("/token", data=CLIENT_CREDENTIALS, headers=_basic("nobody", machine.secret))
    _assert_invalid_client(response, header_used=True)


def test_disabled_client_is_invalid_client(client: FlaskClient, machine) -> None:
    client_registry.set_enabled(machine.client_id, False)
    _assert_invalid_client(client.post("/token", data=CLIENT_CREDENTIALS, headers=machine.basic_auth()),
                           header_used=True)


@pytest.mark.parametrize("credentials", [
    "!!!not-base64",
    "\xff\xfe",  # bytes that are not ASCII, as a WSGI server hands them over (latin-1)
    base64.b64encode(b"\xff:\xfe").decode(),  # base64, but not of UTF-8
])
@pytest.mark.parametrize("path", ["/token", "/introspect", "/revoke"])
def test_malformed_basic_header_is_invalid_client(client: FlaskClient, machine, credentials: str, path: str) -> None:
    data = {**CLIENT_CREDENTIALS, "token": "x"} if path != "/token" else CLIENT_CREDENTIALS
    response = client.post(path, data=data, headers={"Authorization": f"Basic {credentials}"})
    _assert_invalid_client(response, header_used=True)


def test_no_client_authentication_is_invalid_client(client: FlaskClient, machine) -> None:
    _assert_invalid_client(client.post("/token", data=CLIENT_CREDENTIALS))


def test_post_registered_client_using_basic_is_invalid_client(client: FlaskClient) -> None:
    rp = register_client(token_endpoint_auth_method="client_secret_post", grant_types=["client_credentials"],
                         redirect_uris=[], scope="profile")
    _assert_invalid_client(client.post("/token", data=CLIENT_CREDENTIALS, headers=rp.basic_auth()),
                           header_used=True)


def test_two_authentication_methods_at_once_is_invalid_request(client: FlaskClient, machine) -> None:
    response = client.post("/token", headers=machine.basic_auth(), data={
        **CLIENT_CREDENTIALS, "client_id": machine.client_id, "client_secret": machine.secret})
    # RFC 6749 §2.3: "The client MUST NOT use more than one authentication method in each request";
    # §5.2: such a request is invalid_request.
    assert response.status_code == 400 and response.json["error"] == "invalid_request"


# --- client_secret_post ------------------------------------------------------------------------------------

def test_client_secret_post(client: FlaskClient, citizen) -> None:
    rp = register_client(token_endpoint_auth_method="client_secret_post", skip_consent=True)
    _, answer = code_flow(client, rp, citizen)
    response = exchange(client, rp, answer["code"], client_id=rp.client_id, client_secret=rp.secret)
    assert response.status_code == 200, response.json
    assert response.json["id_token"]


def test_basic_registered_client_using_post_is_invalid_client(client: FlaskClient, machine) -> None:
    response = client.post("/token", data={**CLIENT_CREDENTIALS, "client_id": machine.client_id,
                                           "client_secret": machine.secret})
    _assert_invalid_client(response)


def test_post_with_wrong_secret_is_invalid_client(client: FlaskClient) -> None:
    rp = register_client(token_endpoint_auth_method="client_secret_post", grant_types=["client_credentials"],
                         redirect_uris=[], scope="profile")
    response = client.post("/token", data={**CLIENT_CREDENTIALS, "client_id": rp.client_id,
                                           "client_secret": rp.secret + "x"})
    _assert_invalid_client(response)


# --- private_key_jwt (RFC 7523 §2.2, §3; OIDC Core §9) --------------------------------------------------------

@pytest.mark.parametrize("alg", ["RS256", "ES256"])
def test_private_key_jwt_with_the_token_endpoint_as_audience(client: FlaskClient, token_url: str, alg: str) -> None:
    key = client_key(alg)
    rp = _jwt_client(key)
    response = _with_assertion(client, key.sign(assertion_claims(rp.client_id, token_url)))
    assert response.status_code == 200, response.json


def test_private_key_jwt_with_the_issuer_as_audience(app: Flask, client: FlaskClient) -> None:
    key = client_key()
    rp = _jwt_client(key)
    claims = assertion_claims(rp.client_id, app.config["IDP_ISSUER"])
    assert _with_assertion(client, key.sign(claims)).status_code == 200


def test_private_key_jwt_with_an_audience_list(client: FlaskClient, token_url: str) -> None:
    key = client_key()
    rp = _jwt_client(key)
    claims = assertion_claims(rp.client_id, [token_url, "https://someone-else.example"])  # type: ignore[arg-type]
    assert _with_assertion(client, key.sign(claims), client_id=rp.client_id).status_code == 200


def test_private_key_jwt_with_every_advertised_algorithm(client: FlaskClient, token_url: str) -> None:
    advertised = client.get("/.well-known/openid-configuration").json[
        "token_endpoint_auth_signing_alg_values_supported"]
    refused = {}
    for alg in advertised:
        key = client_key(alg)
        rp = _jwt_client(key)
        response = _with_assertion(client, key.sign(assertion_claims(rp.client_id, token_url)))
        if response.status_code != 200:
            refused[alg] = response.json
    # Discovery §3: the algorithms the token endpoint supports for the client's assertion.
    assert refused == {}


def test_private_key_jwt_for_the_code_flow(client: FlaskClient, token_url: str, citizen) -> None:
    key = client_key()
    rp = _jwt_client(key, grant_types=["authorization_code"], redirect_uris=[REDIRECT_URI],
                     scope="openid profile", skip_consent=True)
    _, answer = code_flow(client, rp, citizen, scope="openid")
    response = exchange(client, rp, answer["code"], **assertion_form(key.sign(assertion_claims(rp.client_id,
                                                                                               token_url))))
    assert response.status_code == 200, response.json
    assert response.json["id_token"]


@pytest.fixture
def served_jwks() -> Iterator[tuple[str, list[dict]]]:  # type: ignore[type-arg]
    """A JWK set served over HTTP on a loopback port, as a relying party publishes it at its jwks_uri."""
    keys: list[dict] = []  # type: ignore[type-arg]

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (the http.server naming)
            body = json.dumps({"keys": keys}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/jwks.json", keys
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def test_private_key_jwt_with_keys_at_a_jwks_uri(client: FlaskClient, token_url: str, served_jwks) -> None:
    url, published = served_jwks
    key = client_key()
    published.extend(key.jwks()["keys"])
    rp = register_client(token_endpoint_auth_method="private_key_jwt", jwks_uri=url,
                         grant_types=["client_credentials"], redirect_uris=[], scope="profile")
    response = _with_assertion(client, key.sign(assertion_claims(rp.client_id, token_url)))
    # RFC 7591 §2 / OIDC Registration §2: jwks_uri is where a client's public keys are, as good as jwks.
    assert response.status_code == 200, response.json


def test_replayed_assertion_is_invalid_client(client: FlaskClient, token_url: str) -> None:
    key = client_key()
    rp = _jwt_client(key)
    assertion = key.sign(assertion_claims(rp.client_id, token_url))
    assert _with_assertion(client, assertion).status_code == 200
    # RFC 7523 §3 item 7: the server may keep used jti values to refuse replays; we do.
    _assert_invalid_client(_with_assertion(client, assertion))


def test_replay_is_refused_even_after_a_failed_request(client: FlaskClient, token_url: str) -> None:
    key = client_key()
    rp = _jwt_client(key)
    assertion = key.sign(assertion_claims(rp.client_id, token_url))
    assert _with_assertion(client, assertion, scope="phone").json["error"] == "invalid_scope"
    _assert_invalid_client(_with_assertion(client, assertion))


def test_assertion_signed_with_another_key_is_invalid_client(client: FlaskClient, token_url: str) -> None:
    registered, other = client_key(), client_key()
    rp = _jwt_client(registered)
    forged = other.sign(assertion_claims(rp.client_id, token_url))
    assert header_of(forged)["kid"] != registered.kid
    _assert_invalid_client(_with_assertion(client, forged))


def test_assertion_with_the_registered_kid_but_another_key_is_invalid_client(client: FlaskClient,
                                                                            token_url: str) -> None:
    registered, other = client_key(), client_key()
    rp = _jwt_client(registered)
    forged = other.sign(assertion_claims(rp.client_id, token_url), kid=registered.kid)
    _assert_invalid_client(_with_assertion(client, forged))


@pytest.mark.parametrize("overrides", [
    {"exp": 1_000_000_000},  # expired long ago
    {"lifetime": -600},  # expired ten minutes ago: beyond any clock-skew leeway
    {"exp": None},  # RFC 7523 §3 item 4: exp is required
    {"jti": None},  # OIDC Core §9: jti is required
    {"nbf": int(time.time()) + 600},  # RFC 7523 §3 item 5: not valid before ten minutes from now
    {"aud": "https://elsewhere.example/token"},
    {"aud": None},
    {"iss": "someone-else"},  # RFC 7523 §3 items 1-2: iss and sub are the client_id
    {"sub": None},
])
def test_bad_assertion_claims_are_invalid_client(client: FlaskClient, token_url: str, overrides: dict) -> None:  # type: ignore[type-arg]
    key = client_key()
    rp = _jwt_client(key)
    _assert_invalid_client(_with_assertion(client, key.sign(assertion_claims(rp.client_id, token_url,
                                                                             **overrides)),
                                           client_id=rp.client_id))


def test_unsigned_assertion_is_invalid_client(client: FlaskClient, token_url: str) -> None:
    key = client_key()
    rp = _jwt_client(key)
    unsigned = f"{b64({'alg': 'none', 'kid': key.kid})}.{b64(assertion_claims(rp.client_id, token_url))}."
    _assert_invalid_client(_with_assertion(client, unsigned))


def test_symmetric_assertion_keyed_with_the_public_key_is_invalid_client(client: FlaskClient, token_url: str) -> None:
    key = client_key()
    rp = _jwt_client(key)
    # The classic algorithm confusion: HS256 with the (public) registered key as the HMAC secret.
    signing_input = f"{b64({'alg': 'HS256', 'kid': key.kid})}.{b64(assertion_claims(rp.client_id, token_url))}"
    mac = hmac.new(key.key.as_pem(private=False), signing_input.encode(), hashlib.sha256).digest()
    forged = f"{signing_input}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"
    _assert_invalid_client(_with_assertion(client, forged))


def test_garbage_assertion_is_invalid_client(client: FlaskClient, machine) -> None:
    _assert_invalid_client(_with_assertion(client, "not-a-jwt"))


def test_secret_client_presenting_an_assertion_is_invalid_client(client: FlaskClient, machine,
                                                                 token_url: str) -> None:
    key = client_key()
    _assert_invalid_client(_with_assertion(client, key.sign(assertion_claims(machine.client_id, token_url))))


def test_jwt_client_presenting_only_its_client_id_is_invalid_client(client: FlaskClient) -> None:
    rp = _jwt_client(client_key())
    _assert_invalid_client(client.post("/token", data={**CLIENT_CREDENTIALS, "client_id": rp.client_id}))


# --- none: public clients (RFC 6749 §2.1, RFC 7636) -----------------------------------------------------------

@pytest.fixture
def public(app) -> RegisteredClient:  # type: ignore[no-untyped-def]
    return register_client(token_endpoint_auth_method="none", skip_consent=True)


def _public_code(client: FlaskClient, public: RegisteredClient, citizen):  # type: ignore[no-untyped-def]
    pair = pkce()
    _, answer = code_flow(client, public, citizen, code_challenge=pair.challenge, code_challenge_method="S256")
    return answer["code"], pair.verifier


def test_public_client_authenticates_with_pkce_alone(client: FlaskClient, public, citizen) -> None:
    assert public.secret is None
    code, verifier = _public_code(client, public, citizen)
    response = exchange(client, public, code, client_id=public.client_id, code_verifier=verifier)
    assert response.status_code == 200, response.json
    assert response.json["id_token"]


def test_public_client_presenting_a_secret_is_invalid_client(client: FlaskClient, public, citizen) -> None:
    code, verifier = _public_code(client, public, citizen)
    response = exchange(client, public, code, client_id=public.client_id, code_verifier=verifier,
                        client_secret="made-up-secret")
    _assert_invalid_client(response)


def test_public_client_presenting_basic_credentials_is_invalid_client(client: FlaskClient, public,
                                                                      citizen) -> None:
    code, verifier = _public_code(client, public, citizen)
    response = client.post("/token", headers=_basic(public.client_id, "made-up-secret"), data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI, "code_verifier": verifier})
    _assert_invalid_client(response, header_used=True)


def test_confidential_client_presenting_no_secret_is_invalid_client(client: FlaskClient, citizen) -> None:
    rp = register_client(skip_consent=True)
    pair = pkce()
    _, answer = code_flow(client, rp, citizen, code_challenge=pair.challenge, code_challenge_method="S256")
    response = client.post("/token", data={"grant_type": "authorization_code", "code": answer["code"],
                                           "redirect_uri": REDIRECT_URI, "client_id": rp.client_id,
                                           "code_verifier": pair.verifier})
    # RFC 6749 §3.2.1: a confidential client MUST authenticate; PKCE does not replace that.
    _assert_invalid_client(response)


# --- the token endpoint's HTTP rules (RFC 6749 §3.2, §5.1, §5.2) ----------------------------------------------

def test_token_responses_are_not_cached(client: FlaskClient, machine) -> None:
    good = client.post("/token", data=CLIENT_CREDENTIALS, headers=machine.basic_auth())
    bad = client.post("/token", data=CLIENT_CREDENTIALS, headers=_basic(machine.client_id, "wrong"))
    for response in (good, bad):
        assert response.mimetype == "application/json"
        assert response.headers["Cache-Control"] == "no-store"
        assert response.headers["Pragma"] == "no-cache"


@pytest.mark.parametrize("grant_type", ["password", "implicit", "urn:ietf:params:oauth:grant-type:device_code",
                                        "urn:ietf:params:oauth:grant-type:jwt-bearer", "token"])
def test_unsupported_grant_type(client: FlaskClient, machine, grant_type: str) -> None:
    response = client.post("/token", data={"grant_type": grant_type, "username": "x", "password": "y"},
                           headers=machine.basic_auth())
    assert response.status_code == 400 and response.json["error"] == "unsupported_grant_type"


def test_missing_grant_type_is_invalid_request(client: FlaskClient, machine) -> None:
    response = client.post("/token", data={"scope": "profile"}, headers=machine.basic_auth())
    # RFC 6749 §5.2: a missing required parameter is invalid_request (unsupported_grant_type is for a
    # grant type given but not supported).
    assert response.status_code == 400 and response.json["error"] == "invalid_request"


def test_get_is_not_allowed_and_answered_in_json(client: FlaskClient, machine) -> None:
    response = client.get("/token", query_string=CLIENT_CREDENTIALS, headers=machine.basic_auth())
    assert response.status_code == 405  # RFC 6749 §3.2: the client MUST use POST
    assert response.mimetype == "application/json" and response.json["error"]
    assert "<html" not in response.get_data(as_text=True).lower()


def test_method_not_allowed_names_the_allowed_method(client: FlaskClient) -> None:
    response = client.get("/token")
    # RFC 9110 §15.5.6: a 405 response MUST carry an Allow header.
    assert response.status_code == 405
    assert "POST" in response.headers.get("Allow", "")
