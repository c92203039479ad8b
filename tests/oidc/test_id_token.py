"""The ID token (OIDC Core §2, §3.1.3.6, §3.1.3.7) and the RFC 9068 access token issued with it."""

from __future__ import annotations

import json
import time
from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from idp.authn.levels import ACR_PWD
from idp.storage import db, transaction
from idp.storage.sessions import SsoSession
from tests.helpers.forms import sign_in
from tests.helpers.jwt_client import half_hash, header_of, verify_with_jwks
from tests.helpers.oidc import authorize_params, code_flow, exchange, redirect_params, register_client

PROFILE_CLAIMS = {"name", "family_name", "given_name", "preferred_username", "locale", "updated_at", "birthdate",
                  "email", "email_verified", "phone_number", "phone_number_verified", "address"}



@pytest.fixture
def citizen(make_citizen):  # type: ignore[no-untyped-def]
    return make_citizen(full_name="Nguyễn Văn An", email="an@example.vn", phone="0912345678",
                        address="12 Lê Lợi, Thanh Hóa")


def _tokens(client: FlaskClient, rp, citizen, **overrides: str) -> tuple[dict, dict]:  # type: ignore[no-untyped-def, type-arg]
    """(authorization request parameters, token response body) of a code flow run to the end."""
    params, answer = code_flow(client, rp, citizen, **overrides)
    response = exchange(client, rp, answer["code"])
    assert response.status_code == 200, response.json
    return params, response.json


def _verified(client: FlaskClient, token: str) -> tuple[dict, dict]:  # type: ignore[type-arg]
    """(header, claims), verified as a relying party would: against the published JWKS."""
    return verify_with_jwks(token, client.get("/jwks").json)


def _session_of(citizen) -> SsoSession:  # type: ignore[no-untyped-def]
    return db.session.execute(select(SsoSession).where(SsoSession.subject_id == citizen.subject.id)).scalar_one()


def test_id_token_is_rs256_by_default_with_a_published_kid(client: FlaskClient, rp, citizen) -> None:
    _, body = _tokens(client, rp, citizen)
    header, _ = _verified(client, body["id_token"])
    assert header["alg"] == "RS256"
    assert header["kid"] in {key["kid"] for key in client.get("/jwks").json["keys"]}


def test_id_token_identifies_issuer_subject_and_audience(app: Flask, client: FlaskClient, rp, citizen) -> None:
    _, body = _tokens(client, rp, citizen)
    _, claims = _verified(client, body["id_token"])
    assert claims["iss"] == app.config["IDP_ISSUER"]
    assert claims["aud"] == rp.client_id
    # OIDC Core §2: sub is ours, stable and opaque; never the citizen's ID number.
    assert claims["sub"] == citizen.subject.sub
    assert citizen.id_number not in json.dumps(claims)


def test_id_token_lifetime(app: Flask, client: FlaskClient, rp, citizen) -> None:
    _, body = _tokens(client, rp, citizen)
    _, claims = _verified(client, body["id_token"])
    assert isinstance(claims["iat"], int) and isinstance(claims["exp"], int)
    assert abs(claims["iat"] - time.time()) <= 5
    assert claims["exp"] - claims["iat"] == app.config["IDP_ID_TOKEN_LIFETIME_SECONDS"]


def test_auth_time_is_the_sign_in_time(client: FlaskClient, rp, citizen) -> None:
    _, body = _tokens(client, rp, citizen)
    _, claims = _verified(client, body["id_token"])
    assert claims["auth_time"] == int(_session_of(citizen).auth_time.timestamp())


def test_auth_time_stays_the_sso_sign_in_time_for_a_later_authorization(client: FlaskClient, rp, citizen) -> None:
    sign_in(client, citizen.id_number, citizen.password)
    # The person signed in a while ago; a new authorization now reuses that session (no new sign-in).
    with transaction():
        session = _session_of(citizen)
        session.auth_time -= timedelta(minutes=7)
        signed_in_at = int(session.auth_time.timestamp())
    answer = redirect_params(client.get("/authorize", query_string=authorize_params(rp)))
    _, claims = _verified(client, exchange(client, rp, answer["code"]).json["id_token"])
    # OIDC Core §2: auth_time is when the End-User authenticated, not when this token was made.
    assert claims["auth_time"] == signed_in_at
    assert claims["iat"] - claims["auth_time"] >= 7 * 60


def test_nonce_is_echoed(client: FlaskClient, rp, citizen) -> None:
    params, body = _tokens(client, rp, citizen)
    assert _verified(client, body["id_token"])[1]["nonce"] == params["nonce"]


def test_no_nonce_claim_without_a_nonce(client: FlaskClient, rp, citizen) -> None:
    _, body = _tokens(client, rp, citizen, nonce=None)
    assert "nonce" not in _verified(client, body["id_token"])[1]


def test_password_sign_in_is_asserted_in_amr_and_acr(client: FlaskClient, rp, citizen) -> None:
    _, body = _tokens(client, rp, citizen)
    _, claims = _verified(client, body["id_token"])
    assert claims["amr"] == ["pwd"]  # RFC 8176 §2
    assert claims["acr"] == ACR_PWD


def test_sid_names_the_sso_session(client: FlaskClient, rp, citizen) -> None:
    _, body = _tokens(client, rp, citizen)
    assert _verified(client, body["id_token"])[1]["sid"] == _session_of(citizen).sid


