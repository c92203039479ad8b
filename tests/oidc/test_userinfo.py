"""The UserInfo endpoint (OIDC Core §5.3): claims per granted scope, and RFC 6750 bearer token errors.

Every test runs twice: on a worker whose view answers the test's first GET, and on one that has
answered a userinfo GET before, whose GETs with a bearer header are then answered past Flask's
request cycle (``idp.web.prebuilt``) with the view's kept headers."""

from __future__ import annotations

import json
import time

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.exc import OperationalError

from idp.identity import accounts
from idp.oidc import keys
from idp.storage import grants
from tests.helpers.jwt_client import b64, bearer, payload_of
from tests.helpers.oidc import code_flow, decode, exchange, register_client, tokens_for


@pytest.fixture
def citizen(make_citizen):  # type: ignore[no-untyped-def]
    return make_citizen(full_name="Nguyễn Văn An", email="an@example.vn", phone="0912 345 678",
                        address="12 Lê Lợi, phường Điện Biên, Thanh Hóa")


@pytest.fixture(autouse=True, params=["view", "kept"])
def answered_by(request: pytest.FixtureRequest, app: Flask, rp, make_citizen) -> str:  # type: ignore[no-untyped-def]
    """"view": a fresh worker; "kept": one that has answered another person's userinfo GET."""
    if request.param == "kept":
        browser = app.test_client()
        token = tokens_for(browser, rp, make_citizen())["access_token"]
        assert browser.get("/userinfo", headers=bearer(token)).status_code == 200
    return str(request.param)


def _tokens(client: FlaskClient, rp, citizen, **overrides: str) -> dict:  # type: ignore[no-untyped-def, type-arg]
    _, answer = code_flow(client, rp, citizen, **overrides)
    response = exchange(client, rp, answer["code"])
    assert response.status_code == 200, response.json
    return response.json


def _userinfo(client: FlaskClient, token: str):  # type: ignore[no-untyped-def]
    return client.get("/userinfo", headers=bearer(token))


def _assert_invalid_token(response) -> None:  # type: ignore[no-untyped-def]
    """RFC 6750 §3.1: 401 with a Bearer challenge naming invalid_token."""
    assert response.status_code == 401, response.get_data(as_text=True)
    challenge = response.headers["WWW-Authenticate"]
    assert challenge.startswith("Bearer") and 'error="invalid_token"' in challenge


# --- presenting the token (RFC 6750 §2) ---------------------------------------------------------------

def test_get_with_bearer_header(client: FlaskClient, rp, citizen) -> None:
    response = _userinfo(client, _tokens(client, rp, citizen)["access_token"])
    assert response.status_code == 200 and response.mimetype == "application/json"
    assert response.json["sub"] == citizen.subject.sub
    assert response.headers["Cache-Control"] == "no-store"  # personal data


def test_post_with_bearer_header(client: FlaskClient, rp, citizen) -> None:
    response = client.post("/userinfo", headers=bearer(_tokens(client, rp, citizen)["access_token"]))
    assert response.status_code == 200 and response.json["sub"] == citizen.subject.sub


def test_post_with_token_in_form_body(client: FlaskClient, rp, citizen) -> None:
    response = client.post("/userinfo", data={"access_token": _tokens(client, rp, citizen)["access_token"]})
    assert response.status_code == 200 and response.json["sub"] == citizen.subject.sub


def test_bearer_scheme_is_case_insensitive(client: FlaskClient, rp, citizen) -> None:
    token = _tokens(client, rp, citizen)["access_token"]
    response = client.get("/userinfo", headers={"Authorization": f"bearer {token}"})
    assert response.status_code == 200


def test_missing_token_is_a_bare_challenge(client: FlaskClient) -> None:
    response = client.get("/userinfo")
    assert response.status_code == 401
    # RFC 6750 §3.1: a request without any authentication gets no error code.
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert "error=" not in response.headers["WWW-Authenticate"]


def test_token_in_header_and_body_is_invalid_request(client: FlaskClient, rp, citizen) -> None:
    token = _tokens(client, rp, citizen)["access_token"]
    response = client.post("/userinfo", headers=bearer(token), data={"access_token": token})
    # RFC 6750 §2: the client MUST NOT use more than one method; §3.1: invalid_request, 400.
    assert response.status_code == 400
    assert 'error="invalid_request"' in response.headers["WWW-Authenticate"]


# --- claims per scope (OIDC Core §5.4) --------------------------------------------------------------------

def test_openid_scope_alone_gives_only_sub(client: FlaskClient, rp, citizen) -> None:
    body = _userinfo(client, _tokens(client, rp, citizen, scope="openid")["access_token"]).json
    assert body == {"sub": citizen.subject.sub}


