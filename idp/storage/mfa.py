"""Second factors: each subject's TOTP credential and recovery codes, and the atomic updates they need.

A credential is one row per subject holding the secret in force and, while the person enrols a new
authenticator, the next one: the old secret keeps working until the new one is confirmed. Secrets
are AES-GCM tokens (``idp.crypto``), never base32 text. ``last_step`` is the RFC 6238 time step of
the last code accepted; a code is accepted only for a later step, in one conditional UPDATE, so two
workers handed the same code cannot both accept it. Recovery codes are stored only as SHA-256 hashes
and used up by the same kind of conditional UPDATE.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    ForeignKey,
    String,
    UniqueConstraint,
    and_,
    bindparam,
    delete,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.sql.expression import FromClause, Join

from .base import Base, Prepared, UtcDateTime, db, utcnow
from .subjects import Subject, SubjectRole


class TotpCredential(Base):
    __tablename__ = "totp_credential"

    subject_id: Mapped[int] = mapped_column(ForeignKey("subject.id", ondelete="CASCADE"), primary_key=True)
    # The confirmed secret (encrypted), or None while the first enrolment is still unconfirmed.
    secret_encrypted: Mapped[str | None] = mapped_column(String(255))
    confirmed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_step: Mapped[int | None] = mapped_column(BigInteger)
    last_used_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # An enrolment in progress: shown to the person, not yet proven by a code from their authenticator.
    pending_secret_encrypted: Mapped[str | None] = mapped_column(String(255))
    pending_since: Mapped[datetime | None] = mapped_column(UtcDateTime)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class RecoveryCode(Base):
    __tablename__ = "recovery_code"
    __table_args__ = (UniqueConstraint("subject_id", "code_hash"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    subject_id: Mapped[int] = mapped_column(ForeignKey("subject.id", ondelete="CASCADE"))
    code_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    used_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


# --- TOTP credentials --------------------------------------------------------------------------------

def credential(subject_id: int) -> TotpCredential | None:
    return db.session.get(TotpCredential, subject_id)


def is_enrolled(subject_id: int) -> bool:
    """Whether the subject has a confirmed TOTP secret (an unconfirmed enrolment does not count)."""
    return db.session.execute(
        select(TotpCredential.subject_id)
        .where(TotpCredential.subject_id == subject_id, TotpCredential.secret_encrypted.is_not(None))
    ).first() is not None


@dataclass(frozen=True)
class Enrolment:
    """What the second-factor policy reads about a subject: a confirmed TOTP secret, and its roles."""

    enrolled: bool
    roles: frozenset[str]

    @classmethod
    def of(cls, rows: Iterable[Sequence[Any]]) -> Enrolment:
        """From rows that end with ``ENROLMENT_COLUMNS`` (a row per role, or one without)."""
        rows = list(rows)
        return cls(any(row[-2] is not None for row in rows), frozenset(row[-1] for row in rows if row[-1] is not None))


# Table columns, not ORM attributes: the statements run as plain Core (the ORM's execution path
# costs more than the query, and the rows are only read).
_TOTP, _ROLE, _SUBJECT = TotpCredential.__table__, SubjectRole.__table__, Subject.__table__
ENROLMENT_COLUMNS = (_TOTP.c.subject_id, _ROLE.c.role)


def with_enrolment(source: FromClause) -> Join:
    """``source``, which holds the subject table, outer-joined to what ``ENROLMENT_COLUMNS`` reads,
    so that a statement reading a person can read the policy's facts with it."""
    return (source
            .outerjoin(_TOTP, and_(_TOTP.c.subject_id == _SUBJECT.c.id, _TOTP.c.secret_encrypted.is_not(None)))
            .outerjoin(_ROLE, _ROLE.c.subject_id == _SUBJECT.c.id))


_ENROLMENT = (select(*ENROLMENT_COLUMNS).select_from(with_enrolment(_SUBJECT))
              .where(_SUBJECT.c.id == bindparam("subject_id")))


def enrolment(subject_id: int) -> Enrolment:
    """Whether the subject has a confirmed TOTP secret, and its roles: what the second-factor policy
    reads at every authorization that may step up, in one query."""
    return Enrolment.of(db.session.execute(_ENROLMENT, {"subject_id": subject_id}).all())


