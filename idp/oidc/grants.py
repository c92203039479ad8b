"""The token endpoint's grants, on Authlib's grant classes, with what Authlib leaves to us.

- authorization_code: single use; a second redemption revokes the grant the first one produced
  (RFC 6749 §4.1.2; Authlib #757); bound to client, redirect_uri and the PKCE challenge (S256 only; a
  verifier for a request without a challenge is refused, so PKCE cannot be downgraded).
- refresh_token: rotated on every use; presenting a rotated token revokes the whole grant (OAuth 2.0
  Security BCP §4.14); scope may narrow, never widen; a fresh ID token comes back (Authlib #182).
- client_credentials: a JWT access token for the client itself; nothing is written.

Each grant's work is one plain function of the authenticated client and the parameters
(``code_exchange``, ``refresh``, ``client_credentials``): Authlib's grant classes call it once Authlib
has authenticated the client, and ``answer_token`` calls it for the usual requests past Flask's
request cycle, where Flask's cycle and Authlib's request handling were a fifth of a refresh in
process (bench/README.md).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from authlib.oauth2.rfc6749 import OAuth2Request, grants
from authlib.oauth2.rfc6749.errors import (
    InvalidGrantError,
    InvalidRequestError,
    InvalidScopeError,
    UnauthorizedClientError,
)
from flask import current_app

from idp import audit
from idp.storage import grants as grant_rows
from idp.storage import utcnow, writing
from idp.storage.clients import ClientRecord
from idp.storage.grants import CodeRecord, RefreshRecord
from idp.storage.subjects import SubjectRecord, SubjectStatus
from idp.web import prebuilt

from . import basic_post, client_policy, keys, logout, tokens
from .client_auth import AUTH_METHODS, OAuthClient

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIEnvironment

_VERIFIER = re.compile(r"^[A-Za-z0-9\-._~]{43,128}$")
AUTHORIZATION_CODE, REFRESH_TOKEN, CLIENT_CREDENTIALS = "authorization_code", "refresh_token", "client_credentials"


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


class _Reused(Exception):
    """A used code or a rotated refresh token came back: someone holds a copy. Raised before anything
    is written; the grant class answers it (``_refused_reuse``) by revoking, in the request's committed
    transaction, while an answer past Flask's cycle leaves the whole request to the view."""

    def __init__(self, event: str, grant_id: int | None, subject: SubjectRecord, client_id: str, *,
                 gid: str | None = None, message: str) -> None:
        super().__init__(message)
        self.event, self.grant_id, self.subject, self.client_id, self.gid = event, grant_id, subject, client_id, gid


