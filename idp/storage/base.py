"""The declarative base and the one SQLAlchemy handle; every table and query lives in this package.

The constraint naming convention gives every index and constraint a predictable name, so Alembic
diffs stay stable on SQLite (batch mode rebuilds tables) and PostgreSQL alike.
"""

from __future__ import annotations

import enum
import importlib
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import DateTime, Enum, Executable, Insert, MetaData, Table, TypeDecorator
from sqlalchemy.engine import Connection, CursorResult, Dialect, Result
from sqlalchemy.orm import DeclarativeBase, Session

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class UtcDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every database.

    SQLite has no timezone type and hands back naive values; normalising here keeps comparisons with
    ``utcnow()`` correct everywhere instead of sprinkling ``replace(tzinfo=...)`` over the code.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime given to a UtcDateTime column")
        return value.astimezone(UTC) if value is not None else None

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def str_enum(enum_class: type[enum.StrEnum]) -> Enum:
    """An enum stored as its string values in a VARCHAR: readable rows, no native type to migrate."""
    return Enum(enum_class, native_enum=False, length=16, values_callable=lambda e: [m.value for m in e])


def utcnow() -> datetime:
    return datetime.now(UTC)


class Upsert:
    """An INSERT with ``ON CONFLICT`` (``DO NOTHING`` or ``DO UPDATE``), run with its values as
    parameters: one statement where a savepoint, an INSERT that may fail and a rollback to the savepoint
    were three. Its ``rowcount`` says whether a row was inserted.

    Both our databases have the clause, but SQLAlchemy spells it per dialect, so the statement is built
    once per dialect, at first use. Built again at every call with its values (every code exchange
    records the session's participant), it cost more than its execution.
    """

    def __init__(self, table: Table, on_conflict: Callable[[Any], Insert]) -> None:
        """``on_conflict`` adds the clause to the dialect's INSERT of ``table``."""
        self._table, self._on_conflict = table, on_conflict
        self._built: dict[str, Insert] = {}

    def execute(self, values: Mapping[str, Any], session: Session | None = None) -> CursorResult[Any]:
        """Run it in ``session``'s transaction (by default the request's)."""
        session = session or db.session()
        name = session.get_bind().dialect.name
        statement = self._built.get(name)
        if statement is None:
            # The dialect's module is imported by name: the other one costs a worker ~2 MiB for nothing.
            dialect = importlib.import_module(f"sqlalchemy.dialects.{name}")
            statement = self._on_conflict(dialect.insert(self._table)).execution_options(preserve_rowcount=True)
            self._built[name] = statement
        return session.execute(statement, values)  # type: ignore[return-value]


# Objects stay loaded when a transaction commits. A request commits several small transactions (the
# SSO session's activity, then an interaction, then a code); expiring on commit made each one reload
# every row it had read (the session, the person, the client) with one SELECT each. Rollbacks still
# expire, and nothing outlives its request: the session is removed when the app context ends.
db = SQLAlchemy(model_class=Base, session_options={"expire_on_commit": False})


class _Reader:
    """The pooled connection of a ``reading()`` block, checked out at its first statement."""

    __slots__ = ("connection",)

    def __init__(self) -> None:
        self.connection: Connection | None = None

    def execute(self, statement: Executable, params: Mapping[str, Any] | None) -> Result[Any]:
        if self.connection is None:
            connection = db.engine.connect()
            if connection.dialect.name != "sqlite":
                connection.execution_options(isolation_level="AUTOCOMMIT")
            self.connection = connection
        return self.connection.execute(statement, params)


_reader: ContextVar[_Reader | None] = ContextVar("dangnhap_reader", default=None)


@contextmanager
def reading() -> Iterator[None]:
    """Run the block's ``execute`` statements on a pooled connection, outside any transaction and
    without an ORM session: for views that never write, and for the reads a page makes before it
    writes (a sign-in's person and counters, read before the password hash: no transaction stays open
    across it).

    Userinfo, which every portal may call on every page, reads one row, and so does introspection
    (unless a private_key_jwt assertion is recorded). An ORM session made, begun, closed and removed
    at teardown around that one SELECT made userinfo cost 388 µs in process; on a connection from the
    pool it costs 329 µs (−15%, SQLite). On PostgreSQL the statement also runs in autocommit:
    a transaction around it cost two more round trips (BEGIN, then ROLLBACK when the connection went
    back to the pool), measured 1,018–1,050 userinfo/s against 799–943. SQLite has no round trips to
    save, and its driver begins no transaction for a SELECT. The pool resets the isolation level when
    the connection returns to it.

    A write inside the block would not be atomic, which is why only blocks that cannot write use it
    (tests/oidc/test_query_counts.py lists what they run). Inside a transaction that has already begun
    the block reads in it, and so sees what that transaction has not committed.
    """
    if db.session.registry.has() and db.session().in_transaction():
        yield
        return
    reader = _Reader()
    token = _reader.set(reader)
    try:
        yield
    finally:
        _reader.reset(token)
        if reader.connection is not None:
            reader.connection.close()


def execute(statement: Executable, params: Mapping[str, Any] | None = None) -> Result[Any]:
    """Run a Core statement in the current transaction, or on the connection of a ``reading()`` block.

    The functions that read on the paths of ``reading()`` views run their statements through this."""
    reader = _reader.get()
    if reader is not None:
        return reader.execute(statement, params)
    return db.session.execute(statement, params)
