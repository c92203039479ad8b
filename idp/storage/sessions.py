"""Server-side SSO sessions. The cookie holds a random secret; only its SHA-256 is stored here.

``sid`` is a second, public random id (given to relying parties in ID and logout tokens), so the
cookie secret never leaves the browser and the database never holds it.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ForeignKey, String, bindparam, insert, select, update
from sqlalchemy.orm import Mapped, contains_eager, mapped_column, relationship

from .base import Base, Prepared, UtcDateTime, db
from .mfa import ENROLMENT_COLUMNS, Enrolment, with_enrolment
from .subjects import RECORD_COLUMNS, Subject, SubjectRecord


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


@dataclass(frozen=True)
class SessionRecord:
    """A session as plain values: what the authorization flow reads of one, from the browser's cookie
    (``record_by_token_hash``) or as a sign-in just wrote it (nothing read back)."""

    sid: str
    subject: Subject | SubjectRecord
    amr: str
    auth_time: datetime
    last_seen_at: datetime
    expires_at: datetime
    pending_factor: str | None
    # The second-factor policy's facts when they were read with the session or the person; None:
    # the policy reads them itself.
    enrolment: Enrolment | None = None

    @property
    def subject_id(self) -> int:
        return self.subject.id

    @classmethod
    def of(cls, row: SsoSession) -> SessionRecord:
        """A loaded session row's values (a page that changed the row, then answers the flow)."""
        return cls(row.sid, row.subject, row.amr, row.auth_time, row.last_seen_at, row.expires_at,
                   row.pending_factor)


_SESSIONS, _SUBJECTS = SsoSession.__table__, Subject.__table__
_WITH_SUBJECT = _SESSIONS.join(_SUBJECTS, _SUBJECTS.c.id == _SESSIONS.c.subject_id)

# Every page of a signed-in browser that may change or end its session loads it with its person.
_BY_TOKEN_HASH = (
    select(SsoSession).select_from(_WITH_SUBJECT).options(contains_eager(SsoSession.subject))
    .where(SsoSession.token_hash == bindparam("token_hash"))
)


def find_by_token_hash(token_hash: str) -> SsoSession | None:
    """The session row with its person (every use of a session reads the person: one query, not two)."""
    return db.session.execute(_BY_TOKEN_HASH, {"token_hash": token_hash}).scalar_one_or_none()


# Every authorization request of a signed-in browser reads its session, its person and what the
# second-factor policy asks of a password-only session (a row per role), and changes nothing: plain
# columns, not ORM objects. Loading the row and its person as ORM objects in a transaction of their
# own was a third of an SSO authorization's time in process. The record's own columns come first.
_RECORD_SESSION_COLUMNS = tuple(_SESSIONS.c[name] for name in
                                ("sid", "amr", "auth_time", "last_seen_at", "expires_at", "pending_factor"))
_RECORD_BY_TOKEN_HASH = Prepared(
    select(*_RECORD_SESSION_COLUMNS, *RECORD_COLUMNS, *ENROLMENT_COLUMNS)
    .select_from(with_enrolment(_WITH_SUBJECT))
    .where(_SESSIONS.c.token_hash == bindparam("token_hash"))
)
_SUBJECT_FROM, _SUBJECT_TO = len(_RECORD_SESSION_COLUMNS), len(_RECORD_SESSION_COLUMNS) + len(RECORD_COLUMNS)


def record_by_token_hash(token_hash: str) -> SessionRecord | None:
    """The session as plain values, with its person and the policy's facts, in one query (in a
    ``reading()`` block or the current transaction)."""
    rows = _RECORD_BY_TOKEN_HASH.all({"token_hash": token_hash})
    if not rows:
        return None
    sid, amr, auth_time, last_seen_at, expires_at, pending_factor = rows[0][:_SUBJECT_FROM]
    return SessionRecord(sid, SubjectRecord(*rows[0][_SUBJECT_FROM:_SUBJECT_TO]), amr, auth_time, last_seen_at,
                         expires_at, pending_factor, Enrolment.of(rows))


_TOUCH = Prepared(update(_SESSIONS).where(_SESSIONS.c.token_hash == bindparam("by_token_hash")))


def touch(token_hash: str, now: datetime) -> None:
    """Record activity on a session read as a record (a session ended meanwhile is left gone)."""
    _TOUCH.later({"by_token_hash": token_hash, "last_seen_at": now})


_COMPLETE = Prepared(update(_SESSIONS).where(_SESSIONS.c.sid == bindparam("by_sid")))


def complete(sid: str, amr: str, auth_time: datetime) -> bool:
    """The session's second factor passed: its methods and authentication time, nothing owed any more.
    False when the session is gone (ended by another request meanwhile)."""
    return _COMPLETE.changed({"by_sid": sid, "amr": amr, "pending_factor": None, "auth_time": auth_time}) == 1


# Every sign-in writes one and reads nothing back in that request (the caller made the secret and
# the sid): an INSERT of its values, without the ORM's unit of work and its fetching of the new id.
_INSERT = Prepared(insert(SsoSession.__table__))


def add(*, token_hash: str, sid: str, subject_id: int, created_at: datetime, expires_at: datetime,
        amr: str, pending_factor: str | None, ip_address: str | None, user_agent: str | None) -> None:
    """A new session, active and authenticated at ``created_at``."""
    _INSERT.later({
        "token_hash": token_hash, "sid": sid, "subject_id": subject_id, "created_at": created_at,
        "last_seen_at": created_at, "expires_at": expires_at, "auth_time": created_at, "amr": amr,
        "pending_factor": pending_factor, "ip_address": ip_address, "user_agent": user_agent})


def delete_session(row: SsoSession) -> None:
    db.session.delete(row)
    db.session.flush()


def for_subject(subject_id: int) -> list[SsoSession]:
    return list(db.session.execute(
        select(SsoSession).where(SsoSession.subject_id == subject_id).order_by(SsoSession.id)).scalars())
