"""What a person granted to a client, and the credentials derived from it.

A ``Grant`` is one authorization (one code redemption) and the family of tokens it produced: access
tokens carry its id (``gid``) and refresh tokens reference it, so revoking the grant revokes them all
— on code reuse (RFC 6749 §4.1.2), refresh-token reuse, logout or an admin's action. Codes and
refresh tokens are stored only as SHA-256 hashes.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Column,
    ForeignKey,
    String,
    Table,
    Text,
    UniqueConstraint,
    bindparam,
    exists,
    insert,
    select,
    update,
)
from sqlalchemy.orm import Mapped, declared_attr, mapped_column, relationship

from .base import Base, Prepared, UtcDateTime, db
from .logout import RevokedAccessToken
from .subjects import RECORD_COLUMNS, Subject, SubjectRecord


class _Authorized:
    """Who authorized what, how they signed in: the part a code hands on to the grant it becomes."""

    subject_id: Mapped[int] = mapped_column(ForeignKey("subject.id", ondelete="CASCADE"), index=True)
    scope: Mapped[str] = mapped_column(Text)
    auth_time: Mapped[datetime] = mapped_column(UtcDateTime)
    amr: Mapped[str] = mapped_column(String(64))
    acr: Mapped[str | None] = mapped_column(String(64))
    # The OIDC ``claims`` request parameter, kept so userinfo honours it for the grant's life.
    claims_request: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)

    @declared_attr
    def subject(cls) -> Mapped[Subject]:
        return relationship()


class Grant(_Authorized, Base):
    __tablename__ = "oauth_grant"

    id: Mapped[int] = mapped_column(primary_key=True)
    gid: Mapped[str] = mapped_column(String(64), unique=True)
    client_id: Mapped[str] = mapped_column(String(128), index=True)
    # The SSO session's public id, when the grant was made inside one.
    sid: Mapped[str | None] = mapped_column(String(64), index=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class AuthorizationCode(_Authorized, Base):
    __tablename__ = "authorization_code"

    id: Mapped[int] = mapped_column(primary_key=True)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    client_id: Mapped[str] = mapped_column(String(128))
    redirect_uri: Mapped[str] = mapped_column(Text)
    nonce: Mapped[str | None] = mapped_column(String(512))
    code_challenge: Mapped[str | None] = mapped_column(String(128))
    code_challenge_method: Mapped[str | None] = mapped_column(String(16))
    sid: Mapped[str | None] = mapped_column(String(64))
    # Set at the first redemption; a second one finds it set and revokes the grant it produced.
    used_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # Indexed for the ON DELETE SET NULL that each purged grant triggers (PostgreSQL scans otherwise).
    grant_id: Mapped[int | None] = mapped_column(ForeignKey("oauth_grant.id", ondelete="SET NULL"), index=True)


class RefreshToken(Base):
    __tablename__ = "refresh_token"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    grant_id: Mapped[int] = mapped_column(ForeignKey("oauth_grant.id", ondelete="CASCADE"), index=True)
    scope: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    # Set when this token was exchanged for its successor; presenting it again is reuse.
    rotated_at: Mapped[datetime | None] = mapped_column(UtcDateTime)

    grant: Mapped[Grant] = relationship()


class Consent(Base):
    """Scopes a person has agreed to give a client; asked again only for scopes not in here."""

    __tablename__ = "consent"
    __table_args__ = (UniqueConstraint("subject_id", "client_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    subject_id: Mapped[int] = mapped_column(ForeignKey("subject.id", ondelete="CASCADE"))
    client_id: Mapped[str] = mapped_column(String(128), index=True)
    scope: Mapped[str] = mapped_column(Text)
    granted_at: Mapped[datetime] = mapped_column(UtcDateTime)


@dataclass(frozen=True)
class GrantRecord:
    """A grant's row with its person, as plain values (what a refresh token is checked and used by)."""

    id: int
    gid: str
    client_id: str
    scope: str
    sid: str | None
    auth_time: datetime
    amr: str
    acr: str | None
    claims_request: dict[str, Any] | None
    expires_at: datetime
    revoked_at: datetime | None
    subject: SubjectRecord


@dataclass(frozen=True)
class RefreshRecord:
    """A refresh token's row with its grant and person, as plain values."""

    id: int
    scope: str
    created_at: datetime
    expires_at: datetime
    rotated_at: datetime | None
    grant: GrantRecord


@dataclass(frozen=True)
class CodeRecord:
    """An authorization code's row with its person, as plain values (what a code exchange checks)."""

    id: int
    client_id: str
    redirect_uri: str
    nonce: str | None
    code_challenge: str | None
    sid: str | None
    scope: str
    auth_time: datetime
    amr: str
    acr: str | None
    claims_request: dict[str, Any] | None
    expires_at: datetime
    subject: SubjectRecord


