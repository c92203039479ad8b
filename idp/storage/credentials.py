"""What a sign-in reads about the person, in one query: the subject as plain values and the
second-factor policy's facts (a confirmed TOTP secret, the roles), with a citizen's password hash or
what an official's directory entry is compared with.

Its own module because it joins both people (``subjects``) and authenticators (``mfa``), and
``mfa`` already depends on ``subjects``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import takewhile
from typing import Any

from sqlalchemy import bindparam, select

from .base import Prepared
from .mfa import ENROLMENT_COLUMNS, Enrolment, with_enrolment
from .orgunits import OrgUnit
from .subjects import RECORD_COLUMNS, Identity, LocalPassword, Subject, SubjectKind, SubjectRecord


@dataclass(frozen=True)
class Credentials:
    """Who signs in with a local password, the hash to check it against (None: no password), and
    what decides whether a second factor follows."""

    subject: SubjectRecord
    password_hash: str | None
    enrolment: Enrolment


# Plain columns, not ORM objects: loading the identity, the subject and the password as ORM objects
# cost ≈90 µs more per sign-in, and reading the policy's facts here saves a second query after the hash.
# A row per role (or one without); the record's columns come first, then the hash, then the enrolment's.
_S, _P, _I = Subject.__table__, LocalPassword.__table__, Identity.__table__
_HASH = len(RECORD_COLUMNS)
_WITH_PASSWORD = _S.outerjoin(_P, _P.c.subject_id == _S.c.id)
_CREDENTIALS = select(*RECORD_COLUMNS, _P.c.password_hash, *ENROLMENT_COLUMNS)
_BY_IDENTITY = Prepared(_CREDENTIALS.select_from(
    with_enrolment(_I.join(_WITH_PASSWORD, _S.c.id == _I.c.subject_id))
).where(_I.c.source == bindparam("source"), _I.c.external_id == bindparam("external_id")))
# A verified address belongs to one citizen (registration refuses a second); should two ever share
# it, the older account is the one found (ordered by id: its rows come first, and only they are read).
_BY_EMAIL = Prepared(_CREDENTIALS.select_from(with_enrolment(_WITH_PASSWORD)).where(
    _S.c.email == bindparam("email"), _S.c.email_verified.is_(True), _S.c.kind == bindparam("kind")
).order_by(_S.c.id))


def _credentials(rows: Sequence[Any]) -> Credentials | None:
    """The first subject's rows collapsed into one ``Credentials``."""
    if not rows:
        return None
    first = rows[0]
    own = list(takewhile(lambda row: row[0] == first[0], rows))
    return Credentials(SubjectRecord(*first[:_HASH]), first[_HASH], Enrolment.of(own))


def by_identity(source: str, external_id: str) -> Credentials | None:
    return _credentials(_BY_IDENTITY.all({"source": source, "external_id": external_id}))


def by_verified_email(email: str, kind: SubjectKind) -> Credentials | None:
    """Of the subject of ``kind`` whose verified e-mail is ``email`` (already normalised)."""
    return _credentials(_BY_EMAIL.all({"email": email, "kind": kind}))


@dataclass(frozen=True)
class Official:
    """An official as their sign-in reads them: the subject, what the directory sync copies that the
    record does not hold (the title, the unit's code), the identity the sign-in stamps, and what
    decides the second factor."""

    subject: SubjectRecord
    title: str | None
    unit_code: str | None
    identity_id: int
    enrolment: Enrolment


# Every official's sign-in compares the directory's entry with what was copied of it; when nothing
# changed (the usual case) it writes only the identity's sync time, with its session. Through the ORM
# the comparison cost three queries in a transaction of its own, and the policy a fourth.
_U = OrgUnit.__table__
_TITLE = len(RECORD_COLUMNS)
_OFFICIAL = Prepared(
    select(*RECORD_COLUMNS, _S.c.title, _U.c.code, _I.c.id, *ENROLMENT_COLUMNS)
    .select_from(with_enrolment(_I.join(_S, _S.c.id == _I.c.subject_id).outerjoin(_U, _U.c.id == _S.c.org_unit_id)))
    .where(_I.c.source == bindparam("source"), _I.c.external_id == bindparam("external_id")))


def official(source: str, external_id: str) -> Official | None:
    """The official linked to the directory entry ``external_id`` of ``source``, if any."""
    rows = _OFFICIAL.all({"source": source, "external_id": external_id})
    if not rows:
        return None
    first = rows[0]
    title, unit_code, identity_id = first[_TITLE:_TITLE + 3]
    return Official(SubjectRecord(*first[:_TITLE]), title, unit_code, identity_id, Enrolment.of(rows))
