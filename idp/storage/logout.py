"""What single logout needs to remember: who took part in a session, what must still be told.

Participants are keyed by the session's public ``sid`` (not its row) because they are read after the
session row is gone: ending a session is what makes us notify them. Back-channel deliveries are rows
so that a notification survives a restart of the process that was sending it.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    ColumnElement,
    ForeignKey,
    String,
    Text,
    UniqueConstraint,
    and_,
    bindparam,
    delete,
    exists,
    or_,
    select,
    update,
)
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, Prepared, Upsert, UtcDateTime, db, str_enum


class SessionParticipant(Base):
    """A client that received tokens within an SSO session (and the ``sid`` it was given)."""

    __tablename__ = "session_participant"
    # Also the index of the lookups by sid (its first column): a second one on sid would only cost writes.
    __table_args__ = (UniqueConstraint("sid", "client_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    sid: Mapped[str] = mapped_column(String(64))
    client_id: Mapped[str] = mapped_column(String(128))
    subject_id: Mapped[int] = mapped_column(ForeignKey("subject.id", ondelete="CASCADE"), index=True)
    first_seen_at: Mapped[datetime] = mapped_column(UtcDateTime)


class DeliveryStatus(enum.StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"


class LogoutDelivery(Base):
    """One back-channel logout token to POST to one client, retried with back-off until done."""

    __tablename__ = "logout_delivery"

    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[str] = mapped_column(String(128))
    uri: Mapped[str] = mapped_column(Text)
    # The logout token's claims; it is signed when sent, so its iat/exp are fresh on every attempt.
    claims: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[DeliveryStatus] = mapped_column(
        str_enum(DeliveryStatus),
        index=True,
    )
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    # A worker that took the row holds it until then (another worker may take it after a crash).
    claimed_until: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_error: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime, index=True)


class RevokedAccessToken(Base):
    """A revoked JWT access token (RFC 7009), remembered by ``jti`` until it would have expired."""

    __tablename__ = "revoked_access_token"

    jti: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)


def participants(sid: str) -> list[SessionParticipant]:
    return list(db.session.execute(select(SessionParticipant).where(SessionParticipant.sid == sid)).scalars())


_ADD_PARTICIPANT = Upsert(SessionParticipant.__table__, lambda insert: insert.on_conflict_do_nothing())


def add_participant(sid: str, client_id: str, subject_id: int, now: datetime) -> None:
    """Record the participation unless it is already recorded (every code exchange in a session asks)."""
    _ADD_PARTICIPANT.later({"sid": sid, "client_id": client_id, "subject_id": subject_id, "first_seen_at": now})


def forget_participants(sid: str) -> None:
    db.session.execute(delete(SessionParticipant).where(SessionParticipant.sid == sid))


def add(*rows: Base) -> None:
    db.session.add_all(rows)
    db.session.flush()


def _due(now: datetime) -> ColumnElement[bool]:
    return and_(LogoutDelivery.status == DeliveryStatus.PENDING, LogoutDelivery.next_attempt_at <= now,
                or_(LogoutDelivery.claimed_until.is_(None), LogoutDelivery.claimed_until < now))


def has_pending_deliveries() -> bool:
    return bool(db.session.scalar(select(exists().where(LogoutDelivery.status == DeliveryStatus.PENDING))))


def due_deliveries(now: datetime) -> list[int]:
    """Ids of the deliveries due at ``now`` that no sender holds, oldest first."""
    return list(db.session.scalars(select(LogoutDelivery.id).where(_due(now))
                                   .order_by(LogoutDelivery.next_attempt_at, LogoutDelivery.id)))


def claim_delivery(row_id: int, now: datetime, until: datetime) -> LogoutDelivery | None:
    """Hold the row until ``until`` if it is still due and free (one atomic UPDATE); else None."""
    taken = db.session.execute(update(LogoutDelivery).where(LogoutDelivery.id == row_id, _due(now))
                               .values(claimed_until=until))
    return db.session.get_one(LogoutDelivery, row_id) if taken.rowcount == 1 else None


def delivery(row_id: int) -> LogoutDelivery:
    return db.session.get_one(LogoutDelivery, row_id)


_REVOKED_JTI = Prepared(
    select(RevokedAccessToken.__table__.c.jti).where(RevokedAccessToken.__table__.c.jti == bindparam("jti"))
)


def is_revoked(jti: str) -> bool:
    """Whether the access token ``jti`` was revoked: asked by bearer validation, a ``reading()`` view."""
    return _REVOKED_JTI.first({"jti": jti}) is not None


_REVOKE_ACCESS_TOKEN = Upsert(RevokedAccessToken.__table__, lambda insert: insert.on_conflict_do_nothing())


def revoke_access_token(jti: str, expires_at: datetime) -> bool:
    """Remember ``jti`` as revoked until ``expires_at``; False when it already was (two revocations at
    once both succeed, and only one is audited)."""
    return _REVOKE_ACCESS_TOKEN.execute({"jti": jti, "expires_at": expires_at}) == 1
