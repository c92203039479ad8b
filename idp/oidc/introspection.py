"""Token introspection (RFC 7662): a resource server asks whether a token is active, and what it says.

Only confidential clients may ask (§2.1: the endpoint MUST require authorization; a public client
cannot keep a secret, so it could not be told apart from anyone). An access token is active exactly
when bearer validation (what userinfo uses) accepts it: our signature, not expired, not revoked, its
grant still active and the person still allowed to sign in. Anything else — unknown, expired,
revoked, grant revoked (code or refresh reuse, logout), account locked, a rotated refresh token — is
just ``{"active": false}`` (§2.2), never an error that would say why.

Refresh tokens are introspected only by the client they were issued to: they are never meant for a
resource server (RFC 6749 §1.5), and §2.2 lets the server answer inactive to a caller that may not
see a token. Introspection never changes anything: a rotated refresh token shown here is inactive,
but not treated as reuse (the caller need not be the token's holder).

``token_type_hint`` is ignored (§2.1, as RFC 7009 §2.1 allows): a token's kind shows in its form.
``token_type`` is "Bearer" for access tokens (§2.2 refers to RFC 6749 §7.1 access token types) and
is left out for refresh tokens, which have no such type (node-oidc-provider does the same).

The view (``token_endpoints.introspect``) answers every request; ``idp.web.prebuilt`` answers the
common one past Flask's request cycle and Authlib's request handling (``answer_for_post``): a resource
server authenticating with its secret in the Authorization header, a urlencoded ``token``. That cycle
and handling were about half of an introspection's cost in process (bench/README.md).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from authlib.common.security import is_secure_transport
from authlib.oauth2.rfc6749.util import extract_basic_authorization

from idp.storage import grants as grant_rows
from idp.storage import reading, utcnow
from idp.storage.clients import ClientRecord
from idp.web import prebuilt

from . import bearer, client_cache, client_registry, tokens, urls
from .client_auth import AUTH_METHODS as TOKEN_AUTH_METHODS
from .form_request import FORM_TYPE, parameters_of

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIEnvironment

AUTH_METHODS = [method for method in TOKEN_AUTH_METHODS if method != "none"]

INACTIVE: dict[str, Any] = {"active": False}
# What an access token's own claims tell a resource server (RFC 7662 §2.2, RFC 9068 §2.2).
_ACCESS_CLAIMS = ("scope", "client_id", "sub", "exp", "iat", "aud", "iss", "sid", "jti")


def introspect(client: ClientRecord, token: str) -> dict[str, Any]:
    """The introspection response for ``token`` asked by ``client``."""
    if token.startswith(tokens.REFRESH_PREFIX):
        return _refresh_token(client, token)
    return _access_token(token)


def _access_token(value: str) -> dict[str, Any]:
    try:
        access = bearer.validate(value)
    except bearer.InvalidToken:
        return dict(INACTIVE)
    claims = {name: access.claims[name] for name in _ACCESS_CLAIMS if name in access.claims}
    return {"active": True, "token_type": "Bearer", **claims}


def _refresh_token(client: ClientRecord, value: str) -> dict[str, Any]:
    row = grant_rows.refresh_by_hash(tokens.hash_token(value))
    if row is None or row.grant.client_id != client.client_id or not tokens.refresh_token_usable(row, utcnow()):
        return dict(INACTIVE)
    grant = row.grant
    body: dict[str, Any] = {
        "active": True, "scope": row.scope, "client_id": grant.client_id, "sub": grant.subject.sub,
        "exp": int(row.expires_at.timestamp()), "iat": int(row.created_at.timestamp()), "iss": urls.issuer(),
    }
    if grant.sid:
        body["sid"] = grant.sid
    return body


# The request answered past Flask: the client's secret in the header, a token, perhaps its hint.
_SECRET_IN_HEADER = "client_secret_basic"  # noqa: S105 (the method's name)
_ANSWERED_PARAMETERS = ({"token"}, {"token", "token_type_hint"})


def answer_for_post(environ: WSGIEnvironment) -> bytes | None:
    """The body of a 200 for the common introspection (see the module), or None when the view must
    answer: anything else, and every failure, which the view answers with its own error.

    What the view would refuse is not answered here: plain http to a host not on loopback (Authlib's
    transport check), another content type, a parameter other than ``token`` and its hint or one
    given twice, a second client authentication, a client not registered for client_secret_basic or
    a wrong secret."""
    host = environ.get("HTTP_HOST")
    if (not host or not is_secure_transport(f"{environ.get('wsgi.url_scheme')}://{host}/")
            or environ.get("CONTENT_TYPE", "").partition(";")[0].strip().lower() != FORM_TYPE):
        return None
    client_id, secret = extract_basic_authorization({"Authorization": environ.get("HTTP_AUTHORIZATION")})
    if client_id is None or secret is None:
        return None
    body = prebuilt.body_of(environ)
    pairs = parameters_of(body) if body is not None else []
    parameters = dict(pairs)
    if len(parameters) != len(pairs) or set(parameters) not in _ANSWERED_PARAMETERS or not parameters["token"]:
        return None
    client = client_cache.enabled(client_id)
    if (client is None or client.token_endpoint_auth_method != _SECRET_IN_HEADER
            or not client_registry.verify_secret(client, secret)):
        return None
    with reading():
        return prebuilt.json_document(introspect(client, parameters["token"]))
