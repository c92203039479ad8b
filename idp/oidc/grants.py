"""The token endpoint's grants, on Authlib's grant classes, with what Authlib leaves to us.

- authorization_code: single use; a second redemption revokes the grant the first one produced
  (RFC 6749 §4.1.2; Authlib #757); bound to client, redirect_uri and the PKCE challenge (S256 only; a
  verifier for a request without a challenge is refused, so PKCE cannot be downgraded).
- refresh_token: rotated on every use; presenting a rotated token revokes the whole grant (OAuth 2.0
  Security BCP §4.14); scope may narrow, never widen; a fresh ID token comes back (Authlib #182).
- client_credentials: a JWT access token for the client itself; nothing is written.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from authlib.oauth2.rfc6749 import grants
from authlib.oauth2.rfc6749.errors import (
    InvalidGrantError,
    InvalidRequestError,
    InvalidScopeError,
    UnauthorizedClientError,
)
from flask import current_app

from idp import audit
from idp.storage import grants as grant_rows
from idp.storage import utcnow
from idp.storage.clients import ClientRecord
from idp.storage.grants import CodeRecord, RefreshRecord
from idp.storage.subjects import SubjectStatus
from idp.web import prebuilt

from . import basic_post, client_policy, keys, logout, tokens
from .client_auth import AUTH_METHODS, OAuthClient

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIEnvironment

_VERIFIER = re.compile(r"^[A-Za-z0-9\-._~]{43,128}$")


def _s256(verifier: str) -> str:
    return keys.base64url(hashlib.sha256(verifier.encode()).digest())


def _token_body(access: str, expires_in: int, scope: str, **extra: Any) -> dict[str, Any]:
    body = {"access_token": access, "token_type": "Bearer", "expires_in": expires_in, "scope": scope}
    body.update({k: v for k, v in extra.items() if v is not None})
    return body


def _check_pkce(code: CodeRecord, verifier: str | None) -> None:
    if code.code_challenge is None:
        if verifier is not None:
            raise InvalidGrantError("code_verifier given, but the authorization request had no challenge")
        return
    if verifier is None:
        raise InvalidGrantError("code_verifier is required")
    if not _VERIFIER.match(verifier) or not hmac.compare_digest(_s256(verifier), code.code_challenge):
        raise InvalidGrantError("code_verifier does not match the code_challenge")


def _redeem_code(value: str, client_id: str, now: datetime) -> CodeRecord:
    """Claim the code for this redemption, atomically; on a second redemption revoke what the first made."""
    code = grant_rows.code_by_hash(tokens.hash_token(value))
    if code is None or code.client_id != client_id:
        raise InvalidGrantError("invalid code")
    if not grant_rows.claim_code(code.id, now):
        grant_id = grant_rows.grant_of_code(code.id)
        if grant_id is not None:
            grant_rows.revoke_grant(grant_id, now)
        audit.record("code.reused", subject=code.subject, client=client_id)
        raise InvalidGrantError("code already used")
    if code.expires_at <= now:
        raise InvalidGrantError("code expired")
    if code.subject.status != SubjectStatus.ACTIVE:
        raise InvalidGrantError("the account can no longer sign in")
    return code


class AuthorizationCodeGrant(grants.AuthorizationCodeGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = AUTH_METHODS

    def validate_token_request(self) -> None:
        client: OAuthClient = self.authenticate_token_endpoint_client()
        if not client.check_grant_type(self.GRANT_TYPE):
            raise UnauthorizedClientError("the client may not use the authorization_code grant")
        form = self.request.form
        value = form.get("code")
        if not value:
            raise InvalidRequestError("code is required")
        code = _redeem_code(value, client.client_id, utcnow())
        # The exact redirect_uri of the authorization request (RFC 6749 §4.1.3).
        if form.get("redirect_uri") != code.redirect_uri:
            raise InvalidGrantError("redirect_uri does not match the authorization request")
        _check_pkce(code, form.get("code_verifier"))
        self.request.client = client
        self.request.authorization_code = code

    def create_token_response(self) -> tuple[int, dict[str, Any], list[tuple[str, str]]]:
        client: OAuthClient = self.request.client
        code: CodeRecord = self.request.authorization_code
        now = utcnow()
        lifetime = timedelta(seconds=current_app.config["IDP_REFRESH_TOKEN_LIFETIME_SECONDS"])
        grant = grant_rows.add_grant(code, gid=secrets.token_urlsafe(16), client_id=client.client_id,
                                     created_at=now, expires_at=now + lifetime)
        if code.sid is not None:
            logout.record_participation(code.sid, client.client_id, code.subject.id, now)
        access, expires_in = tokens.access_token(client.record, scope=code.scope, now=now, grant=grant)
        refresh = (tokens.refresh_token(grant, scope=code.scope, now=now)
                   if client.check_grant_type("refresh_token") else None)
        id_token = (tokens.id_token(tokens.IdTokenInput(grant, client.record, access, now, nonce=code.nonce))
                    if "openid" in code.scope.split() else None)
        audit.record("token.issued", subject=code.subject, client=client.client_id, grant_type=self.GRANT_TYPE,
                     gid=grant.gid)
        return 200, _token_body(access, expires_in, code.scope, refresh_token=refresh, id_token=id_token), \
            self.TOKEN_RESPONSE_HEADER


class RefreshTokenGrant(grants.RefreshTokenGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = AUTH_METHODS

    def authenticate_refresh_token(self, refresh_token: str) -> RefreshRecord | None:
        row = grant_rows.refresh_by_hash(tokens.hash_token(refresh_token))
        if row is None:
            return None
        now = utcnow()
        if row.rotated_at is not None:
            # A rotated token came back: someone holds a copy. End the whole family.
            grant_rows.revoke_grant(row.grant.id, now)
            audit.record("refresh_token.reused", subject=row.grant.subject, client=row.grant.client_id,
                         gid=row.grant.gid)
            return None
        return row if tokens.refresh_token_usable(row, now) else None

    def _validate_request_token(self, client: OAuthClient) -> RefreshRecord:
        value = self.request.form.get("refresh_token")
        if not value:
            raise InvalidRequestError("refresh_token is required")
        row = self.authenticate_refresh_token(value)
        if row is None or row.grant.client_id != client.client_id:
            raise InvalidGrantError("invalid refresh_token")
        return row

    def _validate_token_scope(self, token: RefreshRecord) -> None:
        requested = self.request.payload.scope
        if requested and not set(requested.split()) <= set(token.scope.split()):
            raise InvalidScopeError("a refresh cannot widen the scope")

    def create_token_response(self) -> tuple[int, dict[str, Any], list[tuple[str, str]]]:
        client: OAuthClient = self.request.client
        old: RefreshRecord = self.request.refresh_token
        grant = old.grant
        now = utcnow()
        scope = " ".join(dict.fromkeys(self.request.payload.scope.split())) if self.request.payload.scope \
            else old.scope
        if not grant_rows.rotate_refresh(old.id, now):
            # Another request rotated it since we read it: the same token was presented twice.
            grant_rows.revoke_grant(grant.id, now)
            audit.record("refresh_token.reused", subject=grant.subject, client=grant.client_id, gid=grant.gid)
            raise InvalidGrantError("invalid refresh_token")
        access, expires_in = tokens.access_token(client.record, scope=scope, now=now, grant=grant)
        refresh = tokens.refresh_token(grant, scope=scope, now=now)
        id_token = (tokens.id_token(tokens.IdTokenInput(grant, client.record, access, now))
                    if "openid" in scope.split() else None)
        return 200, _token_body(access, expires_in, scope, refresh_token=refresh, id_token=id_token), \
            self.TOKEN_RESPONSE_HEADER


def client_credentials_scope(client: ClientRecord, requested: str | None) -> str | None:
    """The scope of a client_credentials token: what was asked, each once and in order, or when nothing
    was, all the client may have; never ``openid`` (no person signs in). None when more was asked."""
    allowed = client_policy.allowed_scopes(client) - {"openid"}
    if not requested:
        return " ".join(sorted(allowed))
    asked = dict.fromkeys(requested.split())
    return " ".join(asked) if asked.keys() <= allowed else None


def client_credentials_body(client: ClientRecord, scope: str) -> dict[str, Any]:
    """The token response of a client_credentials grant: an access token for the client itself."""
    access, expires_in = tokens.access_token(client, scope=scope, now=utcnow())
    return _token_body(access, expires_in, scope)


class ClientCredentialsGrant(grants.ClientCredentialsGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "private_key_jwt"]

    def validate_token_request(self) -> None:
        client: OAuthClient = self.authenticate_token_endpoint_client()
        if not client.check_grant_type(self.GRANT_TYPE):
            raise UnauthorizedClientError("the client may not use the client_credentials grant")
        scope = client_credentials_scope(client.record, self.request.payload.scope)
        if scope is None:
            raise InvalidScopeError("scope not allowed for this client")
        self.request.client, self._scope = client, scope  # a grant object serves one request

    def create_token_response(self) -> tuple[int, dict[str, Any], list[tuple[str, str]]]:
        client: OAuthClient = self.request.client
        return 200, client_credentials_body(client.record, self._scope), self.TOKEN_RESPONSE_HEADER


# The client_credentials request answered past Flask (``basic_post``): the grant type, perhaps a scope.
_CLIENT_CREDENTIALS = (frozenset({"grant_type"}), frozenset({"grant_type", "scope"}))


def answer_client_credentials(environ: WSGIEnvironment) -> bytes | None:
    """The body of a 200 for a client_credentials request of a client with its secret in the header
    (services ask for one per call, or per minute), or None when the view must answer: any other
    request, and everything the grant would refuse."""
    post = basic_post.read(environ, _CLIENT_CREDENTIALS)
    if (post is None or post.parameters["grant_type"] != ClientCredentialsGrant.GRANT_TYPE
            or not OAuthClient(post.client).check_grant_type(ClientCredentialsGrant.GRANT_TYPE)):
        return None
    scope = client_credentials_scope(post.client, post.parameters.get("scope"))
    return None if scope is None else prebuilt.json_document(client_credentials_body(post.client, scope))
