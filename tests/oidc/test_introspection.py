"""Token introspection (RFC 7662): what an active token says, and every way a token stops being active."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient

from idp.identity import accounts
from idp.oidc import keys
from idp.storage import transaction
from idp.storage.subjects import SubjectStatus
from tests.helpers.forms import sign_out
from tests.helpers.jwt_client import assertion_claims, assertion_form, bearer, client_key
from tests.helpers.oidc import RegisteredClient, code_flow, decode, exchange, register_client, tokens_for

INACTIVE = {"active": False}




@pytest.fixture
def resource_server(app) -> RegisteredClient:  # type: ignore[no-untyped-def]
    """A confidential client in the resource server's role: it only ever introspects."""
    return register_client(client_name="Máy chủ tài nguyên", grant_types=["client_credentials"], redirect_uris=[],
                           scope="profile")



def _introspect(client: FlaskClient, caller: RegisteredClient, token: str, **form: str):  # type: ignore[no-untyped-def]
    response = client.post("/introspect", data={"token": token, **form}, headers=caller.basic_auth())
    assert response.status_code == 200, response.json
    assert response.mimetype == "application/json" and response.headers["Cache-Control"] == "no-store"
    return response.json


def _refresh(client: FlaskClient, rp: RegisteredClient, token: str):  # type: ignore[no-untyped-def]
    return client.post("/token", data={"grant_type": "refresh_token", "refresh_token": token},
                       headers=rp.basic_auth())


def _assert_dead(client: FlaskClient, rp: RegisteredClient, resource_server: RegisteredClient,
                 tokens: dict) -> None:  # type: ignore[type-arg]
    """Inactive at introspection (both tokens), refused at userinfo."""
    assert _introspect(client, resource_server, tokens["access_token"]) == INACTIVE
    assert _introspect(client, rp, tokens["refresh_token"]) == INACTIVE
    assert client.get("/userinfo", headers=bearer(tokens["access_token"])).status_code == 401


# --- active tokens -------------------------------------------------------------------------------------

def test_active_access_token(app: Flask, client: FlaskClient, rp, resource_server, citizen) -> None:
    tokens = tokens_for(client, rp, citizen)
    claims = decode(tokens["access_token"])
    # Any confidential client may ask: it is the resource server the token was presented to.
    body = _introspect(client, resource_server, tokens["access_token"])
    assert body == {
        "active": True, "token_type": "Bearer", "scope": "openid profile email", "client_id": rp.client_id,
        "sub": citizen.subject.sub, "aud": rp.client_id, "iss": app.config["IDP_ISSUER"],
        "exp": claims["exp"], "iat": claims["iat"], "jti": claims["jti"], "sid": decode(tokens["id_token"])["sid"],
    }


def test_active_refresh_token_for_its_own_client(app: Flask, client: FlaskClient, rp, citizen) -> None:
    tokens = tokens_for(client, rp, citizen)
    body = _introspect(client, rp, tokens["refresh_token"], token_type_hint="refresh_token")
    assert body.pop("exp") > body.pop("iat")
    # No token_type: RFC 7662 §2.2 means the access token type of RFC 6749 §7.1.
    assert body == {"active": True, "scope": "openid profile email", "client_id": rp.client_id,
                    "sub": citizen.subject.sub, "iss": app.config["IDP_ISSUER"],
                    "sid": decode(tokens["id_token"])["sid"]}


def test_refresh_token_is_inactive_to_other_clients(client: FlaskClient, rp, resource_server, citizen) -> None:
    # RFC 6749 §1.5: refresh tokens never go to resource servers; RFC 7662 §2.2: answer inactive.
    tokens = tokens_for(client, rp, citizen)
    assert _introspect(client, resource_server, tokens["refresh_token"]) == INACTIVE


def test_client_credentials_token_speaks_for_the_client(client: FlaskClient, resource_server) -> None:
    token = client.post("/token", data={"grant_type": "client_credentials"},
                        headers=resource_server.basic_auth()).json["access_token"]
    body = _introspect(client, resource_server, token)
    assert body["active"] is True and body["sub"] == body["client_id"] == resource_server.client_id
    assert "sid" not in body


def test_hint_does_not_change_the_answer(client: FlaskClient, rp, resource_server, citizen) -> None:
    tokens = tokens_for(client, rp, citizen)
    body = _introspect(client, resource_server, tokens["access_token"], token_type_hint="refresh_token")
    assert body["active"] is True


# --- inactive tokens -----------------------------------------------------------------------------------

@pytest.mark.parametrize("token", ["dnr_nothing", "not-a-token", "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0."])
def test_unknown_token_is_inactive(client: FlaskClient, resource_server, token: str) -> None:
    assert _introspect(client, resource_server, token) == INACTIVE


def test_id_token_is_not_an_access_token(client: FlaskClient, rp, resource_server, citizen) -> None:
    tokens = tokens_for(client, rp, citizen)
    assert _introspect(client, resource_server, tokens["id_token"]) == INACTIVE


