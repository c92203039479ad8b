"""Signing keys for ID tokens, access tokens and logout tokens.

Lifecycle: ``next`` (published in JWKS, not yet signing) → ``active`` (signs; one per algorithm) →
``retired`` (no longer signs, still published until ``publish_until`` so tokens it signed verify).
Private parts are stored encrypted with IDP_DATA_KEY (see ``idp.crypto``). Every write to the table
bumps the ``signing_keys`` stamp in its transaction (``stamps.watch``): workers keep the parsed keys in
memory and reload them when it moves.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, String, Text, or_, select
from sqlalchemy.orm import Mapped, mapped_column

from . import stamps
from .base import Base, UtcDateTime, db, str_enum, utcnow

STAMP = "signing_keys"


class KeyStatus(enum.StrEnum):
    NEXT = "next"
    ACTIVE = "active"
    RETIRED = "retired"


class SigningKey(Base):
    __tablename__ = "signing_key"

    id: Mapped[int] = mapped_column(primary_key=True)
    kid: Mapped[str] = mapped_column(String(64), unique=True)
    alg: Mapped[str] = mapped_column(String(16), index=True)
    status: Mapped[KeyStatus] = mapped_column(
        str_enum(KeyStatus), index=True
    )
    public_jwk: Mapped[dict[str, Any]] = mapped_column(JSON)
    private_key_encrypted: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    activated_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    retired_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # A retired key stays in JWKS until then: the longest lifetime of anything it signed.
    publish_until: Mapped[datetime | None] = mapped_column(UtcDateTime)


stamps.watch(SigningKey, STAMP)


def published(now: datetime) -> list[SigningKey]:
    """Keys whose public part belongs in JWKS at ``now``."""
    return list(db.session.execute(
        select(SigningKey)
        .where(or_(SigningKey.status != KeyStatus.RETIRED, SigningKey.publish_until > now))
        .order_by(SigningKey.id)
    ).scalars())


def by_status(alg: str, status: KeyStatus) -> list[SigningKey]:
    return list(db.session.execute(
        select(SigningKey).where(SigningKey.alg == alg, SigningKey.status == status).order_by(SigningKey.id)
    ).scalars())


def add(row: SigningKey) -> None:
    db.session.add(row)
    db.session.flush()
