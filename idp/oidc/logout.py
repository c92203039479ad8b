"""Single logout: when an SSO session ends, every application that took part in it is told.

``on_session_ended`` listens to ``idp.authn.sso.session_ended`` and runs in the transaction that ends
the session: it revokes the grants bound to the session (their refresh and access tokens die with it)
and queues a back-channel logout token for each participant that registered a
``backchannel_logout_uri`` (OpenID Connect Back-Channel Logout 1.0). Front-channel participants are
loaded by the signed-out page (``frontchannel_targets``), which must be asked before the session ends.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import urlencode, urlsplit

from flask import Flask

from idp.authn import sso
from idp.storage import grants, utcnow
from idp.storage import logout as rows
from idp.storage.sessions import SsoSession

from . import backchannel, client_cache, urls

BACKCHANNEL_EVENT = "http://schemas.openid.net/event/backchannel-logout"


def record_participation(sid: str, client_id: str, subject_id: int, now: datetime) -> None:
    """Remember that ``client_id`` received tokens within session ``sid`` (once per pair)."""
    rows.add_participant(sid, client_id, subject_id, now)


def frontchannel_targets(sid: str) -> list[str]:
    """The front-channel logout URLs to load for the session ``sid`` (with iss and sid when asked for)."""
    targets = []
    for participant in rows.participants(sid):
        client = client_cache.lookup(participant.client_id)
        if client is None or not client.frontchannel_logout_uri:
            continue
        uri = client.frontchannel_logout_uri
        if client.frontchannel_logout_session_required:
            separator = "&" if urlsplit(uri).query else "?"
            uri += separator + urlencode({"iss": urls.issuer(), "sid": sid})
        targets.append(uri)
    return targets


def logout_token_claims(client_id: str, subject_sub: str, sid: str | None) -> dict[str, Any]:
    """The claims of a logout token (Back-Channel Logout §2.4), but iat/exp/jti (set when sent)."""
    claims: dict[str, Any] = {"iss": urls.issuer(), "aud": client_id, "sub": subject_sub,
                              "events": {BACKCHANNEL_EVENT: {}}}
    if sid is not None:
        claims["sid"] = sid
    return claims


def on_session_ended(sender: Flask, *, session: SsoSession, reason: str) -> None:
    now = utcnow()
    grants.revoke_session_grants(session.sid, now)
    for participant in rows.participants(session.sid):
        client = client_cache.lookup(participant.client_id)
        if client is None or not client.backchannel_logout_uri:
            continue
        backchannel.enqueue(client, logout_token_claims(client.client_id, session.subject.sub, session.sid), now)
    rows.forget_participants(session.sid)


def init_app(app: Flask) -> None:
    sso.session_ended.connect(on_session_ended, sender=app, weak=False)
