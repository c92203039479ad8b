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
server authenticating with its secret in the Authorization header, a urlencoded ``token``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from idp.storage import grants as grant_rows
from idp.storage import reading, utcnow
from idp.storage.clients import ClientRecord
from idp.web import prebuilt

from . import basic_post, bearer, tokens, urls
from .client_auth import AUTH_METHODS as TOKEN_AUTH_METHODS

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


# The parameters of the request answered past Flask: a token, perhaps its hint.
_ANSWERED = (frozenset({"token"}), frozenset({"token", "token_type_hint"}))


def answer_for_post(environ: WSGIEnvironment) -> bytes | None:
    """The body of a 200 for the common introspection (see the module and ``basic_post``), or None
    when the view must answer."""
    post = basic_post.read(environ, _ANSWERED)
    if post is None or not post.parameters["token"]:
        return None
    with reading():
        return prebuilt.json_document(introspect(post.client, post.parameters["token"]))