@dataclass(frozen=True)
class AccessGrant:
    """What a presented access token's grant says now, as plain values."""

    scope: str
    revoked: bool
    subject: SubjectRecord


# Every access token presented (userinfo, introspection) is checked against its grant and person
# and its revocation, in one query of plain columns: the ORM's loading of a Grant and a Subject cost
# about a fifth of a userinfo request (callgrind: 2,472k → 1,984k instructions per request).
_grants, _subjects = Grant.__table__, Subject.__table__
_codes, _refresh_tokens = AuthorizationCode.__table__, RefreshToken.__table__


def _columns(table: Table, record: type) -> tuple[Column[Any], ...]:
    """The table's columns for the record's fields, in order, but the last (the record it nests)."""
    return tuple(table.c[field.name] for field in fields(record)[:-1])


_ACCESS_GRANT = Prepared(
    select(_grants.c.scope, _grants.c.revoked_at, *RECORD_COLUMNS,
           exists().where(RevokedAccessToken.__table__.c.jti == bindparam("jti")))
    .select_from(_grants.join(_subjects, _subjects.c.id == _grants.c.subject_id))
    .where(_grants.c.gid == bindparam("gid"))
)
# A refresh token is read with its grant and person on every refresh, introspection and revocation of
# one, in one query of plain columns (callgrind, refresh in process: 4,434k → 3,796k instructions
# outside cryptography, against loading three ORM objects).
_REFRESH_COLUMNS = _columns(_refresh_tokens, RefreshRecord)
_GRANT_COLUMNS = _columns(_grants, GrantRecord)
_REFRESH_BY_HASH = Prepared(
    select(*_REFRESH_COLUMNS, *_GRANT_COLUMNS, *RECORD_COLUMNS)
    .select_from(_refresh_tokens.join(_grants).join(_subjects, _subjects.c.id == _grants.c.subject_id))
    .where(_refresh_tokens.c.token_hash == bindparam("token_hash"))
)
# The code exchange reads the code with its person, and writes the grant it becomes, the same way.
_CODE_COLUMNS = _columns(_codes, CodeRecord)
_CODE_BY_HASH = Prepared(
    select(*_CODE_COLUMNS, *RECORD_COLUMNS)
    .select_from(_codes.join(_subjects, _subjects.c.id == _codes.c.subject_id))
    .where(_codes.c.code_hash == bindparam("code_hash"))
)
_INSERT_GRANT = Prepared(insert(_grants).returning(_grants.c.id))
_GRANT_OF_CODE = Prepared(select(_codes.c.grant_id).where(_codes.c.id == bindparam("code_id")))
_LINK_CODE = Prepared(update(_codes).where(_codes.c.id == bindparam("code_id")).values(grant_id=bindparam("grant_id")))


def grant_of_access_token(gid: str, jti: str) -> tuple[AccessGrant | None, bool]:
    """The grant ``gid`` with its person, and whether the access token ``jti`` was revoked: what every
    presented access token is checked against, in one query. (None, False) when there is no such grant."""
    row = _ACCESS_GRANT.first({"gid": gid, "jti": jti})
    if row is None:
        return None, False
    scope, revoked_at, *person, jti_revoked = row
    return AccessGrant(scope, revoked_at is not None, SubjectRecord(*person)), bool(jti_revoked)


def code_by_hash(code_hash: str) -> CodeRecord | None:
    row = _CODE_BY_HASH.first({"code_hash": code_hash})
    if row is None:
        return None
    split = len(_CODE_COLUMNS)
    return CodeRecord(*row[:split], subject=SubjectRecord(*row[split:]))


def grant_of_code(code_id: int) -> int | None:
    """The id of the grant the code's first redemption made (read again: a concurrent one may have)."""
    return _GRANT_OF_CODE.scalar({"code_id": code_id})  # type: ignore[no-any-return]


def add_grant(code: CodeRecord, *, gid: str, client_id: str, created_at: datetime,
              expires_at: datetime) -> GrantRecord:
    """The grant a code's redemption makes, recorded on the code (a second redemption revokes it)."""
    values = {"gid": gid, "subject_id": code.subject.id, "client_id": client_id, "scope": code.scope,
              "sid": code.sid, "auth_time": code.auth_time, "amr": code.amr, "acr": code.acr,
              "claims_request": code.claims_request, "created_at": created_at, "expires_at": expires_at}
    grant_id = _INSERT_GRANT.scalar(values)
    _LINK_CODE.later({"code_id": code.id, "grant_id": grant_id})
    return GrantRecord(id=grant_id, gid=gid, client_id=client_id, scope=code.scope, sid=code.sid,
                       auth_time=code.auth_time, amr=code.amr, acr=code.acr, claims_request=code.claims_request,
                       expires_at=expires_at, revoked_at=None, subject=code.subject)