def _refused_reuse(issue: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """``issue()``'s token response; a reuse revokes what the first use produced (RFC 6749 §4.1.2,
    Authlib #757; OAuth 2.0 Security BCP §4.14) and is refused."""
    try:
        return issue()
    except _Reused as reused:
        if reused.grant_id is not None:
            grant_rows.revoke_grant(reused.grant_id, utcnow())
        details = {"gid": reused.gid} if reused.gid else {}
        audit.record(reused.event, subject=reused.subject, client=reused.client_id, **details)
        raise InvalidGrantError(str(reused)) from None


def _allowed(client: ClientRecord, grant_type: str) -> None:
    if not OAuthClient(client).check_grant_type(grant_type):
        raise UnauthorizedClientError(f"the client may not use the {grant_type} grant")


def _required(form: Mapping[str, str], name: str) -> str:
    value = form.get(name)
    if not value:
        raise InvalidRequestError(f"{name} is required")
    return value


def _redeem_code(value: str, client_id: str, now: datetime) -> CodeRecord:
    """Claim the code for this redemption, atomically (a second redemption is ``_Reused``)."""
    code = grant_rows.code_by_hash(tokens.hash_token(value))
    if code is None or code.client_id != client_id:
        raise InvalidGrantError("invalid code")
    if not grant_rows.claim_code(code.id, now):
        raise _Reused("code.reused", grant_rows.grant_of_code(code.id), code.subject, client_id,
                      message="code already used")
    if code.expires_at <= now:
        raise InvalidGrantError("code expired")
    if code.subject.status != SubjectStatus.ACTIVE:
        raise InvalidGrantError("the account can no longer sign in")
    return code


def code_exchange(client: ClientRecord, form: Mapping[str, str]) -> dict[str, Any]:
    """The token response for an authorization code, in the caller's transaction: the code claimed,
    the grant, its tokens and the audit event. Bound to the client, the exact redirect_uri of the
    authorization request (RFC 6749 §4.1.3) and its PKCE challenge."""
    _allowed(client, AUTHORIZATION_CODE)
    value = _required(form, "code")
    now = utcnow()
    code = _redeem_code(value, client.client_id, now)
    if form.get("redirect_uri") != code.redirect_uri:
        raise InvalidGrantError("redirect_uri does not match the authorization request")
    _check_pkce(code, form.get("code_verifier"))
    lifetime = timedelta(seconds=current_app.config["IDP_REFRESH_TOKEN_LIFETIME_SECONDS"])
    grant = grant_rows.add_grant(code, gid=secrets.token_urlsafe(16), client_id=client.client_id,
                                 created_at=now, expires_at=now + lifetime)
    if code.sid is not None:
        logout.record_participation(code.sid, client.client_id, code.subject.id, now)
    access, expires_in = tokens.access_token(client, scope=code.scope, now=now, grant=grant)
    refresh = (tokens.refresh_token(grant, scope=code.scope, now=now)
               if OAuthClient(client).check_grant_type(REFRESH_TOKEN) else None)
    id_token = (tokens.id_token(tokens.IdTokenInput(grant, client, access, now, nonce=code.nonce))
                if "openid" in code.scope.split() else None)
    audit.record("token.issued", subject=code.subject, client=client.client_id,
                 grant_type=AUTHORIZATION_CODE, gid=grant.gid)
    return _token_body(access, expires_in, code.scope, refresh_token=refresh, id_token=id_token)


def _live_refresh_token(value: str, client_id: str, now: datetime) -> RefreshRecord:
    row = grant_rows.refresh_by_hash(tokens.hash_token(value))
    if row is not None and row.rotated_at is not None:
        # A rotated token came back, whoever presents it: end the whole family.
        raise _Reused("refresh_token.reused", row.grant.id, row.grant.subject, row.grant.client_id,
                      gid=row.grant.gid, message="invalid refresh_token")
    if row is None or not tokens.refresh_token_usable(row, now) or row.grant.client_id != client_id:
        raise InvalidGrantError("invalid refresh_token")
    return row


def refresh(client: ClientRecord, form: Mapping[str, str]) -> dict[str, Any]:
    """The token response for a refresh token, in the caller's transaction: the token rotated, its
    successor and a fresh ID token (Authlib #182). The scope may narrow, never widen."""
    _allowed(client, REFRESH_TOKEN)
    value = _required(form, "refresh_token")
    now = utcnow()
    old = _live_refresh_token(value, client.client_id, now)
    requested = form.get("scope")
    if requested and not set(requested.split()) <= set(old.scope.split()):
        raise InvalidScopeError("a refresh cannot widen the scope")
    scope = " ".join(dict.fromkeys(requested.split())) if requested else old.scope
    grant = old.grant
    if not grant_rows.rotate_refresh(old.id, now):
        # Another request rotated it since we read it: the same token was presented twice.
        raise _Reused("refresh_token.reused", grant.id, grant.subject, grant.client_id, gid=grant.gid,
                      message="invalid refresh_token")
    access, expires_in = tokens.access_token(client, scope=scope, now=now, grant=grant)
    successor = tokens.refresh_token(grant, scope=scope, now=now)
    id_token = (tokens.id_token(tokens.IdTokenInput(grant, client, access, now))
                if "openid" in scope.split() else None)
    return _token_body(access, expires_in, scope, refresh_token=successor, id_token=id_token)


def client_credentials_scope(client: ClientRecord, requested: str | None) -> str | None:
    """The scope of a client_credentials token: what was asked, each once and in order, or when nothing
    was, all the client may have; never ``openid`` (no person signs in). None when more was asked."""
    allowed = client_policy.allowed_scopes(client) - {"openid"}
    if not requested:
        return " ".join(sorted(allowed))
    asked = dict.fromkeys(requested.split())
    return " ".join(asked) if asked.keys() <= allowed else None


def client_credentials(client: ClientRecord, form: Mapping[str, str]) -> dict[str, Any]:
    """The token response of a client_credentials grant: an access token for the client itself."""
    _allowed(client, CLIENT_CREDENTIALS)
    scope = client_credentials_scope(client, form.get("scope"))
    if scope is None:
        raise InvalidScopeError("scope not allowed for this client")
    access, expires_in = tokens.access_token(client, scope=scope, now=utcnow())
    return _token_body(access, expires_in, scope)


class _Issuing:
    """An Authlib grant whose whole work, once Authlib has authenticated the client, is ``issue``: a
    plain function of the client and the parameters, the one the answers past Flask's cycle call."""

    TOKEN_ENDPOINT_AUTH_METHODS: list[str]
    TOKEN_RESPONSE_HEADER: list[tuple[str, str]]
    WRITES = True  # past Flask's cycle, ``issue`` runs in a transaction (and the keys are loaded before it)
    request: OAuth2Request
    issue: Callable[[ClientRecord, Mapping[str, str]], dict[str, Any]]
    authenticate_token_endpoint_client: Callable[[], OAuthClient]  # Authlib's

    def validate_token_request(self) -> None:
        client = self.authenticate_token_endpoint_client()
        self._body = _refused_reuse(lambda: self.issue(client.record, self.request.form))

    def create_token_response(self) -> tuple[int, dict[str, Any], list[tuple[str, str]]]:
        return 200, self._body, self.TOKEN_RESPONSE_HEADER


class AuthorizationCodeGrant(_Issuing, grants.AuthorizationCodeGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = AUTH_METHODS
    issue = staticmethod(code_exchange)


class RefreshTokenGrant(_Issuing, grants.RefreshTokenGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = AUTH_METHODS
    issue = staticmethod(refresh)


class ClientCredentialsGrant(_Issuing, grants.ClientCredentialsGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "private_key_jwt"]
    WRITES = False
    issue = staticmethod(client_credentials)


_GRANTS: dict[str, type[_Issuing]] = {
    grant.GRANT_TYPE: grant for grant in (AuthorizationCodeGrant, RefreshTokenGrant, ClientCredentialsGrant)}
# The token requests answered past Flask (``basic_post``), by their parameters as the usual clients
# send them (a public client adds its client_id).
_ANSWERED = (frozenset({"grant_type"}), frozenset({"grant_type", "scope"}),
             frozenset({"grant_type", "refresh_token"}), frozenset({"grant_type", "refresh_token", "scope"}),
             frozenset({"grant_type", "code", "redirect_uri"}),
             frozenset({"grant_type", "code", "redirect_uri", "code_verifier"}))


def answer_token(environ: WSGIEnvironment) -> bytes | None:
    """The body of a 200 for a token request of a client with its secret in the header, or of a
    public client (portals refresh their tokens and redeem their codes so), or None when the view
    must answer: any other request, and everything a grant refuses. A refusal raises inside the
    transaction, so nothing of it is written here; the view, answering again from the start, writes
    what a refusal writes (a reused code or refresh token revokes its grant)."""
    post = basic_post.read(environ, _ANSWERED, public=True)
    grant = _GRANTS.get(post.parameters["grant_type"]) if post is not None else None
    if post is None or grant is None or post.client.token_endpoint_auth_method not in grant.TOKEN_ENDPOINT_AUTH_METHODS:
        return None
    if not grant.WRITES:
        return prebuilt.json_document(grant.issue(post.client, post.parameters))
    keys.prepare()
    with writing():
        body = grant.issue(post.client, post.parameters)
    return prebuilt.json_document(body)
