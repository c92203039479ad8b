"""Token introspection (RFC 7662): what an active token says, and every way a token stops being active.

Every test runs twice: on a worker whose view answers the test's first introspection, and on one that
has answered an introspection before, whose common requests (the secret in the Authorization header,
a urlencoded token) are then answered past Flask's request cycle (``idp.web.prebuilt``) with the
view's kept headers."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from flask import Flask, request_started
from flask.testing import FlaskClient
from sqlalchemy.exc import OperationalError

from idp.identity import accounts
from idp.oidc import keys
from idp.storage import grants, transaction
from idp.storage.subjects import SubjectStatus
from tests.conftest import make_app
from tests.helpers.forms import sign_out
from tests.helpers.jwt_client import assertion_claims, assertion_form, bearer, client_key
from tests.helpers.oidc import RegisteredClient, code_flow, decode, exchange, register_client, tokens_for

INACTIVE = {"active": False}




@pytest.fixture
def resource_server(app) -> RegisteredClient:  # type: ignore[no-untyped-def]
    """A confidential client in the resource server's role: it only ever introspects."""
    return register_client(client_name="Máy chủ tài nguyên", grant_types=["client_credentials"], redirect_uris=[],
                           scope="profile")


@pytest.fixture(autouse=True, params=["view", "kept"])
def answered_by(request: pytest.FixtureRequest, app: Flask) -> str:
    """"view": a fresh worker; "kept": one that has answered another client's introspection."""
    if request.param == "kept":
        other = register_client(grant_types=["client_credentials"], redirect_uris=[], scope="profile")
        answered = app.test_client().post("/introspect", data={"token": "dna_unknown"}, headers=other.basic_auth())
        assert answered.status_code == 200 and answered.json == INACTIVE
    return str(request.param)



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


# --- answered past Flask's request cycle ---------------------------------------------------------------

def test_the_common_request_is_answered_past_flask_exactly_as_the_view_answers(
        app: Flask, client: FlaskClient, rp, resource_server, citizen, through_flask: list[str],
        answered_by: str) -> None:
    tokens = tokens_for(client, rp, citizen)
    for token, caller in ((tokens["access_token"], resource_server), (tokens["refresh_token"], rp),
                          ("dna_unknown", resource_server)):
        through_flask.clear()
        asked = [client.post("/introspect", data={"token": token}, headers=caller.basic_auth()) for _ in range(2)]
        # A second client authentication (here a client_id in the body, which the view accepts) reaches the view.
        by_view = client.post("/introspect", data={"token": token, "client_id": caller.client_id},
                              headers=caller.basic_auth())
        fresh = answered_by == "view" and token == tokens["access_token"]
        assert through_flask == ["/introspect"] * (2 if fresh else 1)
        for response in asked:
            assert response.status == by_view.status == "200 OK"
            assert response.headers.to_wsgi_list() == by_view.headers.to_wsgi_list()
            assert response.data == by_view.data


@pytest.mark.parametrize("request_kind", [
    "wrong secret", "unknown client", "secret in the body", "another method registered", "token twice",
    "another parameter", "no token", "json body", "query string", "plain http to a public host",
])
def test_what_the_view_must_answer_reaches_it(app: Flask, client: FlaskClient, rp, resource_server, citizen,
                                              through_flask: list[str], request_kind: str) -> None:
    """Whatever the worker has kept, these requests get the view's own answer, errors included."""
    token = tokens_for(client, rp, citizen)["access_token"]
    assert _introspect(client, resource_server, token)["active"] is True
    as_server = resource_server.basic_auth()
    form: dict[str, str | list[str]] = {"token": token}
    options: dict = {"headers": as_server}  # type: ignore[type-arg]
    expected = (200, None)
    if request_kind == "wrong secret":
        options["headers"] = {"Authorization": as_server["Authorization"][:-4] + "AAA="}
        expected = (401, "invalid_client")
    elif request_kind == "unknown client":
        options["headers"] = {"Authorization": "Basic " + base64.b64encode(b"nobody:secret").decode()}
        expected = (401, "invalid_client")
    elif request_kind == "secret in the body":
        form, options = {"token": token, "client_id": resource_server.client_id,
                         "client_secret": resource_server.secret or ""}, {}
        expected = (401, "invalid_client")  # registered for client_secret_basic only
    elif request_kind == "another method registered":
        poster = register_client(token_endpoint_auth_method="client_secret_post",
                                 grant_types=["client_credentials"], redirect_uris=[], scope="profile")
        options["headers"] = poster.basic_auth()
        expected = (401, "invalid_client")
    elif request_kind == "token twice":
        form = {"token": [token, token]}
        expected = (400, "invalid_request")
    elif request_kind == "another parameter":
        form = {"token": token, "resource": "https://api.example.vn"}
    elif request_kind == "no token":
        form = {"token": ""}
        expected = (400, "invalid_request")
    elif request_kind == "json body":
        form, options["json"] = {}, {"token": token}
        expected = (400, "invalid_request")
    elif request_kind == "query string":
        options["query_string"] = {"x": "1"}
    else:
        options["base_url"] = "http://idp.example.vn"
        expected = (400, "insecure_transport")
    through_flask.clear()
    response = client.post("/introspect", data=form or None, **options)
    assert (response.status_code, response.json.get("error")) == expected, response.json
    if expected[0] == 200:
        assert response.json["active"] is True
    assert through_flask == ["/introspect"]


def test_https_is_answered_past_flask_directly_and_behind_a_trusted_proxy(
        app: Flask, app_config: dict[str, Any], client: FlaskClient, rp, resource_server, citizen) -> None:
    """On a public name only https is answered (the proxy's X-Forwarded-Proto, when it is trusted)."""
    token = tokens_for(client, rp, citizen)["access_token"]
    as_server = resource_server.basic_auth()
    behind = make_app({**app_config, "IDP_PROXY_COUNT": 1})
    for worker, options in ((app, {"base_url": "https://idp.example.vn"}),
                            (behind, {"base_url": "http://idp.example.vn",
                                      "headers": {**as_server, "X-Forwarded-Proto": "https"}})):
        seen: list[object] = []
        record = seen.append
        request_started.connect(record, worker, weak=False)
        try:
            for _ in range(3):
                response = worker.test_client().post("/introspect", data={"token": token},
                                                     **({"headers": as_server} | options))
                assert response.status_code == 200 and response.json["active"] is True
        finally:
            request_started.disconnect(record, worker)
        assert len(seen) <= 1  # the view's first answer at most
    refused = behind.test_client().post("/introspect", data={"token": token}, headers=as_server,
                                        base_url="http://idp.example.vn")
    assert refused.status_code == 400 and refused.json["error"] == "insecure_transport"


def test_a_failure_while_answering_goes_to_the_view(client: FlaskClient, rp, resource_server, citizen,
                                                   through_flask: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    token = tokens_for(client, rp, citizen)["access_token"]
    good = client.post("/introspect", data={"token": token}, headers=resource_server.basic_auth())

    def database_down(*_args: object) -> None:
        raise OperationalError("SELECT", {}, Exception("connection refused"))

    monkeypatch.setattr(grants, "grant_of_access_token", database_down)
    through_flask.clear()
    failed = client.post("/introspect", data={"token": token}, headers=resource_server.basic_auth())
    assert through_flask == ["/introspect"]  # the view answered the failure
    assert failed.status_code >= 500 and failed.json["error"] in ("server_error", "temporarily_unavailable")
    monkeypatch.undo()
    assert client.post("/introspect", data={"token": token}, headers=resource_server.basic_auth()).data == good.data
    assert through_flask == ["/introspect"]