def test_profile_scope(app, client: FlaskClient, rp, citizen) -> None:  # type: ignore[no-untyped-def]
    body = _userinfo(client, _tokens(client, rp, citizen, scope="openid profile")["access_token"]).json
    # Vietnamese names are family name first.
    assert body["name"] == "Nguyễn Văn An"
    assert body["family_name"] == "Nguyễn" and body["given_name"] == "Văn An"
    assert isinstance(body["updated_at"], int) and abs(body["updated_at"] - time.time()) < 3600
    assert body["locale"] == app.config["IDP_DEFAULT_LOCALE"]
    assert not {"email", "phone_number", "address"} & body.keys()


def test_email_scope(client: FlaskClient, rp, citizen) -> None:
    body = _userinfo(client, _tokens(client, rp, citizen, scope="openid email")["access_token"]).json
    assert body["email"] == "an@example.vn" and body["email_verified"] is True
    assert "name" not in body


def test_phone_scope_gives_e164(client: FlaskClient, rp, citizen) -> None:
    body = _userinfo(client, _tokens(client, rp, citizen, scope="openid phone")["access_token"]).json
    assert body["phone_number"] == "+84912345678"  # OIDC Core §5.1: E.164
    assert isinstance(body["phone_number_verified"], bool)
    assert "email" not in body


def test_address_scope(client: FlaskClient, rp, citizen) -> None:
    body = _userinfo(client, _tokens(client, rp, citizen, scope="openid address")["access_token"]).json
    assert body["address"] == {"formatted": "12 Lê Lợi, phường Điện Biên, Thanh Hóa"}  # OIDC Core §5.1.1


def test_sub_matches_the_id_token(client: FlaskClient, rp, citizen) -> None:
    tokens = _tokens(client, rp, citizen, scope="openid profile email phone address")
    # OIDC Core §5.3.2: the sub in the UserInfo response MUST match the ID token's.
    assert _userinfo(client, tokens["access_token"]).json["sub"] == decode(tokens["id_token"])["sub"]


def test_claims_parameter_releases_a_registered_claim_without_its_scope(client: FlaskClient, rp, citizen) -> None:
    tokens = _tokens(client, rp, citizen, scope="openid", claims=json.dumps({"userinfo": {"email": None}}))
    body = _userinfo(client, tokens["access_token"]).json
    assert body["sub"] == citizen.subject.sub and body["email"] == "an@example.vn"
    assert "name" not in body and "phone_number" not in body


def test_claims_parameter_cannot_reach_beyond_the_client_registration(client: FlaskClient, citizen) -> None:
    narrow = register_client(skip_consent=True, scope="openid profile")
    tokens = _tokens(client, narrow, citizen, scope="openid", claims=json.dumps({"userinfo": {"email": None}}))
    assert "email" not in _userinfo(client, tokens["access_token"]).json


def test_token_without_openid_scope_is_insufficient_scope(client: FlaskClient, rp, citizen) -> None:
    token = _tokens(client, rp, citizen, scope="profile")["access_token"]
    response = _userinfo(client, token)
    # OIDC Core §5.3: UserInfo serves tokens from an OpenID request; RFC 6750 §3.1: 403 insufficient_scope.
    assert response.status_code == 403
    assert 'error="insufficient_scope"' in response.headers["WWW-Authenticate"]


# --- tokens that must be refused ---------------------------------------------------------------------------

@pytest.mark.parametrize("token", ["garbage", "a.b.c", "eyJhbGciOiJub25lIn0.e30.", "x" * 9000])
def test_garbage_token_is_invalid_token(client: FlaskClient, token: str) -> None:
    _assert_invalid_token(_userinfo(client, token))


def test_tampered_token_is_invalid_token(client: FlaskClient, rp, citizen, make_citizen) -> None:
    token = _tokens(client, rp, citizen)["access_token"]
    header, _, signature = token.split(".")
    claims = payload_of(token) | {"sub": make_citizen().subject.sub}
    _assert_invalid_token(_userinfo(client, f"{header}.{b64(claims)}.{signature}"))


def test_unsigned_copy_of_a_token_is_invalid_token(client: FlaskClient, rp, citizen) -> None:
    token = _tokens(client, rp, citizen)["access_token"]
    unsigned = f"{b64({'alg': 'none', 'typ': 'at+jwt'})}.{b64(payload_of(token))}."
    _assert_invalid_token(_userinfo(client, unsigned))


def test_expired_token_is_invalid_token(client: FlaskClient, rp, citizen) -> None:
    claims = payload_of(_tokens(client, rp, citizen)["access_token"])
    claims.update(iat=int(time.time()) - 1200, exp=int(time.time()) - 600)
    _assert_invalid_token(_userinfo(client, keys.sign(claims, typ="at+jwt")))


def test_token_of_another_issuer_is_invalid_token(client: FlaskClient, rp, citizen) -> None:
    claims = payload_of(_tokens(client, rp, citizen)["access_token"]) | {"iss": "https://elsewhere.example"}
    _assert_invalid_token(_userinfo(client, keys.sign(claims, typ="at+jwt")))


def test_id_token_is_not_an_access_token(client: FlaskClient, rp, citizen) -> None:
    # RFC 9068 §4: the typ header at+jwt is what tells an access token from an ID token.
    _assert_invalid_token(_userinfo(client, _tokens(client, rp, citizen)["id_token"]))


