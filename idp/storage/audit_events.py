"""The audit log table. Subjects are named by their ``sub`` so entries outlive the accounts."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, String, insert, select
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, Prepared, UtcDateTime, db, utcnow


class AuditEvent(Base):
    __tablename__ = "audit_event"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, index=True)
    event: Mapped[str] = mapped_column(String(64), index=True)
    subject: Mapped[str | None] = mapped_column(String(64), index=True)
    client_id: Mapped[str | None] = mapped_column(String(128))
    ip_address: Mapped[str | None] = mapped_column(String(45))
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


# Every sign-in, token issued and admin action writes one, and nothing reads it back in that request:
# an INSERT of its values, without the ORM's unit of work and its fetching of the new id.
_INSERT = Prepared(insert(AuditEvent.__table__))


def add(*, event: str, subject: str | None, client_id: str | None, ip_address: str | None,
        details: dict[str, Any]) -> None:
    _INSERT.later({"at": utcnow(), "event": event, "subject": subject, "client_id": client_id,
                    "ip_address": ip_address, "details": details})


def recent(limit: int = 100, event: str | None = None) -> list[AuditEvent]:
    query = select(AuditEvent).order_by(AuditEvent.id.desc()).limit(limit)
    if event is not None:
        query = query.where(AuditEvent.event == event)
    return list(db.session.execute(query).scalars())
