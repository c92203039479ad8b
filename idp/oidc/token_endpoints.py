"""The revocation (RFC 7009) and introspection (RFC 7662) endpoints: thin views.

Clients authenticate exactly as at the token endpoint, through the same Authlib server; errors are
RFC 6749 §5.2 JSON, and nothing is cached (the answers speak about credentials). Each request is one
transaction: a revocation writes, and so does private_key_jwt (it records the assertion's jti). An
introspection by any other client only reads, and runs outside a transaction (``reading``); the
common one is answered past this view (``introspection.answer_for_post``), with this view's headers.
"""

from __future__ import annotations

from contextlib import nullcontext

from authlib.consts import default_json_headers
from authlib.oauth2.rfc6749 import OAuth2Error, OAuth2Request
from authlib.oauth2.rfc6749.errors import InvalidRequestError
from flask import Blueprint, Response

from idp.storage import reading, transaction

from . import introspection, keys, revocation, server
from .client_auth import OAuthClient

bp = Blueprint("oidc_tokens", __name__)
bp.register_error_handler(OAuth2Error, server.answer_error)

_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def _authenticate(oauth_request: OAuth2Request, methods: list[str], endpoint: str) -> tuple[OAuthClient, str]:
    """The authenticated client and the ``token`` parameter (RFC 7009 §2.1, RFC 7662 §2.1: REQUIRED)."""
    client = server.get().authenticate_client(oauth_request, methods, endpoint)
    values = oauth_request.form.getlist("token")
    if len(values) != 1 or not values[0]:
        # RFC 6749 §3.2: parameters MUST NOT be included more than once.
        raise InvalidRequestError("exactly one token parameter is required")
    return client, values[0]


@bp.post("/revoke")
def revoke() -> Response:
    authorization = server.get()
    oauth_request = authorization.create_oauth2_request(None)
    keys.prepare()
    with transaction():
        try:
            client, token = _authenticate(oauth_request, revocation.AUTH_METHODS, "revocation")
            revocation.revoke(client.record, token)
        except OAuth2Error as error:
            return authorization.handle_error_response(oauth_request, error)
    # RFC 7009 §2.2: 200 whether or not the token was known; the body is ignored, so it is empty.
    return Response(status=200, headers=_NO_STORE)


@bp.post("/introspect")
def introspect() -> Response:
    authorization = server.get()
    oauth_request = authorization.create_oauth2_request(None)
    keys.prepare()
    # Only a private_key_jwt assertion (RFC 7523 §3: single-use) is written.
    reads = nullcontext() if "client_assertion" in oauth_request.form else reading()
    with reads, transaction():
        try:
            client, token = _authenticate(oauth_request, introspection.AUTH_METHODS, "introspection")
            body = introspection.introspect(client.record, token)
        except OAuth2Error as error:
            return authorization.handle_error_response(oauth_request, error)
    return authorization.handle_response(200, body, default_json_headers)
