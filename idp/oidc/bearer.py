"""Checking the access tokens presented to our own resources (userinfo, introspection).

A token is good when it is our signature, typed ``at+jwt``, issued by us, not expired, not revoked
by ``jti`` (RFC 7009), and — for a person's token — its grant is still active and the person may
still sign in. The grant check is what makes refresh-token revocation, logout and code-reuse
detection effective before the JWT expires.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from flask import current_app

from idp.storage import grants, logout
from idp.storage.grants import AccessGrant
from idp.storage.subjects import SubjectStatus

from . import keys


class InvalidToken(Exception):
    pass


@dataclass(frozen=True)
class AccessToken:
    claims: dict[str, Any]
    grant: AccessGrant | None

    @property
    def scopes(self) -> set[str]:
        return set(str(self.claims.get("scope", "")).split())


def validate(token: str) -> AccessToken:
    if not token or len(token) > 8192:
        raise InvalidToken("missing or oversized token")
    try:
        # RFC 9068 §4: only a token typed at+jwt is an access token (an ID token cannot pass for one).
        claims = keys.verify(token, typ="at+jwt")
    except keys.InvalidSignature as exc:
        raise InvalidToken("bad signature") from exc
    if claims.get("iss") != current_app.config["IDP_ISSUER"]:
        raise InvalidToken("not an access token of ours")
    exp = claims.get("exp")
    if not isinstance(exp, int) or exp <= time.time():
        raise InvalidToken("expired")
    # RFC 9068 §2.2: every access token has a jti; a revoked one is remembered until it expires.
    jti = claims.get("jti")
    if not isinstance(jti, str):
        raise InvalidToken("no jti")
    gid = claims.get("gid")
    if gid is None:
        if logout.is_revoked(jti):
            raise InvalidToken("revoked")
        return AccessToken(claims, None)
    grant, revoked = grants.grant_of_access_token(str(gid), jti)
    if revoked:
        raise InvalidToken("revoked")
    if (grant is None or grant.revoked or grant.subject.sub != claims.get("sub")
            or grant.subject.status != SubjectStatus.ACTIVE):
        raise InvalidToken("grant no longer active")
    return AccessToken(claims, grant)
