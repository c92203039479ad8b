"""Where the token, revocation and introspection endpoints read their parameters: an
application/x-www-form-urlencoded body only (RFC 6749 §3.2 and §4.1.3, RFC 7009 §2.1, RFC 7662 §2.1)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import pytest
from flask import Flask
from flask.testing import FlaskClient

from idp.oidc import client_registry
from tests.conftest import make_app
from tests.helpers.oidc import RegisteredClient, register_client

FORM = "application/x-www-form-urlencoded"


@pytest.fixture
def machine(app) -> RegisteredClient:  # type: ignore[no-untyped-def]
    return register_client(grant_types=["client_credentials"], redirect_uris=[], scope="profile")


def _access_token(client: FlaskClient, machine: RegisteredClient) -> str:
    response = client.post("/token", data={"grant_type": "client_credentials"}, headers=machine.basic_auth())
    assert response.status_code == 200, response.json
    return response.json["access_token"]


def test_parameters_in_the_query_string_are_not_read(client: FlaskClient, machine: RegisteredClient) -> None:
    response = client.post("/token?grant_type=client_credentials", headers=machine.basic_auth())
    assert response.status_code == 400 and response.json["error"] == "invalid_request"


def test_a_query_string_does_not_override_the_body(client: FlaskClient, machine: RegisteredClient) -> None:
    response = client.post("/token?grant_type=password", data={"grant_type": "client_credentials"},
                           headers=machine.basic_auth())
    assert response.status_code == 200, response.json


def test_a_multipart_body_carries_no_parameters(client: FlaskClient, machine: RegisteredClient) -> None:
    response = client.post("/token", data={"grant_type": "client_credentials"}, content_type="multipart/form-data",
                           headers=machine.basic_auth())
    assert response.status_code == 400 and response.json["error"] == "invalid_request"


def test_a_json_body_carries_no_parameters(client: FlaskClient, machine: RegisteredClient) -> None:
    response = client.post("/token", json={"grant_type": "client_credentials"}, headers=machine.basic_auth())
    assert response.status_code == 400 and response.json["error"] == "invalid_request"


def test_a_content_type_with_a_charset_is_a_form(client: FlaskClient, machine: RegisteredClient) -> None:
    response = client.post("/token", data="grant_type=client_credentials",
                           content_type=f"{FORM}; charset=UTF-8", headers=machine.basic_auth())
    assert response.status_code == 200, response.json


def test_percent_encoded_utf8_is_decoded(app: Flask, client: FlaskClient) -> None:
    """client_secret_post with a secret outside ASCII, sent percent-encoded as UTF-8."""
    secret = "mật-khẩu-Thanh-Hóa-" + "x" * 32
    row, _ = client_registry.register({"client_name": "Một cửa", "grant_types": ["client_credentials"],
                                       "redirect_uris": [], "scope": "profile",
                                       "token_endpoint_auth_method": "client_secret_post"}, client_secret=secret)
    rp = RegisteredClient(row, secret)
    body = f"grant_type=client_credentials&client_id={quote(rp.client_id)}&client_secret={quote(secret)}"
    response = client.post("/token", data=body, content_type=FORM)
    assert response.status_code == 200, response.json


def test_bytes_that_are_not_utf8_are_an_oauth_error(client: FlaskClient, machine: RegisteredClient) -> None:
    for body in (b"grant_type=client_credentials&scope=\xff\xfe", b"grant_type=client_credentials&scope=%ff%fe"):
        response = client.post("/token", data=body, content_type=FORM, headers=machine.basic_auth())
        assert response.status_code == 400 and response.json["error"] == "invalid_scope", response.json


def test_a_body_past_the_size_limit_is_refused(app: Flask, client: FlaskClient, machine: RegisteredClient) -> None:
    padding = "x" * app.config["MAX_CONTENT_LENGTH"]
    response = client.post("/token", data={"grant_type": "client_credentials", "scope": padding},
                           headers=machine.basic_auth())
    assert response.status_code == 413 and response.json["error"]


def test_a_smaller_size_limit_holds_past_flask_too(app_config: dict[str, Any], machine: RegisteredClient) -> None:
    """The common client_credentials request is answered past Flask's cycle once the worker has kept
    the view's headers; a body past IDP_MAX_CONTENT_LENGTH still gets the view's 413."""
    worker = make_app({**app_config, "IDP_MAX_CONTENT_LENGTH": 1024}).test_client()
    form = {"grant_type": "client_credentials"}
    assert worker.post("/token", data=form, headers=machine.basic_auth()).status_code == 200
    assert worker.post("/token", data=form, headers=machine.basic_auth()).status_code == 200
    response = worker.post("/token", data={**form, "scope": "profile " * 200}, headers=machine.basic_auth())
    assert response.status_code == 413 and response.json["error"]


def test_a_parameter_given_twice_is_refused_at_introspection(client: FlaskClient,
                                                              machine: RegisteredClient) -> None:
    token = _access_token(client, machine)
    response = client.post("/introspect", data=f"token={token}&token={token}", content_type=FORM,
                           headers=machine.basic_auth())
    # RFC 6749 §3.2: request parameters MUST NOT be included more than once.
    assert response.status_code == 400 and response.json["error"] == "invalid_request"


@pytest.mark.parametrize("body", ["grant_type=client_credentials&grant_type=client_credentials",
                                  "grant_type=client_credentials&scope=profile&scope=profile"])
def test_a_parameter_given_twice_is_refused_at_the_token_endpoint(client: FlaskClient, machine: RegisteredClient,
                                                                  body: str) -> None:
    response = client.post("/token", data=body, content_type=FORM, headers=machine.basic_auth())
    assert response.status_code == 400 and response.json["error"] == "invalid_request"
    assert "more than once" in response.json["error_description"]


def test_introspection_and_revocation_read_the_body(client: FlaskClient, machine: RegisteredClient) -> None:
    token = _access_token(client, machine)
    assert client.post(f"/introspect?token={token}", headers=machine.basic_auth()).status_code == 400
    assert client.post("/introspect", data={"token": token}, headers=machine.basic_auth()).json["active"] is True
    assert client.post(f"/revoke?token={token}", headers=machine.basic_auth()).status_code == 400
    assert client.post("/revoke", data={"token": token}, headers=machine.basic_auth()).status_code == 200
    assert client.post("/introspect", data={"token": token}, headers=machine.basic_auth()).json["active"] is False


@pytest.mark.parametrize("path", ["/token", "/revoke", "/introspect"])
def test_plain_http_to_a_public_name_is_refused_as_an_oauth_error(client: FlaskClient, machine: RegisteredClient,
                                                                  path: str) -> None:
    """Behind a proxy that is not trusted (IDP_PROXY_COUNT unset), the request looks like plain http:
    Authlib refuses it as it reads it (RFC 6749 §3.2: TLS is required), and the endpoint says so."""
    form = {"grant_type": "client_credentials"} if path == "/token" else {"token": _access_token(client, machine)}
    response = client.post(path, data=form, headers=machine.basic_auth(), base_url="http://idp.example.vn")
    assert response.status_code == 400 and response.json["error"] == "insecure_transport"
    assert response.headers["Cache-Control"] == "no-store"
