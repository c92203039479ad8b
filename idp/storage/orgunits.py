"""Organisational units (Sở, ban, ngành; xã, phường): a tree, filled from the directory."""

from __future__ import annotations

import enum

from sqlalchemy import Enum, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base


class OrgUnitStatus(enum.StrEnum):
    ACTIVE = "active"
    INACTIVE = "inactive"


class OrgUnit(Base):
    __tablename__ = "org_unit"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(255))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("org_unit.id"), index=True)
    status: Mapped[OrgUnitStatus] = mapped_column(
        Enum(OrgUnitStatus, native_enum=False, length=16, values_callable=lambda e: [m.value for m in e]),
        default=OrgUnitStatus.ACTIVE,
    )
