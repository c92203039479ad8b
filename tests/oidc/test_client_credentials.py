"""The client_credentials grant (RFC 6749 §4.4): a token for the client itself, no person, nothing stored.

Every test runs twice: on a worker whose view answers the test's first request, and on one that has
answered a client_credentials request before, whose common requests (the secret in the Authorization
header, the grant type, perhaps a scope) are then answered past Flask's request cycle
(``idp.web.prebuilt``) with the view's kept headers."""

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


@pytest.fixture(autouse=True, params=["view", "kept"])
def answered_by(request: pytest.FixtureRequest, app: Flask) -> str:
    """"view": a fresh worker; "kept": one that has answered another client's request."""
    if request.param == "kept":
        other = register_client(grant_types=["client_credentials"], redirect_uris=[], scope="profile")
        assert _token(app.test_client(), other).status_code == 200
    return str(request.param)


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


# --- answered past Flask's request cycle ---------------------------------------------------------------

def test_the_common_request_is_answered_past_flask_as_the_view_answers(
        client: FlaskClient, machine, through_flask: list[str], answered_by: str) -> None:
    through_flask.clear()
    asked = [_token(client, machine, scope="email profile email") for _ in range(2)]
    # A second client authentication (a client_id in the body, which the view accepts) reaches the view.
    by_view = _token(client, machine, scope="email profile email", client_id=machine.client_id)
    assert through_flask == ["/token"] * (2 if answered_by == "view" else 1)
    for response in asked:
        assert response.status == by_view.status == "200 OK"
        headers, view_headers = response.headers.copy(), by_view.headers.copy()
        assert headers.pop("Content-Length") == view_headers.pop("Content-Length")  # tokens of one size
        assert headers.to_wsgi_list() == view_headers.to_wsgi_list()
        body = response.json
        assert body.keys() == by_view.json.keys() and body["scope"] == by_view.json["scope"] == "email profile"
        claims = verify_with_jwks(body["access_token"], client.get("/jwks").json)[1]
        assert claims["sub"] == machine.client_id and claims["scope"] == "email profile"


@pytest.mark.parametrize("request_kind", [
    "wrong secret", "not its grant", "scope beyond the client", "secret post client", "another parameter",
    "grant type twice", "another grant",
])
def test_what_the_view_must_answer_reaches_it(client: FlaskClient, machine, through_flask: list[str],
                                              request_kind: str) -> None:
    assert _token(client, machine).status_code == 200  # whatever the worker had kept, it has now
    form: dict[str, str | list[str]] = {"grant_type": "client_credentials"}
    headers = machine.basic_auth()
    expected = (200, None)
    if request_kind == "wrong secret":
        headers = {"Authorization": headers["Authorization"][:-4] + "AAA="}
        expected = (401, "invalid_client")
    elif request_kind == "not its grant":
        headers = register_client().basic_auth()  # a portal: authorization_code and refresh_token only
        expected = (400, "unauthorized_client")
    elif request_kind == "scope beyond the client":
        form["scope"] = "profile phone"
        expected = (400, "invalid_scope")
    elif request_kind == "secret post client":
        headers = register_client(token_endpoint_auth_method="client_secret_post", grant_types=["client_credentials"],
                                  redirect_uris=[], scope="profile").basic_auth()
        expected = (401, "invalid_client")
    elif request_kind == "another parameter":
        form["resource"] = "https://api.example.vn"
    elif request_kind == "grant type twice":
        form["grant_type"] = ["client_credentials", "client_credentials"]
        expected = (400, "invalid_request")
    else:
        form["grant_type"] = "password"
        expected = (400, "unsupported_grant_type")
    through_flask.clear()
    response = client.post("/token", data=form, headers=headers)
    assert (response.status_code, response.json.get("error")) == expected, response.json
    assert through_flask == ["/token"]
