"""Provider metadata (OpenID Connect Discovery 1.0 §3, RFC 8414), built from what is enabled.

Built once per app and cached, serialised too: it changes only with configuration, which needs a
restart anyway, and relying parties (and their libraries' health checks) fetch it constantly.
"""

from __future__ import annotations

import json
from typing import Any

from flask import current_app

from idp.authn.levels import ACR_VALUES

from . import introspection, keys, revocation, urls
from .client_auth import AUTH_METHODS
from .scopes import SCOPE_CLAIMS, SUPPORTED_SCOPES

EXTENSION = "dangnhap.discovery"


def _build() -> dict[str, Any]:
    issuer = urls.issuer()
    endpoint = urls.endpoint

    algs = list(current_app.config["IDP_SIGNING_ALGS"])
    claims = sorted({c for names in SCOPE_CLAIMS.values() for c in names} | {
        "iss", "aud", "exp", "iat", "auth_time", "nonce", "acr", "amr", "sid", "azp", "at_hash"})
    return {
        "issuer": issuer,
        "authorization_endpoint": endpoint("oidc.authorize"),
        "token_endpoint": endpoint("oidc.token"),
        "userinfo_endpoint": endpoint("oidc.userinfo"),
        "jwks_uri": endpoint("jwks.jwks"),
        "scopes_supported": list(SUPPORTED_SCOPES),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query", "form_post"],
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": algs,
        "token_endpoint_auth_methods_supported": AUTH_METHODS,
        "token_endpoint_auth_signing_alg_values_supported": keys.ASSERTION_ALGS,
        "revocation_endpoint": endpoint("oidc_tokens.revoke"),
        "revocation_endpoint_auth_methods_supported": revocation.AUTH_METHODS,
        "revocation_endpoint_auth_signing_alg_values_supported": keys.ASSERTION_ALGS,
        "introspection_endpoint": endpoint("oidc_tokens.introspect"),
        "introspection_endpoint_auth_methods_supported": introspection.AUTH_METHODS,
        "introspection_endpoint_auth_signing_alg_values_supported": keys.ASSERTION_ALGS,
        "code_challenge_methods_supported": ["S256"],
        "claims_supported": claims,
        "claims_parameter_supported": True,
        "request_parameter_supported": False,
        "request_uri_parameter_supported": False,
        "require_request_uri_registration": False,
        "prompt_values_supported": ["none", "login", "consent", "select_account"],
        "acr_values_supported": list(ACR_VALUES),
        "ui_locales_supported": list(current_app.config["IDP_LOCALES"]),
        "claims_locales_supported": ["vi"],
        "display_values_supported": ["page"],
        "authorization_response_iss_parameter_supported": True,
        "end_session_endpoint": endpoint("portal.end_session_endpoint"),
        "backchannel_logout_supported": True,
        "backchannel_logout_session_supported": True,
        "frontchannel_logout_supported": True,
        "frontchannel_logout_session_supported": True,
    }


def metadata() -> dict[str, Any]:
    return _cached()[0]


def document() -> bytes:
    """The metadata as the JSON the endpoint sends."""
    return _cached()[1]


def _cached() -> tuple[dict[str, Any], bytes]:
    cached = current_app.extensions.get(EXTENSION)
    if cached is None:
        built = _build()
        cached = current_app.extensions[EXTENSION] = (built, json.dumps(built, ensure_ascii=False).encode())
    return cached
