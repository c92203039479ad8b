"""The client_credentials grant (RFC 6749 §4.4): a token for the client itself, no person, nothing stored."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from idp.oidc import keys
from idp.storage import db
from tests.helpers.jwt_client import bearer, verify_with_jwks
from tests.helpers.oidc import RegisteredClient, register_client

PERSON_CLAIMS = {"gid", "auth_time", "acr", "amr", "sid", "nonce", "at_hash"}


@pytest.fixture
def machine(app) -> RegisteredClient:  # type: ignore[no-untyped-def]
    return register_client(client_name="Hệ thống một cửa", grant_types=["client_credentials"], redirect_uris=[],
                           scope="openid profile email")


def _token(client: FlaskClient, rp: RegisteredClient, **form: str):  # type: ignore[no-untyped-def]
    return client.post("/token", data={"grant_type": "client_credentials", **form}, headers=rp.basic_auth())


def _row_counts() -> dict[str, int]:
    counts = {table.name: db.session.execute(select(func.count()).select_from(table)).scalar_one()
              for table in db.metadata.sorted_tables}
    db.session.rollback()  # hold no read transaction while the request runs (SQLite locks)
    return counts


def test_token_for_the_client_itself(app: Flask, client: FlaskClient, machine) -> None:
    response = _token(client, machine)
    assert response.status_code == 200, response.json
    body = response.json
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == app.config["IDP_ACCESS_TOKEN_LIFETIME_SECONDS"]
    # RFC 6749 §4.4.3: no refresh token; no person, so no ID token either.
    assert "refresh_token" not in body and "id_token" not in body
    assert response.headers["Cache-Control"] == "no-store" and response.headers["Pragma"] == "no-cache"


def test_access_token_names_the_client_and_no_person(app: Flask, client: FlaskClient, machine) -> None:
    body = _token(client, machine).json
    header, claims = verify_with_jwks(body["access_token"], client.get("/jwks").json)
    assert header["typ"] == "at+jwt"
    # RFC 9068 §2.2: without a resource owner, sub is the client's own identifier.
    assert claims["sub"] == claims["client_id"] == machine.client_id
    assert claims["iss"] == app.config["IDP_ISSUER"]
    assert {"aud", "exp", "iat", "jti", "scope"} <= claims.keys()
    assert not PERSON_CLAIMS & claims.keys()


def test_default_scope_is_the_registered_one_without_openid(client: FlaskClient, machine) -> None:
    body = _token(client, machine).json
    assert set(body["scope"].split()) == {"profile", "email"}
    assert set(verify_with_jwks(body["access_token"], client.get("/jwks").json)[1]["scope"].split()) == \
        {"profile", "email"}


def test_narrower_scope_is_granted_as_asked(client: FlaskClient, machine) -> None:
    body = _token(client, machine, scope="email").json
    assert body["scope"] == "email"


@pytest.mark.parametrize("scope", ["phone", "email phone", "admin", "openid"])
def test_scope_beyond_the_client_is_invalid_scope(client: FlaskClient, machine, scope: str) -> None:
    response = _token(client, machine, scope=scope)
    # RFC 6749 §5.2; openid asks for a person's identity, which this grant never has.
    assert response.status_code == 400 and response.json["error"] == "invalid_scope"
    assert "access_token" not in response.json


def test_client_without_the_grant_type_is_unauthorized_client(client: FlaskClient) -> None:
    rp = register_client()  # authorization_code and refresh_token only
    response = _token(client, rp)
    assert response.status_code == 400 and response.json["error"] == "unauthorized_client"


def test_client_secret_post_works_too(client: FlaskClient) -> None:
    rp = register_client(token_endpoint_auth_method="client_secret_post", grant_types=["client_credentials"],
                         redirect_uris=[], scope="profile")
    response = client.post("/token", data={"grant_type": "client_credentials", "client_id": rp.client_id,
                                           "client_secret": rp.secret})
    assert response.status_code == 200, response.json


def test_the_grant_writes_nothing(client: FlaskClient, machine) -> None:
    keys.ensure_keys()  # the very first signature makes the signing keys; that is not this grant's doing
    before = _row_counts()
    assert _token(client, machine).status_code == 200
    assert _token(client, machine, scope="email").status_code == 200
    assert _row_counts() == before


def test_userinfo_refuses_the_token(client: FlaskClient, machine) -> None:
    response = client.get("/userinfo", headers=bearer(_token(client, machine).json["access_token"]))
    # Valid, but not an OpenID token for a person (OIDC Core §5.3; RFC 6750 §3.1).
    assert response.status_code == 403
    assert 'error="insufficient_scope"' in response.headers["WWW-Authenticate"]
