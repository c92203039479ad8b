"""Provider metadata (OpenID Connect Discovery 1.0 §3, RFC 8414 §2) and the keys it points to."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient

from idp.authn.levels import ACR_MFA, ACR_PWD
from tests.helpers.jwt_client import header_of, verify_with_jwks
from tests.helpers.oidc import asks_to_sign_in, authorize_params, code_flow, exchange, register_client

METADATA_PATHS = ["/.well-known/openid-configuration", "/.well-known/oauth-authorization-server"]
ENDPOINTS = ["authorization_endpoint", "token_endpoint", "userinfo_endpoint", "jwks_uri"]


@pytest.fixture
def metadata(client: FlaskClient) -> dict:  # type: ignore[type-arg]
    response = client.get(METADATA_PATHS[0])
    assert response.status_code == 200
    return response.json


@pytest.mark.parametrize("path", METADATA_PATHS)
def test_metadata_is_json_naming_our_issuer(app: Flask, client: FlaskClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    # Discovery §4.3 / RFC 8414 §3.3: the issuer is exactly the one the metadata was fetched for.
    assert response.json["issuer"] == app.config["IDP_ISSUER"]


def test_both_well_known_documents_agree(client: FlaskClient) -> None:
    openid, oauth = (client.get(path).json for path in METADATA_PATHS)
    assert openid == oauth


def test_issuer_follows_configuration(app_config) -> None:  # type: ignore[no-untyped-def]
    from tests.conftest import make_app

    app_config["IDP_ISSUER"] = "https://dangnhap.thanhhoa.gov.vn"
    body = make_app(app_config).test_client().get(METADATA_PATHS[0], base_url="https://dangnhap.thanhhoa.gov.vn").json
    assert body["issuer"] == "https://dangnhap.thanhhoa.gov.vn"
    for name in ENDPOINTS:
        assert body[name].startswith("https://dangnhap.thanhhoa.gov.vn/"), body[name]


@pytest.mark.parametrize("name", ENDPOINTS)
def test_endpoints_are_absolute_urls_under_the_issuer(app: Flask, metadata, name: str) -> None:
    issuer = app.config["IDP_ISSUER"]
    url = metadata[name]
    parts = urlsplit(url)
    assert parts.scheme in ("http", "https") and parts.netloc and not parts.fragment and not parts.query
    assert url.startswith(issuer + "/"), url


def test_authorization_endpoint_answers(client: FlaskClient, metadata) -> None:
    rp = register_client()
    response = client.get(metadata["authorization_endpoint"], query_string=authorize_params(rp))
    assert asks_to_sign_in(response)


def test_token_endpoint_answers(client: FlaskClient, metadata) -> None:
    machine = register_client(grant_types=["client_credentials"], redirect_uris=[], scope="profile")
    response = client.post(metadata["token_endpoint"], data={"grant_type": "client_credentials"},
                           headers=machine.basic_auth())
    assert response.status_code == 200 and response.json["token_type"] == "Bearer"


def test_userinfo_endpoint_answers(client: FlaskClient, metadata) -> None:
    response = client.get(metadata["userinfo_endpoint"])
    assert response.status_code == 401 and response.headers["WWW-Authenticate"].startswith("Bearer")


def test_jwks_uri_answers_with_public_signing_keys(client: FlaskClient, metadata) -> None:
    response = client.get(metadata["jwks_uri"])
    assert response.status_code == 200 and response.mimetype == "application/json"
    keys = response.json["keys"]
    assert keys
    for key in keys:
        assert key["kid"] and key["use"] == "sig" and key["alg"] in metadata["id_token_signing_alg_values_supported"]
        assert not {"d", "p", "q", "dp", "dq", "qi", "k"} & key.keys(), "a private parameter is published"
    assert len({key["kid"] for key in keys}) == len(keys)


def test_only_the_code_flow_is_offered(metadata) -> None:
    assert metadata["response_types_supported"] == ["code"]
    assert set(metadata["response_modes_supported"]) == {"query", "form_post"}
    assert set(metadata["grant_types_supported"]) == {"authorization_code", "refresh_token", "client_credentials"}
    assert "implicit" not in metadata["grant_types_supported"]


def test_subject_types(metadata) -> None:
    assert metadata["subject_types_supported"] == ["public"]


def test_rs256_is_offered_first_for_id_tokens(app: Flask, metadata) -> None:
    algs = metadata["id_token_signing_alg_values_supported"]
    # OIDC Core §15.1 / Discovery §3: RS256 MUST be supported; it is the default a client gets.
    assert algs[0] == "RS256"
    assert set(algs) == set(app.config["IDP_SIGNING_ALGS"]) and "none" not in algs


def test_pkce_is_s256_only(metadata) -> None:
    assert metadata["code_challenge_methods_supported"] == ["S256"]


def test_request_parameters_supported(metadata) -> None:
    assert metadata["claims_parameter_supported"] is True
    assert metadata["request_parameter_supported"] is False
    assert metadata["request_uri_parameter_supported"] is False


def test_issuer_in_authorization_response_is_announced(metadata) -> None:
    assert metadata["authorization_response_iss_parameter_supported"] is True  # RFC 9207 §3


def test_ui_locales(metadata) -> None:
    assert {"vi", "en"} <= set(metadata["ui_locales_supported"])


def test_scopes_and_claims(metadata) -> None:
    assert {"openid", "profile", "email", "phone", "address"} <= set(metadata["scopes_supported"])
    assert {"sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "acr", "amr", "sid", "name", "email",
            "phone_number", "address"} <= set(metadata["claims_supported"])
    assert metadata["acr_values_supported"] == [ACR_PWD, ACR_MFA]


def test_token_endpoint_auth_methods(metadata) -> None:
    assert set(metadata["token_endpoint_auth_methods_supported"]) == {
        "client_secret_basic", "client_secret_post", "private_key_jwt", "none"}
    signing = metadata["token_endpoint_auth_signing_alg_values_supported"]
    # Discovery §3: "none" MUST NOT be listed; no symmetric algorithm either (no client_secret_jwt).
    assert "RS256" in signing and "none" not in signing and not any(alg.startswith("HS") for alg in signing)


@pytest.mark.parametrize("path", METADATA_PATHS)
def test_metadata_is_cacheable_and_readable_cross_origin(client: FlaskClient, path: str) -> None:
    response = client.get(path)
    assert "public" in response.headers["Cache-Control"] and "no-store" not in response.headers["Cache-Control"]
    assert response.headers["Access-Control-Allow-Origin"] == "*"


def test_jwks_is_cacheable(client: FlaskClient, metadata) -> None:
    response = client.get(metadata["jwks_uri"])
    assert "public" in response.headers["Cache-Control"] and "no-store" not in response.headers["Cache-Control"]


@pytest.mark.parametrize("alg", ["RS256", "ES256", "EdDSA"])
def test_tokens_are_signed_by_keys_in_the_jwks(client: FlaskClient, metadata, make_citizen, alg: str) -> None:
    rp = register_client(skip_consent=True, id_token_signed_response_alg=alg, access_token_signed_response_alg=alg)
    _, answer = code_flow(client, rp, make_citizen())
    body = exchange(client, rp, answer["code"]).json
    jwks = client.get(metadata["jwks_uri"]).json
    published = {key["kid"] for key in jwks["keys"]}
    for token in (body["id_token"], body["access_token"]):
        assert header_of(token)["kid"] in published
        header, claims = verify_with_jwks(token, jwks)
        assert header["alg"] == alg and claims["iss"] == metadata["issuer"]