def test_at_hash_matches_the_access_token(client: FlaskClient, rp, citizen) -> None:
    _, body = _tokens(client, rp, citizen)
    # OIDC Core §3.1.3.6: left half of SHA-256 (RS256) of the access token's ASCII octets, base64url.
    assert _verified(client, body["id_token"])[1]["at_hash"] == half_hash(body["access_token"], "RS256")


def test_no_profile_claims_in_the_id_token_by_default(client: FlaskClient, citizen) -> None:
    rp = register_client(skip_consent=True)
    _, body = _tokens(client, rp, citizen, scope="openid profile email phone address")
    # OIDC Core §5.4: with an access token issued, scope claims come from the UserInfo endpoint.
    assert not PROFILE_CLAIMS & _verified(client, body["id_token"])[1].keys()


def test_claims_parameter_puts_requested_claims_in_the_id_token(client: FlaskClient, rp, citizen) -> None:
    claims_request = json.dumps({"id_token": {"email": None, "name": {"essential": True}}})
    _, body = _tokens(client, rp, citizen, claims=claims_request)
    _, claims = _verified(client, body["id_token"])
    assert claims["email"] == "an@example.vn" and claims["name"] == "Nguyễn Văn An"
    assert not (PROFILE_CLAIMS - {"email", "name"}) & claims.keys()


def test_claims_parameter_userinfo_member_does_not_reach_the_id_token(client: FlaskClient, rp, citizen) -> None:
    _, body = _tokens(client, rp, citizen, claims=json.dumps({"userinfo": {"email": None}}))
    assert "email" not in _verified(client, body["id_token"])[1]


def test_claims_parameter_sub_value_of_the_signed_in_person_is_honoured(client: FlaskClient, rp, citizen) -> None:
    sign_in(client, citizen.id_number, citizen.password)
    wanted = json.dumps({"id_token": {"sub": {"value": citizen.subject.sub}}})
    answer = redirect_params(client.get("/authorize", query_string=authorize_params(rp, claims=wanted,
                                                                                      prompt="none")))
    _, claims = _verified(client, exchange(client, rp, answer["code"]).json["id_token"])
    assert claims["sub"] == citizen.subject.sub


def test_claims_parameter_sub_value_of_someone_else_gets_no_code(client: FlaskClient, rp, citizen,
                                                                 make_citizen) -> None:
    sign_in(client, citizen.id_number, citizen.password)
    wanted = json.dumps({"id_token": {"sub": {"value": make_citizen().subject.sub}}})
    answer = redirect_params(client.get("/authorize", query_string=authorize_params(rp, claims=wanted,
                                                                                      prompt="none")))
    # OIDC Core §5.5.1: with sub requested with a value, a positive response only for that End-User;
    # the signed-in person is someone else, and prompt=none forbids asking for a sign-in (§3.1.2.6).
    assert "code" not in answer
    assert answer["error"] == "login_required"


@pytest.mark.parametrize("alg", ["ES256", "EdDSA"])
def test_client_chooses_the_id_token_algorithm(client: FlaskClient, citizen, alg: str) -> None:
    rp = register_client(skip_consent=True, id_token_signed_response_alg=alg)
    _, body = _tokens(client, rp, citizen)
    header, claims = _verified(client, body["id_token"])
    assert header["alg"] == alg
    assert claims["aud"] == rp.client_id
    assert claims["at_hash"] == half_hash(body["access_token"], alg)
    # The access token keeps its own setting (RS256 by default).
    assert header_of(body["access_token"])["alg"] == "RS256"


def test_access_token_is_an_rfc9068_jwt(app: Flask, client: FlaskClient, rp, citizen) -> None:
    _, body = _tokens(client, rp, citizen)
    header, claims = _verified(client, body["access_token"])
    assert header["typ"] == "at+jwt" and header["alg"] == "RS256"  # RFC 9068 §2.1
    assert {"iss", "sub", "aud", "client_id", "exp", "iat", "jti", "scope"} <= claims.keys()  # RFC 9068 §2.2
    assert claims["iss"] == app.config["IDP_ISSUER"]
    assert claims["sub"] == citizen.subject.sub
    assert claims["client_id"] == rp.client_id
    assert claims["scope"] == body["scope"] == "openid profile email"
    assert claims["exp"] - claims["iat"] == body["expires_in"] == app.config["IDP_ACCESS_TOKEN_LIFETIME_SECONDS"]
    assert isinstance(claims["jti"], str) and len(claims["jti"]) >= 16
    assert claims["auth_time"] == _verified(client, body["id_token"])[1]["auth_time"]


def test_access_tokens_have_distinct_jti(client: FlaskClient, rp, citizen) -> None:
    _, first = _tokens(client, rp, citizen)
    _, second = _tokens(client, rp, citizen)
    assert _verified(client, first["access_token"])[1]["jti"] != _verified(client, second["access_token"])[1]["jti"]


def test_id_token_is_not_typed_as_an_access_token(client: FlaskClient, rp, citizen) -> None:
    _, body = _tokens(client, rp, citizen)
    assert header_of(body["id_token"]).get("typ") != "at+jwt"


@pytest.mark.parametrize("alg", ["ES256", "EdDSA"])
def test_client_chooses_the_access_token_algorithm(client: FlaskClient, citizen, alg: str) -> None:
    rp = register_client(skip_consent=True, access_token_signed_response_alg=alg)
    _, body = _tokens(client, rp, citizen)
    header, _ = _verified(client, body["access_token"])
    assert header["alg"] == alg and header["typ"] == "at+jwt"
    assert header_of(body["id_token"])["alg"] == "RS256"
