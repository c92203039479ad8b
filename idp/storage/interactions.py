"""Authorization requests waiting for the person: sign-in, second factor, consent, account choice.

The protocol code stores the validated request here and redirects to the portal with the row's
random ``uid``; the portal finishes its step and sends the browser back to resume. Rows expire
quickly and are single-use.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, String, bindparam, insert, select
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, UtcDateTime, db


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


_BY_UID = select(Interaction).where(Interaction.uid == bindparam("uid"))  # every step of a sign-in reads it


def by_uid(uid: str) -> Interaction | None:
    return db.session.execute(_BY_UID, {"uid": uid}).scalar_one_or_none()


# Every authorization request that needs the person writes one and reads nothing back in that
# request: an INSERT of its values, without the ORM's unit of work and its fetching of the new id.
_INSERT = insert(Interaction.__table__)


def add(*, uid: str, client_id: str, params: dict[str, Any], prompt: str, created_at: datetime,
        expires_at: datetime) -> None:
    db.session.execute(_INSERT, {"uid": uid, "client_id": client_id, "params": params, "prompt": prompt,
                                 "created_at": created_at, "expires_at": expires_at})


def delete_interaction(row: Interaction) -> None:
    db.session.delete(row)
    db.session.flush()
