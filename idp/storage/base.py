"""The declarative base and the one SQLAlchemy handle; every table and query lives in this package.

The constraint naming convention gives every index and constraint a predictable name, so Alembic
diffs stay stable on SQLite (batch mode rebuilds tables) and PostgreSQL alike.
"""

from __future__ import annotations

import enum
import importlib
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import DateTime, Enum, MetaData, Table, TypeDecorator
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Session

if TYPE_CHECKING:
    from sqlalchemy.dialects import postgresql, sqlite

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


def dialect_insert(target: type[Base] | Table, session: Session | None = None) -> postgresql.Insert | sqlite.Insert:
    """An INSERT with ``on_conflict_do_nothing`` / ``on_conflict_do_update`` (both our databases have them):
    one statement where a savepoint, an INSERT that may fail and a rollback to the savepoint were three.
    Its ``rowcount`` says whether a row was inserted (SQLAlchemy keeps it for INSERTs only when asked)."""
    # The dialect's module is imported by name: the other one costs a worker ~2 MiB for nothing.
    dialect = importlib.import_module(f"sqlalchemy.dialects.{(session or db.session).get_bind().dialect.name}")
    return dialect.insert(target).execution_options(preserve_rowcount=True)


# Objects stay loaded when a transaction commits. A request commits several small transactions (the
# SSO session's activity, then an interaction, then a code); expiring on commit made each one reload
# every row it had read (the session, the person, the client) with one SELECT each. Rollbacks still
# expire, and nothing outlives its request: the session is removed when the app context ends.
db = SQLAlchemy(model_class=Base, session_options={"expire_on_commit": False})
