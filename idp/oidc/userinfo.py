"""The userinfo answer (OIDC Core §5.3): what a valid access token with the ``openid`` scope may read
about its person, as plain functions of the token.

The view (``endpoints.userinfo``) answers with them, and so does ``idp.web.prebuilt`` for the common
request, a GET with a bearer header, past Flask's request cycle: portals may call userinfo on every
page, and that cycle (request and response objects, URL matching, hooks, headers) was 42% of the
request's cost in process (329 → 190 µs, SQLite). The headers sent that way are the view's own,
kept from its first 200; every other outcome (no token, an invalid one, a form body, a failure) is
the view's to answer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from idp.storage import reading
from idp.web import prebuilt

from . import bearer, claims

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIEnvironment


class Refused(Exception):
    """Why no claims are given: an RFC 6750 §3.1 error with its HTTP status."""

    def __init__(self, status: int, error: str, description: str) -> None:
        super().__init__(description)
        self.status, self.error, self.description = status, error, description


def token_in_header(value: str) -> tuple[str | None, bool]:
    """The bearer token in an Authorization header value, and whether the header is malformed
    (RFC 6750 §2.1); (None, False) for another scheme."""
    scheme, _, token = value.partition(" ")
    token = token.strip()
    return (token if scheme.lower() == "bearer" else None), not token


def claims_of(token: str) -> dict[str, Any]:
    """The person's claims the token may read, with ``sub``; raises Refused."""
    try:
        with reading():
            access = bearer.validate(token)
    except bearer.InvalidToken as exc:
        raise Refused(401, "invalid_token", "the access token is invalid or expired") from exc
    if access.grant is None or "openid" not in access.scopes:
        raise Refused(403, "insufficient_scope", "the token does not allow userinfo")
    grant = access.grant
    body = {"sub": grant.subject.sub}
    body.update(claims.release(grant.subject, scopes=access.scopes & set(grant.scope.split())))
    return body


def answer_for_get(environ: WSGIEnvironment) -> bytes | None:
    """The body of a 200 for a GET carrying a bearer header, or None when the view must answer."""
    token, malformed = token_in_header(environ.get("HTTP_AUTHORIZATION", ""))
    if token is None or malformed:
        return None
    try:
        return prebuilt.json_document(claims_of(token))
    except Refused:
        return None
