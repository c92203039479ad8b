"""Minting tokens: RFC 9068 JWT access tokens, opaque refresh tokens, OIDC ID tokens.

Every token is built from a ``Grant`` (or, for client credentials, from the client alone) so that
what the ID token, the access token and userinfo say about a person cannot disagree.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask import current_app

from idp.authn.levels import acr_for
from idp.storage import grants
from idp.storage.clients import ClientRecord
from idp.storage.grants import GrantRecord, RefreshRecord
from idp.storage.subjects import SubjectStatus

from . import claims, keys

REFRESH_PREFIX = "dnr_"  # greppable in logs and secret scanners


def hash_token(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def _lifetime(name: str) -> int:
    return int(current_app.config[name])


def _issuer() -> str:
    return current_app.config["IDP_ISSUER"]


def access_token(client: ClientRecord, *, scope: str, now: datetime,
                 grant: GrantRecord | None = None) -> tuple[str, int]:
    """An RFC 9068 access token; with a grant it speaks for the person, without for the client itself."""
    expires_in = _lifetime("IDP_ACCESS_TOKEN_LIFETIME_SECONDS")
    body: dict[str, Any] = {
        "iss": _issuer(),
        "aud": client.client_id,
        "client_id": client.client_id,
        "iat": int(now.timestamp()),
        "exp": int(now.timestamp()) + expires_in,
        "jti": secrets.token_urlsafe(16),
        "scope": scope,
    }
    if grant is None:
        body["sub"] = client.client_id
    else:
        body.update(sub=grant.subject.sub, gid=grant.gid, auth_time=int(grant.auth_time.timestamp()),
                    acr=grant.acr, amr=grant.amr.split())
        if grant.sid:
            body["sid"] = grant.sid
    return keys.sign(body, alg=client.access_token_signed_response_alg, typ="at+jwt"), expires_in


def refresh_token(grant: GrantRecord, *, scope: str, now: datetime) -> str:
    value = REFRESH_PREFIX + secrets.token_urlsafe(32)
    expires_at = min(now + timedelta(seconds=_lifetime("IDP_REFRESH_TOKEN_LIFETIME_SECONDS")), grant.expires_at)
    grants.add_refresh_token(token_hash=hash_token(value), grant_id=grant.id, scope=scope, created_at=now,
                             expires_at=expires_at)
    return value


def refresh_token_usable(row: RefreshRecord, now: datetime) -> bool:
    """Not rotated, not expired, its grant alive and its person still allowed in (one rule for the
    refresh grant and for introspection)."""
    grant = row.grant
    return (row.rotated_at is None and row.expires_at > now and grant.revoked_at is None
            and grant.expires_at > now and grant.subject.status == SubjectStatus.ACTIVE)


def _half_hash(value: str, alg: str) -> str:
    """at_hash (OIDC Core §3.1.3.6): left half of the hash matching the signing algorithm."""
    digest = (hashlib.sha512 if alg == "EdDSA" else hashlib.sha256)(value.encode()).digest()
    return keys.base64url(digest[: len(digest) // 2])


@dataclass(frozen=True)
class IdTokenInput:
    grant: GrantRecord
    client: ClientRecord
    access_token: str
    now: datetime
    nonce: str | None = None


def id_token(data: IdTokenInput) -> str:
    grant, client = data.grant, data.client
    alg = client.id_token_signed_response_alg
    body: dict[str, Any] = {
        "iss": _issuer(),
        "sub": grant.subject.sub,
        "aud": client.client_id,
        "iat": int(data.now.timestamp()),
        "exp": int(data.now.timestamp()) + _lifetime("IDP_ID_TOKEN_LIFETIME_SECONDS"),
        "auth_time": int(grant.auth_time.timestamp()),
        "amr": grant.amr.split(),
        "acr": grant.acr or acr_for(grant.amr.split()),
        "at_hash": _half_hash(data.access_token, alg),
    }
    if data.nonce is not None:
        body["nonce"] = data.nonce
    if grant.sid:
        body["sid"] = grant.sid
    # Claims asked for in the ID token through the claims parameter (OIDC Core §5.5).
    requested = (grant.claims_request or {}).get("id_token") or {}
    body.update(claims.release(grant.subject, scopes=set(grant.scope.split()), requested=requested,
                               only_requested=True))
    return keys.sign(body, alg=alg, typ="JWT")
