"""Server-side SSO sessions. The cookie holds a random secret; only its SHA-256 is stored here.

``sid`` is a second, public random id (given to relying parties in ID and logout tokens), so the
cookie secret never leaves the browser and the database never holds it.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ForeignKey, String, bindparam, insert, select
from sqlalchemy.orm import Mapped, contains_eager, mapped_column, relationship

from .base import Base, UtcDateTime, db
from .mfa import ENROLMENT_COLUMNS, Enrolment, with_enrolment
from .subjects import Subject, SubjectRecord


def new_sid() -> str:
    return secrets.token_urlsafe(24)


class SsoSession(Base):
    __tablename__ = "sso_session"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    sid: Mapped[str] = mapped_column(String(64), unique=True)  # sso.start sets it, with the row
    subject_id: Mapped[int] = mapped_column(ForeignKey("subject.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    last_seen_at: Mapped[datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    auth_time: Mapped[datetime] = mapped_column(UtcDateTime)
    # Space-separated RFC 8176 methods achieved in this session ("pwd", later "otp mfa").
    amr: Mapped[str] = mapped_column(String(64))
    # Set while a second factor is still owed ("otp", or "enrol" when none is set up yet): such a
    # session signs nobody in anywhere; only the second-factor pages can see it.
    pending_factor: Mapped[str | None] = mapped_column(String(16))
    ip_address: Mapped[str | None] = mapped_column(String(45))
    user_agent: Mapped[str | None] = mapped_column(String(255))

    subject: Mapped[Subject] = relationship()

    # Not a column: the second-factor policy's facts, when the query that loaded the session read
    # them too (a browser's session, found by its cookie); None: the policy reads them itself.
    enrolment = None


@dataclass(frozen=True)
class NewSession:
    """A session this request has just started, as the authorization flow reads one: the values the
    sign-in wrote, so that answering the application in the sign-in's own response reads nothing back."""

    sid: str
    subject_id: int
    subject: Subject | SubjectRecord
    amr: str
    auth_time: datetime
    # The second-factor policy's facts when the sign-in read them with the person (citizens); None:
    # the policy reads them itself.
    enrolment: Enrolment | None = None


# What the authorization flow acts for: the browser's session row, or the one this request started.
FlowSession = SsoSession | NewSession


# Built once: every page and authorization request of a signed-in browser reads its session, with
# its person and what the second-factor policy asks of a password-only session (a row per role).
_SESSIONS, _SUBJECTS = SsoSession.__table__, Subject.__table__
_BY_TOKEN_HASH = (
    select(SsoSession, *ENROLMENT_COLUMNS)
    .select_from(with_enrolment(_SESSIONS.join(_SUBJECTS, _SUBJECTS.c.id == _SESSIONS.c.subject_id)))
    .options(contains_eager(SsoSession.subject))
    .where(SsoSession.token_hash == bindparam("token_hash"))
)


def find_by_token_hash(token_hash: str) -> SsoSession | None:
    """The session with its person and the policy's facts (every use of a session reads the person,
    and an authorization may ask the policy: one query, not three)."""
    rows = db.session.execute(_BY_TOKEN_HASH, {"token_hash": token_hash}).all()
    if not rows:
        return None
    session = rows[0][0]
    session.enrolment = Enrolment.of(rows)
    return session


# Every sign-in writes one and reads nothing back in that request (the caller made the secret and
# the sid): an INSERT of its values, without the ORM's unit of work and its fetching of the new id.
_INSERT = insert(SsoSession.__table__)


def add(*, token_hash: str, sid: str, subject_id: int, created_at: datetime, expires_at: datetime,
        amr: str, pending_factor: str | None, ip_address: str | None, user_agent: str | None) -> None:
    """A new session, active and authenticated at ``created_at``."""
    db.session.execute(_INSERT, {
        "token_hash": token_hash, "sid": sid, "subject_id": subject_id, "created_at": created_at,
        "last_seen_at": created_at, "expires_at": expires_at, "auth_time": created_at, "amr": amr,
        "pending_factor": pending_factor, "ip_address": ip_address, "user_agent": user_agent})


def delete_session(row: SsoSession) -> None:
    db.session.delete(row)
    db.session.flush()


def for_subject(subject_id: int) -> list[SsoSession]:
    return list(db.session.execute(
        select(SsoSession).where(SsoSession.subject_id == subject_id).order_by(SsoSession.id)).scalars())
