"""RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0) and our own sign-out, one path.

A request is trusted to sign the person out without asking only when it carries an ID token of ours
(``id_token_hint``, expired ones too) naming the person signed in here; otherwise the person confirms
— a third-party link alone never signs anyone out. ``post_logout_redirect_uri`` is used only when it
is registered, exactly, for the client the request identifies.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from werkzeug.datastructures import MultiDict

from idp import audit
from idp.authn import sso
from idp.storage import transaction
from idp.storage.sessions import SsoSession
from idp.storage.subjects import Subject

from . import client_cache, keys, logout, urls

MAX_PARAM_LENGTH = 2048


class InvalidLogoutRequest(ValueError):
    """The request contradicts itself (e.g. client_id is not the hint's audience): show, never redirect."""


@dataclass(frozen=True)
class LogoutRequest:
    """What an end-session request asks, after validation."""

    hint_sub: str | None = None
    hint_sid: str | None = None
    client_id: str | None = None
    redirect_uri: str | None = None  # only when registered for client_id
    state: str | None = None
    ui_locales: str | None = None

    def as_form(self) -> dict[str, str]:
        """The fields the confirmation page carries forward (the hint is not needed any more)."""
        values = {"client_id": self.client_id, "post_logout_redirect_uri": self.redirect_uri,
                  "state": self.state, "ui_locales": self.ui_locales}
        return {k: v for k, v in values.items() if v is not None}


@dataclass(frozen=True)
class SignedOut:
    """A finished sign-out: the front-channel pages to load, then where to send the browser."""

    frontchannel: list[str] = field(default_factory=list)
    redirect_uri: str | None = None
    state: str | None = None


def _single(params: MultiDict[str, str], name: str) -> str | None:
    values = params.getlist(name)
    if len(values) > 1:
        raise InvalidLogoutRequest(f"{name} repeated")
    if not values or not values[0]:
        return None
    if len(values[0]) > MAX_PARAM_LENGTH:
        raise InvalidLogoutRequest(f"{name} too long")
    return values[0]


def _hint(token: str | None) -> dict[str, Any] | None:
    """The claims of an ID token of ours (signature and issuer checked, expiry deliberately not)."""
    if token is None:
        return None
    try:
        claims = keys.verify(token, typ="JWT")
    except keys.InvalidSignature as exc:
        raise InvalidLogoutRequest("id_token_hint is not an ID token of this provider") from exc
    if claims.get("iss") != urls.issuer() or not isinstance(claims.get("sub"), str):
        raise InvalidLogoutRequest("id_token_hint is not an ID token of this provider")
    return claims


def parse(params: MultiDict[str, str]) -> LogoutRequest:
    hint = _hint(_single(params, "id_token_hint"))
    client_id = _single(params, "client_id")
    if hint is not None:
        audience = hint.get("aud")
        audiences = audience if isinstance(audience, list) else [audience]
        if client_id is not None and client_id not in audiences:
            raise InvalidLogoutRequest("client_id is not the audience of id_token_hint")
        client_id = client_id or (audiences[0] if len(audiences) == 1 else None)
    redirect_uri = _single(params, "post_logout_redirect_uri")
    client = client_cache.lookup(client_id)
    if redirect_uri is not None and (client is None or redirect_uri not in client.post_logout_redirect_uris):
        redirect_uri = None  # not registered for this client: sign out, but do not redirect
    return LogoutRequest(hint_sub=hint["sub"] if hint else None, hint_sid=hint.get("sid") if hint else None,
                         client_id=client.client_id if client else None, redirect_uri=redirect_uri,
                         state=_single(params, "state"), ui_locales=_single(params, "ui_locales"))


def needs_confirmation(request: LogoutRequest, session: SsoSession | None) -> bool:
    """True unless the hint names the person signed in here (or nobody is signed in)."""
    if session is None:
        return False
    return request.hint_sub != session.subject.sub


def sign_out(session: SsoSession | None, *, ip: str, reason: str, client_id: str | None = None) -> list[str]:
    """End ``session`` (if any); returns the front-channel logout pages of its participants."""
    if session is None:
        return []
    frames = logout.frontchannel_targets(session.sid)
    with transaction():
        audit.record("logout", subject=session.subject, client=client_id, ip=ip, sid=session.sid, reason=reason)
        sso.end(session, reason=reason)
    return frames


def finish(request: LogoutRequest, session: SsoSession | None, *, ip: str) -> SignedOut:
    frames = sign_out(session, ip=ip, reason="rp_logout", client_id=request.client_id)
    return SignedOut(frames, request.redirect_uri, request.state)


def sign_out_everywhere(subject: Subject, *, ip: str | None, actor: str = "self") -> list[str]:
    """End every session of ``subject``; every participating application is told."""
    frames: list[str] = []
    with transaction():
        sessions = list(sso.sessions_of(subject))
        for row in sessions:
            frames += logout.frontchannel_targets(row.sid)
        sso.end_all(subject, reason="everywhere")
        audit.record("logout.everywhere", subject=subject, ip=ip, actor=actor, sessions_ended=len(sessions))
    return frames
