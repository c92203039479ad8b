"""Storage: the models and their queries; the only package that touches ``db.session``.

Domain code changes data inside ``with transaction():`` so that each change is one commit, and a
failure half-way leaves nothing written; the hottest changes, made of plain statements only, use
``with writing():``, the same without the ORM session.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from flask import Flask
from sqlalchemy import event, text
from sqlalchemy.orm import Session

from . import (
    audit_events,
    clients,
    credentials,
    grants,
    interactions,
    keys,
    logout,
    mfa,
    officials,
    orgunits,
    sessions,
    stamps,
    subjects,
    throttle,
)
from .base import Base, db, execute, found_or_made, keep_connections, reading, transaction, utcnow, writing

__all__ = [
    "Base", "audit_events", "call_after_commit", "clients", "credentials", "db", "execute", "found_or_made",
    "grants", "init_app", "interactions", "keep_connections", "keys", "logout", "mfa", "officials", "orgunits",
    "ping", "reading", "rollback", "sessions", "stamps", "subjects", "throttle", "transaction", "utcnow", "writing",
]

MIGRATIONS_DIR = Path(__file__).resolve().parents[2] / "migrations"


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    """Per connection: foreign keys (SQLite ignores them, and ON DELETE CASCADE, unless asked), and
    write-ahead logging with ``synchronous=NORMAL``.

    With SQLite's default rollback journal every commit waits for several fsyncs and a writer blocks
    every reader; under load the token endpoint's commits then queued behind each other (p99 latency
    in hundreds of milliseconds). In WAL mode readers never wait for the writer and a commit is one
    append; NORMAL syncs at checkpoints, so a power cut may lose the last commits but never corrupts
    the database (https://www.sqlite.org/wal.html). The setting is the embedded default's; production
    runs PostgreSQL.
    """
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _no_automatic_preparation(dbapi_connection: Any, _record: Any) -> None:
    """Per connection on PostgreSQL: psycopg prepares no statement of its own.

    The hot statements are prepared by ``storage.libpq`` under names psycopg does not know. psycopg,
    once it holds prepared statements of its own, drops all of them on the server (``DEALLOCATE
    ALL``) after any ROLLBACK it runs (a savepoint's) or any DROP or ALTER, and ours would go with
    them. Without its own it sends nothing of the kind; the statements it no longer prepares are
    those off the hot paths.
    """
    dbapi_connection.prepare_threshold = None


def init_app(app: Flask) -> None:
    db.init_app(app)
    with app.app_context():
        if db.engine.dialect.name == "sqlite":
            event.listen(db.engine, "connect", _sqlite_pragmas)
        elif db.engine.dialect.name == "postgresql":
            event.listen(db.engine, "connect", _no_automatic_preparation)


def init_migrations(app: Flask) -> None:
    """The Alembic chain and ``flask db``; imported only by apps that have a command line."""
    from flask_migrate import Migrate

    Migrate(app, db, directory=str(MIGRATIONS_DIR), render_as_batch=True, compare_type=True)


_AFTER_COMMIT = "dangnhap.after_commit"


def _run_after_commit(session: Session) -> None:
    if session.in_nested_transaction():
        return  # a savepoint: the enclosing transaction may still roll back
    for callback in session.info.pop(_AFTER_COMMIT, {}).values():
        callback()


def _forget_after_rollback(session: Session) -> None:
    if not session.in_nested_transaction():
        session.info.pop(_AFTER_COMMIT, None)


def call_after_commit(key: str, callback: Callable[[], None]) -> None:
    """Run ``callback`` once the current transaction commits (never if it rolls back); one per ``key``."""
    session = db.session()
    if not event.contains(session, "after_commit", _run_after_commit):
        event.listen(session, "after_commit", _run_after_commit)
        event.listen(session, "after_rollback", _forget_after_rollback)
    session.info.setdefault(_AFTER_COMMIT, {})[key] = callback


def rollback() -> None:
    db.session.rollback()


def ping() -> None:
    """Raise if the database cannot answer a trivial query."""
    db.session.execute(text("SELECT 1"))
    db.session.rollback()
