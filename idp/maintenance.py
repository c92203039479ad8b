"""Purging what has expired: sessions (with their single logout), codes, grants, tokens, interactions.

Run by ``flask idp purge`` on a schedule (README). Every rule deletes only what can no longer be
used; anything that is still checked against — a rotated refresh token until its own expiry (reuse
detection), a revoked access token's jti until the token expires — stays.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import and_, delete, or_, select

from idp.authn import sso
from idp.storage import db, transaction
from idp.storage.clients import ClientAssertionJti
from idp.storage.grants import AuthorizationCode, Grant, RefreshToken
from idp.storage.interactions import Interaction
from idp.storage.keys import KeyStatus, SigningKey
from idp.storage.logout import DeliveryStatus, LogoutDelivery, RevokedAccessToken
from idp.storage.sessions import SsoSession
from idp.storage.throttle import LoginThrottle

# Finished back-channel deliveries are kept this long for the operators' inquiries.
DELIVERY_RETENTION = timedelta(days=30)


@dataclass(frozen=True)
class Purged:
    sessions: int
    rows: dict[str, int]


def _expired_sessions(now: datetime) -> list[SsoSession]:
    idle = timedelta(seconds=current_app.config["IDP_SESSION_IDLE_SECONDS"])
    return list(db.session.execute(
        select(SsoSession).where(or_(SsoSession.expires_at <= now, SsoSession.last_seen_at <= now - idle))
    ).scalars())


def _delete(model: type, condition: object) -> int:
    return db.session.execute(delete(model).where(condition)).rowcount or 0  # type: ignore[arg-type]


def purge(now: datetime) -> Purged:
    """One transaction per kind, so a long purge never holds every table at once."""
    with transaction():
        ended = _expired_sessions(now)
        for row in ended:
            sso.end(row, reason="expired")  # applications are told, as for any other sign-out
    rules = {
        "authorization_code": (AuthorizationCode, AuthorizationCode.expires_at <= now),
        # Refresh tokens go with their grant (ON DELETE CASCADE) or at their own expiry.
        "refresh_token": (RefreshToken, RefreshToken.expires_at <= now),
        # A missing grant reads as revoked, so revoked grants can go at once.
        "oauth_grant": (Grant, or_(Grant.expires_at <= now, Grant.revoked_at.is_not(None))),
        "interaction": (Interaction, Interaction.expires_at <= now),
        "client_assertion_jti": (ClientAssertionJti, ClientAssertionJti.expires_at <= now),
        "revoked_access_token": (RevokedAccessToken, RevokedAccessToken.expires_at <= now),
        "login_throttle": (LoginThrottle, and_(
            LoginThrottle.window_started_at <= now - timedelta(
                seconds=current_app.config["IDP_LOGIN_FAILURE_WINDOW_SECONDS"]),
            or_(LoginThrottle.locked_until.is_(None), LoginThrottle.locked_until <= now))),
        "logout_delivery": (LogoutDelivery, and_(LogoutDelivery.status != DeliveryStatus.PENDING,
                                                 LogoutDelivery.finished_at <= now - DELIVERY_RETENTION)),
        "signing_key": (SigningKey, and_(SigningKey.status == KeyStatus.RETIRED, SigningKey.publish_until <= now)),
    }
    counts = {}
    for name, (model, condition) in rules.items():
        with transaction():
            counts[name] = _delete(model, condition)
    return Purged(sessions=len(ended), rows=counts)
