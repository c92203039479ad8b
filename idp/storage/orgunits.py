"""Organisational units (Sở, ban, ngành; xã, phường): a tree, filled from the directory."""

from __future__ import annotations

import enum

from sqlalchemy import ForeignKey, String, select
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, db, str_enum


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
        str_enum(OrgUnitStatus),
        default=OrgUnitStatus.ACTIVE,
    )


def by_id(unit_id: int) -> OrgUnit | None:
    return db.session.get(OrgUnit, unit_id)


def by_code(code: str) -> OrgUnit | None:
    return db.session.execute(select(OrgUnit).where(OrgUnit.code == code)).scalar_one_or_none()


def add(row: OrgUnit) -> None:
    db.session.add(row)
    db.session.flush()


def all_units() -> list[OrgUnit]:
    return list(db.session.execute(select(OrgUnit)).scalars())
