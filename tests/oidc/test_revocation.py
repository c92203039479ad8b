"""Token revocation (RFC 7009): refresh tokens end their grant, access tokens die alone, the client is checked."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from idp.oidc import keys
from idp.storage import audit_events, db
from idp.storage.logout import RevokedAccessToken
from tests.helpers.jwt_client import assertion_claims, assertion_form, bearer, client_key
from tests.helpers.oidc import RegisteredClient, code_flow, decode, exchange, pkce, register_client, tokens_for


@pytest.fixture
def resource_server(app) -> RegisteredClient:  # type: ignore[no-untyped-def]
    return register_client(client_name="Máy chủ tài nguyên", grant_types=["client_credentials"], redirect_uris=[],
                           scope="profile")



def _revoke(client: FlaskClient, rp: RegisteredClient, token: str | None, **form: str):  # type: ignore[no-untyped-def]
    data = {"token": token, **form} if token is not None else form
    return client.post("/revoke", data=data, headers=rp.basic_auth())


def _refresh(client: FlaskClient, rp: RegisteredClient, token: str):  # type: ignore[no-untyped-def]
    return client.post("/token", data={"grant_type": "refresh_token", "refresh_token": token},
                       headers=rp.basic_auth())


def _active(client: FlaskClient, resource_server: RegisteredClient, token: str) -> bool:
    response = client.post("/introspect", data={"token": token}, headers=resource_server.basic_auth())
    assert response.status_code == 200, response.json
    return response.json["active"]


def _assert_revoked_answer(response) -> None:  # type: ignore[no-untyped-def]
    """RFC 7009 §2.2: 200, the body ignored (ours is empty); never cached."""
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_data() == b""
    assert response.headers["Cache-Control"] == "no-store"


# --- refresh tokens ------------------------------------------------------------------------------------

def test_revoking_a_refresh_token_ends_its_whole_grant(client: FlaskClient, rp, resource_server, citizen) -> None:
    first = tokens_for(client, rp, citizen)
    second = _refresh(client, rp, first["refresh_token"]).json
    _assert_revoked_answer(_revoke(client, rp, second["refresh_token"]))
    # RFC 7009 §2.1: the grant's access tokens go with it, those minted before the rotation too.
    assert _refresh(client, rp, second["refresh_token"]).json["error"] == "invalid_grant"
    assert not _active(client, resource_server, second["refresh_token"])
    for access in (first["access_token"], second["access_token"]):
        assert not _active(client, resource_server, access)
        assert client.get("/userinfo", headers=bearer(access)).status_code == 401


def test_refresh_token_revocation_is_audited_without_the_token(client: FlaskClient, rp, citizen) -> None:
    tokens = tokens_for(client, rp, citizen)
    _revoke(client, rp, tokens["refresh_token"])
    [event] = audit_events.recent(event="token.revoked")
    assert event.client_id == rp.client_id and event.subject == citizen.subject.sub
    assert event.details == {"kind": "refresh_token", "gid": decode(tokens["access_token"])["gid"]}
    # Revoking it again changes nothing and records nothing.
    _assert_revoked_answer(_revoke(client, rp, tokens["refresh_token"]))
    assert len(audit_events.recent(event="token.revoked")) == 1


def test_public_client_revokes_its_own_refresh_token_with_its_client_id(client: FlaskClient, citizen) -> None:
    public = register_client(token_endpoint_auth_method="none", skip_consent=True)
    pair = pkce()
    _, answer = code_flow(client, public, citizen, code_challenge=pair.challenge, code_challenge_method="S256")
    tokens = exchange(client, public, answer["code"], client_id=public.client_id, code_verifier=pair.verifier).json
    # RFC 7009 §2.1: a public client identifies itself with client_id alone.
    response = client.post("/revoke", data={"token": tokens["refresh_token"], "client_id": public.client_id})
    _assert_revoked_answer(response)
    refreshed = client.post("/token", data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"],
                                            "client_id": public.client_id})
    assert refreshed.json["error"] == "invalid_grant"
    assert client.get("/userinfo", headers=bearer(tokens["access_token"])).status_code == 401


# --- access tokens -------------------------------------------------------------------------------------

def test_revoking_an_access_token_kills_it_but_not_the_refresh_token(client: FlaskClient, rp, resource_server,
                                                                     citizen) -> None:
    tokens = tokens_for(client, rp, citizen)
    _assert_revoked_answer(_revoke(client, rp, tokens["access_token"]))
    assert client.get("/userinfo", headers=bearer(tokens["access_token"])).status_code == 401
    assert not _active(client, resource_server, tokens["access_token"])
    assert _active(client, rp, tokens["refresh_token"])
    refreshed = _refresh(client, rp, tokens["refresh_token"])
    assert refreshed.status_code == 200, refreshed.json
    assert client.get("/userinfo", headers=bearer(refreshed.json["access_token"])).status_code == 200


def test_revoked_jti_is_kept_until_the_token_would_expire(client: FlaskClient, rp, citizen) -> None:
    tokens = tokens_for(client, rp, citizen)
    _revoke(client, rp, tokens["access_token"])
    claims = decode(tokens["access_token"])
    row = db.session.execute(select(RevokedAccessToken)).scalar_one()
    assert row.jti == claims["jti"] and row.expires_at == datetime.fromtimestamp(claims["exp"], UTC)
    [event] = audit_events.recent(event="token.revoked")
    assert event.details == {"kind": "access_token", "gid": claims["gid"], "jti": claims["jti"]}
    _assert_revoked_answer(_revoke(client, rp, tokens["access_token"]))  # twice: still 200, one row
    assert len(db.session.execute(select(RevokedAccessToken)).scalars().all()) == 1


def test_client_credentials_token_can_be_revoked(client: FlaskClient, resource_server) -> None:
    token = client.post("/token", data={"grant_type": "client_credentials"},
                        headers=resource_server.basic_auth()).json["access_token"]
    assert _active(client, resource_server, token)
    _assert_revoked_answer(_revoke(client, resource_server, token))
    assert not _active(client, resource_server, token)
    [event] = audit_events.recent(event="token.revoked")
    assert event.subject is None and event.details["kind"] == "access_token"


def test_expired_access_token_needs_nothing(client: FlaskClient, rp, citizen) -> None:
    claims = decode(tokens_for(client, rp, citizen)["access_token"])
    expired = keys.sign({**claims, "iat": claims["iat"] - 3600, "exp": claims["iat"] - 1}, typ="at+jwt")
    _assert_revoked_answer(_revoke(client, rp, expired))
    assert db.session.execute(select(RevokedAccessToken)).first() is None


# --- what the client sends -----------------------------------------------------------------------------

@pytest.mark.parametrize("hint", ["access_token", "refresh_token", "id_token", "no-such-type"])
def test_token_type_hint_is_ignored(client: FlaskClient, rp, citizen, hint: str) -> None:
    # RFC 7009 §2.1: the server MAY ignore the hint; our token kinds are told apart by their form.
    tokens = tokens_for(client, rp, citizen)
    _assert_revoked_answer(_revoke(client, rp, tokens["refresh_token"], token_type_hint=hint))
    assert _refresh(client, rp, tokens["refresh_token"]).json["error"] == "invalid_grant"


@pytest.mark.parametrize("token", ["dnr_nothing", "not-a-token", "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0."])
def test_unknown_token_is_answered_200(client: FlaskClient, rp, token: str) -> None:
    # RFC 7009 §2.2: invalid tokens do not cause an error response.
    _assert_revoked_answer(_revoke(client, rp, token))
    assert not audit_events.recent(event="token.revoked")


@pytest.mark.parametrize("form", [{}, {"token": ""}], ids=["missing", "empty"])
def test_missing_token_is_invalid_request(client: FlaskClient, rp, form: dict[str, str]) -> None:
    response = client.post("/revoke", data=form, headers=rp.basic_auth())
    assert response.status_code == 400 and response.json["error"] == "invalid_request"
    assert response.headers["Cache-Control"] == "no-store"


def test_repeated_token_is_invalid_request(client: FlaskClient, rp, citizen) -> None:
    tokens = tokens_for(client, rp, citizen)
    response = client.post("/revoke", data={"token": [tokens["refresh_token"], tokens["access_token"]]},
                           headers=rp.basic_auth())
    # RFC 6749 §3.2: request parameters MUST NOT be included more than once.
    assert response.status_code == 400 and response.json["error"] == "invalid_request"
    assert _refresh(client, rp, tokens["refresh_token"]).status_code == 200


def test_id_token_is_unsupported_token_type(client: FlaskClient, rp, citizen) -> None:
    # RFC 7009 §2.2.1: ours, but not a kind that can be revoked; a silent 200 would mislead the client.
    tokens = tokens_for(client, rp, citizen)
    response = _revoke(client, rp, tokens["id_token"])
    assert response.status_code == 400 and response.json["error"] == "unsupported_token_type"
    assert client.get("/userinfo", headers=bearer(tokens["access_token"])).status_code == 200


@pytest.mark.parametrize("kind", ["refresh_token", "access_token"])
def test_token_of_another_client_is_refused_and_stays_valid(client: FlaskClient, rp, citizen, kind: str) -> None:
    tokens = tokens_for(client, rp, citizen)
    other = register_client(skip_consent=True)
    response = _revoke(client, other, tokens[kind])
    # RFC 7009 §2.1: the request is refused; RFC 6749 §5.2 invalid_grant covers "issued to another client".
    assert response.status_code == 400 and response.json["error"] == "invalid_grant"
    assert client.get("/userinfo", headers=bearer(tokens["access_token"])).status_code == 200
    assert _refresh(client, rp, tokens["refresh_token"]).status_code == 200
    assert not audit_events.recent(event="token.revoked")


def test_dead_token_of_another_client_is_answered_200(client: FlaskClient, rp, citizen) -> None:
    # RFC 7009 §2.2: a token already revoked is an invalid token, which causes no error, whoever asks.
    tokens = tokens_for(client, rp, citizen)
    _revoke(client, rp, tokens["refresh_token"])
    _assert_revoked_answer(_revoke(client, register_client(skip_consent=True), tokens["refresh_token"]))


# --- client authentication -----------------------------------------------------------------------------

def test_client_secret_post(client: FlaskClient, citizen) -> None:
    rp = register_client(token_endpoint_auth_method="client_secret_post", skip_consent=True)
    _, answer = code_flow(client, rp, citizen)
    tokens = exchange(client, rp, answer["code"], client_id=rp.client_id, client_secret=rp.secret).json
    response = client.post("/revoke", data={"token": tokens["refresh_token"], "client_id": rp.client_id,
                                            "client_secret": rp.secret})
    _assert_revoked_answer(response)


def test_private_key_jwt(app: Flask, client: FlaskClient) -> None:
    key = client_key("ES256")
    rp = register_client(token_endpoint_auth_method="private_key_jwt", jwks=key.jwks(),
                         grant_types=["client_credentials"], redirect_uris=[], scope="profile")

    def assertion() -> dict[str, str]:
        return assertion_form(key.sign(assertion_claims(rp.client_id, app.config["IDP_ISSUER"])))

    token = client.post("/token", data={"grant_type": "client_credentials", **assertion()}).json["access_token"]
    _assert_revoked_answer(client.post("/revoke", data={"token": token, **assertion()}))
    assert client.get("/userinfo", headers=bearer(token)).status_code == 401


def test_wrong_secret_is_invalid_client_with_a_basic_challenge(client: FlaskClient, rp, citizen) -> None:
    tokens = tokens_for(client, rp, citizen)
    wrong = RegisteredClient(rp.row, "not-the-secret")
    response = _revoke(client, wrong, tokens["refresh_token"])
    # RFC 6749 §5.2: 401 and a challenge for the scheme the client tried.
    assert response.status_code == 401 and response.json["error"] == "invalid_client"
    assert response.headers["WWW-Authenticate"].startswith("Basic")
    assert response.headers["Cache-Control"] == "no-store"
    assert _refresh(client, rp, tokens["refresh_token"]).status_code == 200


def test_confidential_client_must_authenticate(client: FlaskClient, rp, citizen) -> None:
    tokens = tokens_for(client, rp, citizen)
    for data in ({"token": tokens["refresh_token"]}, {"token": tokens["refresh_token"], "client_id": rp.client_id}):
        response = client.post("/revoke", data=data)
        assert response.status_code == 401 and response.json["error"] == "invalid_client"
    assert _refresh(client, rp, tokens["refresh_token"]).status_code == 200


def test_get_is_not_allowed(client: FlaskClient) -> None:
    response = client.get("/revoke")
    assert response.status_code == 405 and response.mimetype == "application/json"
    assert response.json["error"] == "invalid_request" and "POST" in response.headers["Allow"]


def test_metadata_advertises_the_endpoints(app: Flask, client: FlaskClient) -> None:
    metadata = client.get("/.well-known/openid-configuration").json
    issuer = app.config["IDP_ISSUER"]
    assert metadata["revocation_endpoint"] == issuer + "/revoke"
    assert metadata["introspection_endpoint"] == issuer + "/introspect"
    assert metadata["revocation_endpoint_auth_methods_supported"] == [
        "client_secret_basic", "client_secret_post", "private_key_jwt", "none"]
    assert metadata["introspection_endpoint_auth_methods_supported"] == [
        "client_secret_basic", "client_secret_post", "private_key_jwt"]
    assert metadata["introspection_endpoint_auth_signing_alg_values_supported"] == keys.ASSERTION_ALGS
