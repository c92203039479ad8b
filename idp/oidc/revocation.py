"""Token revocation (RFC 7009): a client ends its own refresh or access token.

The token's kind is told by its form (our refresh tokens carry a prefix, our access tokens are
``at+jwt`` JWTs), so ``token_type_hint`` is not needed and is ignored, whatever its value (RFC 7009
§2.1: the server MAY ignore it). A token we do not know, or that is already dead (expired, its grant
revoked), is answered like a revoked one (§2.2: invalid tokens cause no error), whoever asks.

- A refresh token ends its whole grant: every refresh and access token of the family (§2.1: the
  server SHOULD also invalidate the access tokens of the same grant).
- An access token is remembered by ``jti`` until it would have expired; its refresh token lives on
  (§2.1 leaves that to the server). Bearer validation refuses a remembered ``jti``.
- A token issued to another client is refused with ``invalid_grant`` (§2.1: the request is refused;
  RFC 6749 §5.2 defines invalid_grant for a grant "issued to another client", and our token endpoint
  answers the same for another client's refresh token). node-oidc-provider answers invalid_request.
- One of our other JWTs (an ID token, a logout token) is ``unsupported_token_type`` (§2.2.1): it is
  ours, but there is nothing to revoke, and a silent 200 would let the client believe otherwise.
"""

from __future__ import annotations

from datetime import UTC, datetime

from authlib.oauth2.rfc6749 import OAuth2Error
from authlib.oauth2.rfc6749.errors import InvalidGrantError

from idp import audit
from idp.storage import grants as grant_rows
from idp.storage import logout as logout_rows
from idp.storage import utcnow
from idp.storage.clients import ClientRecord

from . import keys, tokens
from .client_auth import AUTH_METHODS as TOKEN_AUTH_METHODS

# RFC 7009 §2.1: public clients may revoke their own tokens, so "none" is accepted as at /token.
AUTH_METHODS = TOKEN_AUTH_METHODS


def revoke(client: ClientRecord, token: str) -> None:
    """Revoke ``token`` for ``client``; raises an OAuth2Error the client must be told of."""
    if token.startswith(tokens.REFRESH_PREFIX):
        _revoke_refresh_token(client, token)
    else:
        _revoke_access_token(client, token)


def _not_yours() -> InvalidGrantError:
    return InvalidGrantError("the token was issued to another client")


def _revoke_refresh_token(client: ClientRecord, value: str) -> None:
    row = grant_rows.refresh_by_hash(tokens.hash_token(value))
    if row is None or row.grant.revoked_at is not None:
        return
    grant = row.grant
    if grant.client_id != client.client_id:
        raise _not_yours()
    grant_rows.revoke_grant(grant.id, utcnow())
    audit.record("token.revoked", subject=grant.subject, client=client.client_id, kind="refresh_token",
                 gid=grant.gid)


def _revoke_access_token(client: ClientRecord, value: str) -> None:
    try:
        claims = keys.verify(value, typ="at+jwt")
    except keys.InvalidSignature:
        if _is_another_jwt_of_ours(value):
            raise OAuth2Error("only access and refresh tokens can be revoked", status_code=400,
                              error="unsupported_token_type") from None
        return
    jti, exp = claims.get("jti"), claims.get("exp")
    if not isinstance(jti, str) or not isinstance(exp, int) or exp <= utcnow().timestamp():
        return  # already expired: nothing left to revoke
    if claims.get("client_id") != client.client_id:
        raise _not_yours()
    if not logout_rows.revoke_access_token(jti, datetime.fromtimestamp(exp, UTC)):
        return  # already revoked (two revocations of one token at once both succeed)
    gid = claims.get("gid")
    audit.record("token.revoked", subject=claims.get("sub") if gid else None, client=client.client_id,
                 kind="access_token", gid=gid, jti=jti)


def _is_another_jwt_of_ours(value: str) -> bool:
    try:
        keys.verify(value)
    except keys.InvalidSignature:
        return False
    return True