def test_refresh_token_is_not_an_access_token(client: FlaskClient, rp, citizen) -> None:
    _assert_invalid_token(_userinfo(client, _tokens(client, rp, citizen)["refresh_token"]))


def test_client_credentials_token_is_refused(client: FlaskClient) -> None:
    machine = register_client(grant_types=["client_credentials"], redirect_uris=[], scope="openid profile email")
    token = client.post("/token", data={"grant_type": "client_credentials"}, headers=machine.basic_auth()).json
    response = _userinfo(client, token["access_token"])
    # No person behind it and no openid scope: the token is valid but does not allow UserInfo.
    assert response.status_code == 403
    assert 'error="insufficient_scope"' in response.headers["WWW-Authenticate"]
    assert "sub" not in response.json


def test_token_of_a_revoked_grant_is_invalid_token(client: FlaskClient, rp, citizen) -> None:
    _, answer = code_flow(client, rp, citizen)
    tokens = exchange(client, rp, answer["code"]).json
    assert _userinfo(client, tokens["access_token"]).status_code == 200
    assert exchange(client, rp, answer["code"]).json["error"] == "invalid_grant"  # reuse revokes the grant
    _assert_invalid_token(_userinfo(client, tokens["access_token"]))


def test_token_of_a_locked_account_is_invalid_token(client: FlaskClient, rp, citizen) -> None:
    token = _tokens(client, rp, citizen)["access_token"]
    accounts.lock(citizen.id_number)
    _assert_invalid_token(_userinfo(client, token))


def test_token_naming_another_person_of_the_grant_is_invalid_token(client: FlaskClient, rp, citizen,
                                                                   make_citizen) -> None:
    claims = payload_of(_tokens(client, rp, citizen)["access_token"]) | {"sub": make_citizen().subject.sub}
    _assert_invalid_token(_userinfo(client, keys.sign(claims, typ="at+jwt")))


# --- answered past Flask's request cycle ---------------------------------------------------------------

def test_a_get_is_answered_past_flask_exactly_as_the_view_answers(client: FlaskClient, rp, citizen,
                                                                  through_flask: list[str], answered_by: str) -> None:
    token = _tokens(client, rp, citizen, scope="openid profile email phone address")["access_token"]
    through_flask.clear()
    gets = [_userinfo(client, token) for _ in range(2)]
    by_view = client.post("/userinfo", headers=bearer(token))  # a POST always reaches the view
    # On a fresh worker the first GET is the view's, whose headers are kept; every later GET is not.
    assert through_flask == ["/userinfo"] * (2 if answered_by == "view" else 1)
    for response in gets:
        assert response.status == by_view.status == "200 OK"
        assert response.headers.to_wsgi_list() == by_view.headers.to_wsgi_list()
        assert response.data == by_view.data


def test_each_person_reads_their_own_claims(client: FlaskClient, app: Flask, rp, citizen, make_citizen,
                                            through_flask: list[str]) -> None:
    other = make_citizen(full_name="Lê Thị Bình")
    mine = _tokens(client, rp, citizen, scope="openid profile")["access_token"]
    theirs = tokens_for(app.test_client(), rp, other)["access_token"]
    for _ in range(2):
        assert _userinfo(client, mine).json["name"] == "Nguyễn Văn An"
        assert _userinfo(client, theirs).json["name"] == "Lê Thị Bình"
    assert through_flask.count("/userinfo") <= 1


@pytest.mark.parametrize("request_kind", ["POST", "form", "query"])
def test_only_a_get_with_a_bearer_header_is_answered_past_flask(client: FlaskClient, rp, citizen,
                                                                through_flask: list[str], request_kind: str) -> None:
    token = _tokens(client, rp, citizen)["access_token"]
    assert _userinfo(client, token).status_code == 200  # whatever the worker had kept, it has now
    through_flask.clear()
    if request_kind == "POST":
        response = client.post("/userinfo", headers=bearer(token))
    elif request_kind == "form":
        response = client.post("/userinfo", data={"access_token": token})
    else:
        response = client.get("/userinfo", query_string={"x": "1"}, headers=bearer(token))
    assert response.status_code == 200 and response.json["sub"] == citizen.subject.sub
    assert through_flask == ["/userinfo"]


def test_a_failure_while_answering_goes_to_the_view(client: FlaskClient, rp, citizen, through_flask: list[str],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    token = _tokens(client, rp, citizen)["access_token"]
    good = _userinfo(client, token)

    def database_down(*_args: object) -> None:
        raise OperationalError("SELECT", {}, Exception("connection refused"))

    monkeypatch.setattr(grants, "grant_of_access_token", database_down)
    through_flask.clear()
    failed = _userinfo(client, token)
    assert through_flask == ["/userinfo"]  # the view answered the failure
    assert failed.status_code >= 500 and failed.json["error"] in ("server_error", "temporarily_unavailable")
    monkeypatch.undo()
    assert _userinfo(client, token).data == good.data
    assert through_flask == ["/userinfo"]
