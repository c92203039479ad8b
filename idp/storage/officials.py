"""Bulk reads and writes for the directory sync: a few statements per batch of officials, not a few
per official (50,000 officials sync in seconds, not minutes)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Row, delete, insert, select, update

from .base import db
from .subjects import Identity, Subject, SubjectRole


def directory_subjects(source: str, fields: Sequence[str]) -> Iterable[Row[Any]]:
    """(external_id, identity id, dn, subject id, status, *fields) of every identity of ``source``."""
    columns = [getattr(Subject, name) for name in fields]
    return db.session.execute(
        select(Identity.external_id, Identity.id, Identity.dn, Subject.id, Subject.status, *columns)
        .join(Subject, Subject.id == Identity.subject_id).where(Identity.source == source))


def insert_subjects(values: list[dict[str, Any]]) -> list[int]:
    """Multi-row INSERT; the new ids in the order of ``values``."""
    return list(db.session.scalars(insert(Subject).returning(Subject.id, sort_by_parameter_order=True), values))


def insert_identities(values: list[dict[str, Any]]) -> list[int]:
    return list(db.session.scalars(insert(Identity).returning(Identity.id, sort_by_parameter_order=True), values))


def update_subjects(changes: list[dict[str, Any]]) -> None:
    """UPDATE by primary key (each dict has ``id``), grouped by the set of columns that changed."""
    if changes:
        db.session.execute(update(Subject), changes)


def update_identities(changes: list[dict[str, Any]]) -> None:
    if changes:
        db.session.execute(update(Identity), changes)


def mark_synced(identity_ids: list[int], now: datetime) -> None:
    if identity_ids:
        db.session.execute(update(Identity).where(Identity.id.in_(identity_ids)).values(synced_at=now)
                           .execution_options(synchronize_session=False))


def remove_roles(subject_id: int, roles: Iterable[str]) -> None:
    db.session.execute(delete(SubjectRole).where(SubjectRole.subject_id == subject_id,
                                                 SubjectRole.role.in_(sorted(roles))))


def add_roles(values: list[dict[str, Any]]) -> None:
    if values:
        db.session.execute(insert(SubjectRole), values)