def refresh_by_hash(token_hash: str) -> RefreshRecord | None:
    row = _REFRESH_BY_HASH.first({"token_hash": token_hash})
    if row is None:
        return None
    token_end = len(_REFRESH_COLUMNS)
    grant_end = token_end + len(_GRANT_COLUMNS)
    person = SubjectRecord(*row[grant_end:])
    return RefreshRecord(*row[:token_end], grant=GrantRecord(*row[token_end:grant_end], subject=person))


# Single-use markers, one conditional UPDATE each. Built once, on the tables rather than the mapped
# classes, so the ORM neither searches the session for rows to update in memory nor runs its bulk
# machinery: the caller acts on the row count alone, and its request's session ends soon after.
_CLAIM_CODE = Prepared(
    update(_codes).where(_codes.c.id == bindparam("row_id"), _codes.c.used_at.is_(None))
    .values(used_at=bindparam("now", type_=UtcDateTime))
)
_ROTATE_REFRESH = Prepared(
    update(_refresh_tokens).where(_refresh_tokens.c.id == bindparam("row_id"), _refresh_tokens.c.rotated_at.is_(None))
    .values(rotated_at=bindparam("now", type_=UtcDateTime))
)


def claim_code(code_id: int, now: datetime) -> bool:
    """Mark the code used unless it already is (one atomic UPDATE); True when this call did."""
    return _CLAIM_CODE.changed({"row_id": code_id, "now": now}) == 1


def rotate_refresh(token_id: int, now: datetime) -> bool:
    """Mark the refresh token rotated unless it already is (one atomic UPDATE); True when this call did.

    Two requests presenting the same token at once cannot both rotate it: the second sees reuse.
    """
    return _ROTATE_REFRESH.changed({"row_id": token_id, "now": now}) == 1


def consent_for(subject_id: int, client_id: str) -> Consent | None:
    return db.session.execute(
        select(Consent).where(Consent.subject_id == subject_id, Consent.client_id == client_id)
    ).scalar_one_or_none()


_REVOKE_GRANT = Prepared(update(_grants).where(_grants.c.id == bindparam("grant_id"), _grants.c.revoked_at.is_(None))
                         .values(revoked_at=bindparam("now", type_=UtcDateTime)))


def revoke_grant(grant_id: int, now: datetime) -> None:
    _REVOKE_GRANT.later({"grant_id": grant_id, "now": now})


def revoke_session_grants(sid: str, now: datetime) -> None:
    """Revoke every grant made within the SSO session ``sid`` (it has ended)."""
    db.session.execute(update(Grant).where(Grant.sid == sid, Grant.revoked_at.is_(None)).values(revoked_at=now))


# A refresh token is written on every code exchange and refresh and never read back in that request:
# an INSERT of its values, without the ORM's unit of work (callgrind, refresh in process: 5,445k →
# 4,711k instructions outside cryptography per request).
_INSERT_REFRESH = Prepared(insert(_refresh_tokens))


def add_refresh_token(*, token_hash: str, grant_id: int, scope: str, created_at: datetime,
                      expires_at: datetime) -> None:
    _INSERT_REFRESH.later({"token_hash": token_hash, "grant_id": grant_id, "scope": scope,
                           "created_at": created_at, "expires_at": expires_at})


# A code is written on every authorization that reaches the client and is not read back in that
# request: an INSERT of its values, without the ORM's unit of work.
_INSERT_CODE = Prepared(insert(_codes))


def add_code(*, code_hash: str, client_id: str, subject_id: int, redirect_uri: str, scope: str,
             nonce: str | None, code_challenge: str | None, code_challenge_method: str | None, sid: str,
             auth_time: datetime, amr: str, acr: str, claims_request: dict[str, Any] | None,
             created_at: datetime, expires_at: datetime) -> None:
    _INSERT_CODE.later({
        "code_hash": code_hash, "client_id": client_id, "subject_id": subject_id, "redirect_uri": redirect_uri,
        "scope": scope, "nonce": nonce, "code_challenge": code_challenge,
        "code_challenge_method": code_challenge_method, "sid": sid, "auth_time": auth_time, "amr": amr,
        "acr": acr, "claims_request": claims_request, "created_at": created_at, "expires_at": expires_at})


def add(*rows: Base) -> None:
    db.session.add_all(rows)
    db.session.flush()
