"""Authorization requests waiting for the person: sign-in, second factor, consent, account choice.

The protocol code stores the validated request here and redirects to the portal with the row's
random ``uid``; the portal records each step done and resumes the request. Rows expire quickly and
are single-use.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, String, bindparam, delete, insert, select, update
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, Prepared, UtcDateTime


class Interaction(Base):
    __tablename__ = "interaction"

    id: Mapped[int] = mapped_column(primary_key=True)
    uid: Mapped[str] = mapped_column(String(64), unique=True)
    client_id: Mapped[str] = mapped_column(String(128))
    # The authorization request's parameters, as validated.
    params: Mapped[dict[str, Any]] = mapped_column(JSON)
    # What the person must still do ("login", "consent", "select_account"), space-separated.
    prompt: Mapped[str] = mapped_column(String(64))
    # Public id of the SSO session that satisfied the sign-in step within this interaction.
    login_sid: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)


@dataclass(slots=True)
class InteractionRecord:
    """An interaction as plain values. Every step of a sign-in reads one and most change it: read by
    one prebuilt SELECT of its columns and changed by explicit UPDATEs, it costs a fraction of an
    ORM object's loading and unit of work (each step ran three such statements through the ORM)."""

    id: int
    uid: str
    client_id: str
    params: dict[str, Any]
    prompt: str
    login_sid: str | None
    expires_at: datetime


_table = Interaction.__table__
_BY_UID = Prepared(
    select(*(_table.c[f.name] for f in fields(InteractionRecord))).where(_table.c.uid == bindparam("uid"))
)
_INSERT = Prepared(insert(_table))
_UPDATE = Prepared(update(_table).where(_table.c.id == bindparam("row_id")))
_DELETE = Prepared(delete(_table).where(_table.c.id == bindparam("row_id")))


def by_uid(uid: str) -> InteractionRecord | None:
    row = _BY_UID.first({"uid": uid})
    return InteractionRecord(*row) if row is not None else None


def add(*, uid: str, client_id: str, params: dict[str, Any], prompt: str, created_at: datetime,
        expires_at: datetime) -> None:
    _INSERT.later({"uid": uid, "client_id": client_id, "params": params, "prompt": prompt,
                   "created_at": created_at, "expires_at": expires_at})


def change(record: InteractionRecord, **values: Any) -> None:
    """Write ``values`` to the row, and to the record the request goes on with."""
    for name, value in values.items():
        setattr(record, name, value)
    _UPDATE.later({"row_id": record.id, **values})


def delete_interaction(record: InteractionRecord) -> None:
    _DELETE.later({"row_id": record.id})
