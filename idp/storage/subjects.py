"""People: the Subject (ours, with the stable ``sub``), the identities linked to it, local passwords.

External identifiers (ID number, directory entryUUID) are attributes in ``identity``, never keys of
the subject; ``sub`` is a random value of ours that never changes.
"""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import Date, ForeignKey, String, Text, UniqueConstraint, bindparam, delete, select, update
from sqlalchemy.orm import Mapped, joinedload, mapped_column, relationship

from .base import Base, Prepared, UtcDateTime, db, str_enum, utcnow
from .orgunits import OrgUnit


class SubjectKind(enum.StrEnum):
    CITIZEN = "citizen"
    OFFICIAL = "official"


class SubjectStatus(enum.StrEnum):
    ACTIVE = "active"
    LOCKED = "locked"
    DISABLED = "disabled"


def _new_sub() -> str:
    return str(uuid.uuid4())


class Subject(Base):
    __tablename__ = "subject"

    id: Mapped[int] = mapped_column(primary_key=True)
    sub: Mapped[str] = mapped_column(String(64), unique=True, default=_new_sub)
    kind: Mapped[SubjectKind] = mapped_column(
        str_enum(SubjectKind)
    )
    status: Mapped[SubjectStatus] = mapped_column(
        str_enum(SubjectStatus),
        default=SubjectStatus.ACTIVE,
    )
    full_name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(254), index=True)
    email_verified: Mapped[bool] = mapped_column(default=False)
    phone: Mapped[str | None] = mapped_column(String(32))
    phone_verified: Mapped[bool] = mapped_column(default=False)
    address: Mapped[str | None] = mapped_column(Text)
    birthdate: Mapped[date | None] = mapped_column(Date)
    # Officials: position (chức vụ) as the directory states it.
    title: Mapped[str | None] = mapped_column(String(200))
    org_unit_id: Mapped[int | None] = mapped_column(ForeignKey("org_unit.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)

    org_unit: Mapped[OrgUnit | None] = relationship()


@dataclass(frozen=True)
class SubjectRecord:
    """A subject's row as plain values, for paths that only read it (userinfo, introspection, a
    citizen's sign-in): loading an ORM object costs more there than the query itself."""

    id: int
    sub: str
    kind: SubjectKind
    status: SubjectStatus
    full_name: str
    email: str | None
    email_verified: bool
    phone: str | None
    phone_verified: bool
    address: str | None
    birthdate: date | None
    updated_at: datetime
    org_unit_id: int | None


# A person as a page or a flow has them: loaded as a row, or read as plain values.
Person = Subject | SubjectRecord

# The columns of a SubjectRecord, in its order, for statements that read one.
RECORD_COLUMNS = tuple(Subject.__table__.c[name] for name in SubjectRecord.__dataclass_fields__)


class Identity(Base):
    """Where a subject comes from: (source, external id) is unique, e.g. ("local", ID number)."""

    __tablename__ = "identity"
    __table_args__ = (UniqueConstraint("source", "external_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    subject_id: Mapped[int] = mapped_column(ForeignKey("subject.id", ondelete="CASCADE"), index=True)
    source: Mapped[str] = mapped_column(String(32))
    external_id: Mapped[str] = mapped_column(String(255))
    # Where the entry was last seen (directory DN): informative only, it changes on rename and move.
    dn: Mapped[str | None] = mapped_column(Text)
    synced_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)

    subject: Mapped[Subject] = relationship()


class SubjectRole(Base):
    """A role of a subject (officials: from directory groups through IDP_LDAP_ROLE_MAP)."""

    __tablename__ = "subject_role"

    subject_id: Mapped[int] = mapped_column(ForeignKey("subject.id", ondelete="CASCADE"), primary_key=True)
    role: Mapped[str] = mapped_column(String(64), primary_key=True)


class LocalPassword(Base):
    """A citizen's password: only the argon2id hash (the PHC string carries its parameters)."""

    __tablename__ = "local_password"

    subject_id: Mapped[int] = mapped_column(ForeignKey("subject.id", ondelete="CASCADE"), primary_key=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    changed_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


# The directory sync looks every official's entry up by its entryUUID: built once.
_IDENTITY = (select(Identity).options(joinedload(Identity.subject))
             .where(Identity.source == bindparam("source"), Identity.external_id == bindparam("external_id")))


def find_identity(source: str, external_id: str) -> Identity | None:
    """The identity with its subject (one query, not two)."""
    return db.session.execute(_IDENTITY, {"source": source, "external_id": external_id}).scalar_one_or_none()


_SYNCED = Prepared(update(Identity.__table__).where(Identity.__table__.c.id == bindparam("by_id")))


def record_synced(identity_id: int, dn: str, now: datetime) -> None:
    """The identity's entry was read from the directory at ``now``, at ``dn`` (a sign-in that found
    nothing else to copy), in the current ``writing()`` block or transaction."""
    _SYNCED.later({"by_id": identity_id, "dn": dn, "synced_at": now})


def find_by_verified_email(email: str, kind: SubjectKind) -> Subject | None:
    """The subject of ``kind`` whose verified e-mail is ``email`` (already normalised)."""
    return db.session.execute(
        select(Subject)
        .where(Subject.email == email, Subject.email_verified.is_(True), Subject.kind == kind)
        .limit(1)
    ).scalar_one_or_none()


def all_roles() -> dict[int, set[str]]:
    roles: dict[int, set[str]] = {}
    for subject_id, role in db.session.execute(select(SubjectRole.subject_id, SubjectRole.role)):
        roles.setdefault(subject_id, set()).add(role)
    return roles


def roles_of(subject_id: int) -> list[str]:
    return list(db.session.execute(
        select(SubjectRole.role).where(SubjectRole.subject_id == subject_id).order_by(SubjectRole.role)).scalars())


def set_roles(subject_id: int, roles: set[str], current: set[str] | None = None) -> None:
    """Make the subject's roles exactly ``roles`` (``current``: what a caller already loaded)."""
    current = set(roles_of(subject_id)) if current is None else current
    if current == roles:
        return
    db.session.execute(delete(SubjectRole).where(SubjectRole.subject_id == subject_id,
                                                 SubjectRole.role.in_(current - roles)))
    db.session.add_all(SubjectRole(subject_id=subject_id, role=role) for role in sorted(roles - current))
    db.session.flush()


def find_by_sub(sub: str) -> Subject | None:
    return db.session.execute(select(Subject).where(Subject.sub == sub)).scalar_one_or_none()


def get_subject(subject_id: int) -> Subject | None:
    return db.session.get(Subject, subject_id)


def get_password(subject_id: int) -> LocalPassword | None:
    return db.session.get(LocalPassword, subject_id)


def add(*rows: Base) -> None:
    db.session.add_all(rows)
    db.session.flush()


def set_password(subject: Subject | SubjectRecord, password_hash: str) -> None:
    row = get_password(subject.id)
    if row is None:
        db.session.add(LocalPassword(subject_id=subject.id, password_hash=password_hash))
    else:
        row.password_hash = password_hash
        row.changed_at = utcnow()
    db.session.flush()