def set_pending(subject_id: int, secret_encrypted: str, now: datetime) -> None:
    """Start (or restart) an enrolment; a confirmed secret, if any, stays in force."""
    row = credential(subject_id)
    if row is None:
        row = TotpCredential(subject_id=subject_id, created_at=now)
        db.session.add(row)
    row.pending_secret_encrypted, row.pending_since = secret_encrypted, now
    db.session.flush()


def confirm_pending(subject_id: int, pending_secret_encrypted: str, step: int, now: datetime) -> bool:
    """Make the pending secret the one in force, if it is still the one the caller checked the code
    against (a concurrent confirmation or restart wins otherwise). True when this call did it."""
    return db.session.execute(
        update(TotpCredential)
        .where(TotpCredential.subject_id == subject_id,
               TotpCredential.pending_secret_encrypted == pending_secret_encrypted)
        .values(secret_encrypted=pending_secret_encrypted, confirmed_at=now, last_step=step, last_used_at=now,
                pending_secret_encrypted=None, pending_since=None)
        .execution_options(synchronize_session=False)
    ).rowcount == 1


# Every official's sign-in checks a code: the secret is read as one value, and the step accepted by
# a prebuilt UPDATE, so that both run as plain statements (in a ``writing()`` block with the session's
# completion: ``idp.authn.second_factor``).
_SECRET_IN_FORCE = Prepared(select(_TOTP.c.secret_encrypted).where(_TOTP.c.subject_id == bindparam("subject_id")))
_ACCEPT_STEP = Prepared(
    update(_TOTP)
    .where(_TOTP.c.subject_id == bindparam("by_subject_id"), _TOTP.c.secret_encrypted.is_not(None),
           or_(_TOTP.c.last_step.is_(None), _TOTP.c.last_step < bindparam("new_step"))))


def secret_in_force(subject_id: int) -> str | None:
    """The confirmed secret (encrypted) that codes are checked against; None when there is none."""
    return _SECRET_IN_FORCE.scalar({"subject_id": subject_id})  # type: ignore[no-any-return]


def accept_step(subject_id: int, step: int, now: datetime) -> bool:
    """Record ``step`` as the last accepted one if it is later than the stored one (RFC 6238 §5.2:
    a verifier must not accept the second attempt of the same OTP). True when this call accepted it."""
    return _ACCEPT_STEP.changed({"by_subject_id": subject_id, "new_step": step, "last_step": step,
                                 "last_used_at": now}) == 1


def delete_credential(subject_id: int) -> bool:
    """Remove the TOTP credential (confirmed and pending) and the recovery codes; True if one existed."""
    deleted = db.session.execute(delete(TotpCredential).where(TotpCredential.subject_id == subject_id)).rowcount
    delete_recovery_codes(subject_id)
    return deleted == 1


# --- Recovery codes ----------------------------------------------------------------------------------

def delete_recovery_codes(subject_id: int) -> None:
    db.session.execute(delete(RecoveryCode).where(RecoveryCode.subject_id == subject_id))


def replace_recovery_codes(subject_id: int, code_hashes: list[str], now: datetime) -> None:
    """The subject's recovery codes become exactly these; every earlier one stops working."""
    delete_recovery_codes(subject_id)
    db.session.add_all(RecoveryCode(subject_id=subject_id, code_hash=h, created_at=now) for h in code_hashes)
    db.session.flush()


def use_recovery_code(subject_id: int, code_hash: str, now: datetime) -> bool:
    """Mark the unused code with this hash as used; True when this call did (each code works once)."""
    return db.session.execute(
        update(RecoveryCode)
        .where(RecoveryCode.subject_id == subject_id, RecoveryCode.code_hash == code_hash,
               RecoveryCode.used_at.is_(None))
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount == 1


def unused_recovery_codes(subject_id: int) -> int:
    return db.session.execute(
        select(func.count()).select_from(RecoveryCode)
        .where(RecoveryCode.subject_id == subject_id, RecoveryCode.used_at.is_(None))
    ).scalar_one()