def test_expired_access_token_is_inactive(client: FlaskClient, rp, resource_server, citizen) -> None:
    claims = decode(tokens_for(client, rp, citizen)["access_token"])
    expired = keys.sign({**claims, "iat": claims["iat"] - 3600, "exp": claims["iat"] - 1}, typ="at+jwt")
    assert _introspect(client, resource_server, expired) == INACTIVE
    assert client.get("/userinfo", headers=bearer(expired)).status_code == 401


def test_revoked_tokens_are_inactive(client: FlaskClient, rp, resource_server, citizen) -> None:
    tokens = tokens_for(client, rp, citizen)
    client.post("/revoke", data={"token": tokens["refresh_token"]}, headers=rp.basic_auth())
    _assert_dead(client, rp, resource_server, tokens)


def test_tokens_of_a_locked_account_are_inactive(client: FlaskClient, rp, resource_server, citizen) -> None:
    tokens = tokens_for(client, rp, citizen)
    accounts.lock(citizen.id_number)
    _assert_dead(client, rp, resource_server, tokens)


def test_tokens_of_a_disabled_account_are_inactive(client: FlaskClient, rp, resource_server, citizen) -> None:
    tokens = tokens_for(client, rp, citizen)
    with transaction():
        citizen.subject.status = SubjectStatus.DISABLED
    _assert_dead(client, rp, resource_server, tokens)


def test_rotated_refresh_token_is_inactive_and_not_treated_as_reuse(client: FlaskClient, rp, citizen) -> None:
    first = tokens_for(client, rp, citizen)
    second = _refresh(client, rp, first["refresh_token"]).json
    assert _introspect(client, rp, first["refresh_token"]) == INACTIVE
    # Introspection changes nothing: the family lives on.
    assert _introspect(client, rp, second["refresh_token"])["active"] is True
    assert _refresh(client, rp, second["refresh_token"]).status_code == 200


def test_tokens_of_a_grant_revoked_by_code_reuse_are_inactive(client: FlaskClient, rp, resource_server,
                                                              citizen) -> None:
    _, answer = code_flow(client, rp, citizen)
    tokens = exchange(client, rp, answer["code"]).json
    assert exchange(client, rp, answer["code"]).json["error"] == "invalid_grant"
    _assert_dead(client, rp, resource_server, tokens)


def test_tokens_are_inactive_after_sign_out(client: FlaskClient, rp, resource_server, citizen) -> None:
    tokens = tokens_for(client, rp, citizen)
    assert _introspect(client, resource_server, tokens["access_token"])["active"] is True
    sign_out(client)
    _assert_dead(client, rp, resource_server, tokens)


# --- who may ask ---------------------------------------------------------------------------------------

def test_public_client_cannot_introspect(client: FlaskClient, rp, citizen) -> None:
    tokens = tokens_for(client, rp, citizen)
    public = register_client(token_endpoint_auth_method="none", skip_consent=True)
    response = client.post("/introspect", data={"token": tokens["access_token"], "client_id": public.client_id})
    # RFC 7662 §2.1: the endpoint requires client authentication; a public client has none.
    assert response.status_code == 401 and response.json["error"] == "invalid_client"
    assert response.headers["Cache-Control"] == "no-store"


def test_unauthenticated_request_is_invalid_client(client: FlaskClient, rp, citizen) -> None:
    tokens = tokens_for(client, rp, citizen)
    response = client.post("/introspect", data={"token": tokens["access_token"]})
    assert response.status_code == 401 and response.json["error"] == "invalid_client"
    assert response.headers["WWW-Authenticate"].startswith("Basic")


def test_private_key_jwt(app: Flask, client: FlaskClient, rp, citizen) -> None:
    key = client_key("RS256")
    caller = register_client(token_endpoint_auth_method="private_key_jwt", jwks=key.jwks(),
                             grant_types=["client_credentials"], redirect_uris=[], scope="profile")
    tokens = tokens_for(client, rp, citizen)
    form = assertion_form(key.sign(assertion_claims(caller.client_id, app.config["IDP_ISSUER"])))
    response = client.post("/introspect", data={"token": tokens["access_token"], **form})
    assert response.status_code == 200 and response.json["active"] is True
    # RFC 7523 §3: the assertion is single-use, here as at the token endpoint (400: no Authorization header).
    replayed = client.post("/introspect", data={"token": tokens["access_token"], **form})
    assert replayed.status_code == 400 and replayed.json["error"] == "invalid_client"


def test_missing_token_is_invalid_request(client: FlaskClient, resource_server) -> None:
    response = client.post("/introspect", data={}, headers=resource_server.basic_auth())
    assert response.status_code == 400 and response.json["error"] == "invalid_request"


def test_get_is_not_allowed(client: FlaskClient) -> None:
    response = client.get("/introspect")
    assert response.status_code == 405 and response.json["error"] == "invalid_request"
