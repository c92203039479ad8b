"""Version stamps of the tables that worker processes keep in memory (clients, signing keys).

Those tables are read on every token request and change a few times a year, so each process caches
them (``idp.stamped_cache``). A process cannot hear another's writes; instead every write to such a
table bumps the table's stamp — one row of ``cache_version`` — in the same transaction, so the bump
commits or rolls back with the change. Each process reads all stamps in one query at most once per
IDP_CACHE_CHECK_SECONDS and drops what a newer stamp made stale.

The bump is not left to callers: ``watch(Model, name)`` makes every flush that inserts, changes or
deletes a row of ``Model``, and every ORM bulk statement on it, bump ``name``. A write path that forgot
(a new admin page, the purge job, a test changing a row) would otherwise leave every worker serving
the old client until it restarts. Writes in raw SQL are not seen: use the ORM, or call ``bump``.

After a commit that bumped a stamp, ``committed`` is sent (sender: the app, ``names``: the stamps) so
the writing process itself sees its change at once rather than at its next check.
"""

from __future__ import annotations

from typing import Any

from blinker import Namespace
from flask import current_app, has_app_context
from sqlalchemy import BigInteger, String, event, select
from sqlalchemy.orm import Mapped, ORMExecuteState, Session, UOWTransaction, mapped_column

from .base import Base, Upsert, db

_signals = Namespace()
# Sent after the commit of a transaction that bumped stamps, with ``names=`` (a frozenset).
committed = _signals.signal("cache-stamps-committed")

_WATCHED: dict[type[Any], str] = {}  # model → stamp name
_BUMPED = "dangnhap.stamps_bumped"  # Session.info key: names bumped in the current transaction


class CacheVersion(Base):
    """One stamp: ``version`` grows by one with each committed change of the tables it names."""

    __tablename__ = "cache_version"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    version: Mapped[int] = mapped_column(BigInteger, default=0)


def versions() -> dict[str, int]:
    """Every stamp, in one query (a name never bumped is absent: read it as 0)."""
    return {name: version for name, version in db.session.execute(select(CacheVersion.name, CacheVersion.version))}


_BUMP = Upsert(CacheVersion.__table__, lambda insert: insert.on_conflict_do_update(
    index_elements=[CacheVersion.name], set_={"version": CacheVersion.version + 1}))


def bump(name: str, session: Session | None = None) -> None:
    """Add one to the stamp ``name`` in the current transaction (the row is made by its first bump).

    One upsert, no read: two writers at once serialise on the row, and neither loses its bump.
    """
    session = session or db.session()
    _BUMP.execute({"name": name, "version": 1}, session)
    session.info.setdefault(_BUMPED, set()).add(name)


def pending(name: str) -> bool:
    """Whether the current transaction changed the tables of ``name`` (bumped, or about to at its next
    flush) and has not committed yet: what it reads of them may still roll back."""
    if not db.session.registry.has():
        return False  # no session in this request yet (JWKS, client_credentials): nothing to roll back
    session = db.session()
    if name in session.info.get(_BUMPED, ()):
        return True
    return any(_WATCHED.get(type(instance)) == name for instance in (*session.new, *session.dirty, *session.deleted))


def watch(model: type[Any], name: str) -> None:
    """Bump ``name`` in every transaction that writes rows of ``model`` through the ORM."""
    _WATCHED[model] = name


def _bump_flushed(session: Session, _context: UOWTransaction, _instances: object) -> None:
    """Before a flush writes rows of watched models, bump their stamps (same transaction)."""
    names: set[str] = set()
    for instance in (*session.new, *session.deleted):
        if type(instance) in _WATCHED:
            names.add(_WATCHED[type(instance)])
    for instance in session.dirty:
        if type(instance) in _WATCHED and session.is_modified(instance):
            names.add(_WATCHED[type(instance)])
    for name in sorted(names):
        bump(name, session)


def _bump_bulk(state: ORMExecuteState) -> None:
    """ORM INSERT/UPDATE/DELETE statements on a watched model (``delete(SigningKey).where(...)``)."""
    if not (state.is_insert or state.is_update or state.is_delete) or state.bind_mapper is None:
        return
    name = _WATCHED.get(state.bind_mapper.class_)
    if name is not None:
        bump(name, state.session)


def _announce(session: Session) -> None:
    if session.in_nested_transaction():
        return  # a savepoint: the enclosing transaction may still roll back
    names = session.info.pop(_BUMPED, None)
    if names and has_app_context():
        committed.send(current_app._get_current_object(), names=frozenset(names))  # type: ignore[attr-defined]


def _forget(session: Session) -> None:
    if not session.in_nested_transaction():
        session.info.pop(_BUMPED, None)


# On the Session class: the hooks know nothing of any app, and every app's sessions need them.
event.listen(Session, "before_flush", _bump_flushed)
event.listen(Session, "do_orm_execute", _bump_bulk)
event.listen(Session, "after_commit", _announce)
event.listen(Session, "after_rollback", _forget)
