"""The declarative base and the one SQLAlchemy handle; every table and query lives in this package.

The constraint naming convention gives every index and constraint a predictable name, so Alembic
diffs stay stable on SQLite (batch mode rebuilds tables) and PostgreSQL alike.
"""

from __future__ import annotations

import enum
import importlib
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, TypeVar

from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import DateTime, Enum, Executable, Insert, MetaData, Table, TypeDecorator, event
from sqlalchemy.engine import Connection, Dialect, Result
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import DeclarativeBase, ORMExecuteState, Session
from sqlalchemy.pool import QueuePool

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
    were three. ``execute`` says whether a row was inserted (or updated).

    Both our databases have the clause, but SQLAlchemy spells it per dialect, so the statement is built
    once per dialect, at first use, and prepared (``Prepared``). Built again at every call with its values
    (every code exchange records the session's participant), it cost more than its execution.
    """

    def __init__(self, table: Table, on_conflict: Callable[[Any], Insert]) -> None:
        """``on_conflict`` adds the clause to the dialect's INSERT of ``table``."""
        self._table, self._on_conflict = table, on_conflict
        self._built: dict[str, Prepared] = {}

    def _prepared(self, name: str) -> Prepared:
        prepared = self._built.get(name)
        if prepared is None:
            # The dialect's module is imported by name: the other one costs a worker ~2 MiB for nothing.
            dialect = importlib.import_module(f"sqlalchemy.dialects.{name}")
            prepared = self._built[name] = Prepared(self._on_conflict(dialect.insert(self._table)))
        return prepared

    def execute(self, values: Mapping[str, Any], session: Session | None = None) -> int:
        """Run it in ``session``'s transaction, or by default in the current one (``execute``); the
        number of rows it changed."""
        if session is not None:
            # A stamp bumped from the session's own flush: its connection, through the ORM session.
            statement = self._prepared(session.get_bind().dialect.name).statement
            return session.execute(statement.execution_options(preserve_rowcount=True),  # type: ignore[attr-defined]
                                   values).rowcount  # type: ignore[attr-defined, no-any-return]
        return self._prepared(db.engine.dialect.name).changed(values)

    def later(self, values: Mapping[str, Any]) -> None:
        """Run it in the current transaction, when nobody reads whether it changed a row
        (``Prepared.later``)."""
        self._prepared(db.engine.dialect.name).later(values)


# Objects stay loaded when a transaction commits. A request commits several small transactions (the
# SSO session's activity, then an interaction, then a code); expiring on commit made each one reload
# every row it had read (the session, the person, the client) with one SELECT each. Rollbacks still
# expire, and nothing outlives its request: the session is removed when the app context ends.
db = SQLAlchemy(model_class=Base, session_options={"expire_on_commit": False})


class _Block:
    """The connection of a ``reading()`` or a ``writing()`` block, taken at its first statement: the
    thread's kept connection where there is one (``keep_connections``), else one from the pool;
    outside any transaction for reading (in autocommit where transactions cost round trips), in one
    begun then for writing. A writing block also holds the writes that wait to go with its next
    statement or its commit (``Prepared.later``)."""

    __slots__ = ("connection", "writes", "pending", "kept")

    def __init__(self, *, writes: bool) -> None:
        self.connection: Connection | None = None
        self.writes = writes
        self.pending: list[tuple[_Form, Any]] = []
        self.kept = False

    def _checked_out(self) -> Connection:
        if self.connection is None:
            connection = _kept.lend() if _keeping else None
            self.kept = connection is not None
            if connection is None:
                connection = db.engine.connect()
            self.connection = connection
            if connection.dialect.name != "sqlite":
                # On the driver's connection, and undone before it goes back to the pool
                # (``_back_to_pool``): through SQLAlchemy's isolation_level option the pool also
                # reset the level at every return, 43–57 µs of CPU per block against 27 µs (psycopg,
                # a checkout and a return measured alone). SQLite has no round trips to save, and
                # its driver begins no transaction for a SELECT.
                _set_autocommit(connection, not self.writes)
            if self.writes:
                connection.begin()
        return self.connection

    def connected(self) -> Connection:
        """The block's connection, taken (and begun, for writing) at its first statement. The
        writes waiting are sent first: every statement sees the block's earlier writes."""
        connection = self._checked_out()
        if self.pending:
            self._send_pending(connection, commit=False)
        return connection

    def commit(self) -> None:
        """Commit the block's writes, the waiting ones sent with the COMMIT."""
        if self.pending:
            self._send_pending(self._checked_out(), commit=True)
        if self.connection is not None:
            self.connection.commit()

    def close(self) -> None:
        """What was not committed is rolled back, what waited is dropped; the connection goes back
        to the thread, or to the pool."""
        self.pending.clear()
        connection, self.connection = self.connection, None
        if connection is None:
            return
        if not self.kept:
            _back_to_pool(connection)
            return
        if connection.in_transaction():  # a write that failed, or a Core statement's own transaction
            try:
                connection.rollback()
            except DBAPIError:
                connection.invalidate()  # lost meanwhile: the thread takes another next time
        _kept.give_back()

    def _send_pending(self, connection: Connection, *, commit: bool) -> None:
        pending, self.pending = self.pending, []
        _send_together(connection, pending, commit=commit)


def _set_autocommit(connection: Connection, autocommit: bool) -> None:
    """Set the driver's autocommit (PostgreSQL's), when it is not set so already."""
    dbapi_connection: Any = connection.connection.dbapi_connection
    if dbapi_connection.autocommit != autocommit:
        dbapi_connection.autocommit = autocommit


def _back_to_pool(connection: Connection) -> None:
    """Return a block's connection to the pool as the pool lent it: out of autocommit (the pool's
    next borrower may be a transaction), and rolled back by the pool."""
    if connection.dialect.name != "sqlite" and not connection.invalidated:
        with suppress(connection.dialect.loaded_dbapi.Error):  # lost meanwhile: the pool drops it
            _set_autocommit(connection, False)
    connection.close()


# Whether this process's threads keep a connection each between their blocks (``keep_connections``).
_keeping = False


class _KeptConnection(threading.local):
    """The connection one thread keeps between its ``reading()`` and ``writing()`` blocks, lent to
    one block at a time."""

    connection: Connection | None = None
    made = 0.0  # when it was taken from the pool (time.time(), as the pool's own stamps)
    lent = False

    def lend(self) -> Connection | None:
        """The thread's connection, taken from the pool at the thread's first block. None while a
        block of the thread already has it (a block inside a block takes one from the pool), and
        on a pool that lends no connection of its own (an in-memory SQLite's).

        It is replaced when it was lost, or when the pool has since been told that the database
        restarted (``_failed``), as the pool itself replaces, at checkout, every connection made
        before that."""
        if self.lent:
            return None
        engine = db.engine
        connection = self.connection
        if connection is not None and (connection.invalidated or connection.engine is not engine
                                       or self.made < engine.pool._invalidate_time):
            self.release()
            connection = None
        if connection is None:
            if not isinstance(engine.pool, QueuePool):
                return None
            connection = self.connection = engine.connect()
            self.made = time.time()
        self.lent = True
        return connection

    def give_back(self) -> None:
        self.lent = False

    def release(self) -> None:
        """Return the thread's connection to the pool."""
        connection, self.connection = self.connection, None
        if connection is not None:
            _back_to_pool(connection)


_kept = _KeptConnection()


def keep_connections(keep: bool) -> None:
    """Whether each thread of this process keeps a pooled connection between its requests (for the
    ``reading()`` and ``writing()`` blocks; the ORM session still takes its own from the pool).
    Turned on in the serving workers (``idp.serve``), whose threads live as long as the process;
    turned off, the calling thread's connection goes back to the pool.

    Why: the hottest requests are a block or two each, and a checkout from SQLAlchemy's pool and its
    return cost 10–12 µs of CPU on SQLite and ≈ 27 µs on PostgreSQL, with the autocommit switch:
    in process, userinfo and introspection cost 11–12% less CPU without them (on both), an SSO
    authorization up to 9% less (SQLite; on PostgreSQL within the host's noise). Not for the
    development server, which starts a thread per request: each would keep a connection until the
    collector found it."""
    global _keeping
    _keeping = keep
    if not keep:
        _kept.release()


_reader: ContextVar[_Block | None] = ContextVar("dangnhap_reader", default=None)
_writer: ContextVar[_Block | None] = ContextVar("dangnhap_writer", default=None)


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
    save, and its driver begins no transaction for a SELECT. The block sets psycopg's autocommit
    itself, and unsets it before the connection returns to the pool.

    A write inside the block would not be atomic, which is why only blocks that cannot write use it
    (tests/oidc/test_query_counts.py lists what they run). Inside a transaction that has already begun
    (the ORM session's, or a ``writing()`` block's) the block reads in it, and so sees what that
    transaction has not committed.
    """
    if _writer.get() is not None or (db.session.registry.has() and db.session().in_transaction()):
        yield
        return
    reader = _Block(writes=False)
    token = _reader.set(reader)
    try:
        yield
    finally:
        _reader.reset(token)
        reader.close()


def execute(statement: Executable, params: Mapping[str, Any] | None = None) -> Result[Any]:
    """Run a Core statement in the current transaction: a ``writing()`` block's, the ORM session's,
    or on the connection of a ``reading()`` block.

    The functions that read on the paths of ``reading()`` views, and that write in ``writing()``
    blocks, run their statements through this."""
    block = _writer.get() or _reader.get()
    if block is not None:
        return block.connected().execute(statement, params)
    return db.session.execute(statement, params)


def _current_connection() -> Connection:
    """The connection ``execute`` would run a statement on. The ORM session's begins its transaction
    and, as before the ORM's own queries, first flushes what was added or changed (so it is read)."""
    block = _writer.get() or _reader.get()
    if block is not None:
        return block.connected()
    session = db.session()
    if session.autoflush:
        session.flush()
    return session.connection()


class Prepared:
    """A statement built once, compiled once per dialect, and run on the DBAPI cursor of the connection
    ``execute`` would use (on PostgreSQL, on libpq under it: ``storage.libpq``): a SELECT's rows (or a
    statement's RETURNING rows) come back as plain tuples, with the columns' types applied; an INSERT,
    UPDATE or DELETE says how many rows it changed.

    Why: the hottest requests read one row by a prebuilt statement (every userinfo and introspection,
    every SSO authorization, every token request), and SQLAlchemy Core's execution of it (the cache
    key, an execution context, a result and row objects, a transaction begun on the connection) cost
    65–110 µs against 15–20 µs on the driver's cursor (SQLite, userinfo's statement). Their writes
    (a code and its audit event for every authorization, seven statements for every code exchange)
    cost Core as much each. What Core did for such a statement is done here once, at its first use on
    a dialect with a set of parameter names (as Core's own cache does, an INSERT or UPDATE sets the
    columns it is given): the SQL string, the order of its parameters and the types' bind processors;
    the result processors at its first execution (they may depend on the driver's column types).

    What is kept of Core: the engine's ``before_cursor_execute`` and ``after_cursor_execute`` listeners
    are called (the tests count statements with them), a driver's error is raised as SQLAlchemy's
    ``DBAPIError``, and a lost connection is invalidated so the pool does not hand it out again. What
    is not: a statement whose SQL depends on its values (an expanding IN list) cannot be prepared, and
    neither can a write that leaves a column with a Python-side default to Core: its caller gives
    every value. An INSERT fetches no primary key it was not asked to return.
    """

    __slots__ = ("statement", "_forms")

    def __init__(self, statement: Executable) -> None:
        self.statement = statement
        self._forms: dict[tuple[str, tuple[str, ...]], _Form] = {}

    def _form(self, dialect: Dialect, params: Mapping[str, Any]) -> _Form:
        key = (dialect.name, tuple(params))
        form = self._forms.get(key)
        if form is None:
            form = self._forms[key] = _Form(self.statement, dialect, key[1])
        return form

    def _run(self, params: Mapping[str, Any]) -> tuple[list[tuple[Any, ...]], int]:
        connection = _current_connection()
        return self._form(connection.dialect, params).run(connection, params)

    def all(self, params: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        return self._run(params)[0]

    def first(self, params: Mapping[str, Any]) -> tuple[Any, ...] | None:
        rows = self._run(params)[0]
        return rows[0] if rows else None

    def scalar(self, params: Mapping[str, Any]) -> Any:
        """The first column of the first row; None when there is no row."""
        rows = self._run(params)[0]
        return rows[0][0] if rows else None

    def changed(self, params: Mapping[str, Any]) -> int:
        """Run an INSERT, UPDATE or DELETE; the number of rows it changed."""
        return self._run(params)[1]

    def later(self, params: Mapping[str, Any]) -> None:
        """Run an INSERT, UPDATE or DELETE whose outcome the caller does not read (an error still
        fails the block). In a ``writing()`` block on PostgreSQL it waits for the block's next
        statement or its commit and goes with it in one round trip; elsewhere it runs now.

        Why: on PostgreSQL every statement is a round trip, and each cost the worker ≈ 90 µs of CPU
        in the driver and the kernel (one SELECT 1 on psycopg, the server on the other core), more
        than most of these statements cost the database. An SSO authorization's writes were four
        (BEGIN, the code, its audit event, COMMIT); together they are one."""
        writer = _writer.get()
        if writer is not None and (dialect := db.engine.dialect).name == "postgresql":
            form = self._form(dialect, params)
            writer.pending.append((form, form.bound(params)))
        else:
            self._run(params)


class _Form:
    """A ``Prepared`` statement as one dialect runs it with one set of parameter names."""

    __slots__ = ("sql", "types", "defaults", "binds", "positional", "processors", "direct")

    def __init__(self, statement: Executable, dialect: Dialect, names: tuple[str, ...]) -> None:
        columns = list(statement.exported_columns)  # type: ignore[attr-defined]
        if isinstance(statement, Insert) and not columns:
            statement = statement.inline()  # no RETURNING of the new row's key unless asked for
        compiled: Any = statement.compile(dialect=dialect, column_keys=list(names))
        if compiled.post_compile_params or compiled.literal_execute_params:
            raise ValueError("a statement whose SQL depends on its values cannot be prepared")
        if compiled.insert_prefetch or compiled.update_prefetch:
            left = ", ".join(column.name for column in (*compiled.insert_prefetch, *compiled.update_prefetch))
            raise ValueError(f"a prepared write gives every value its columns' defaults would: {left}")
        self.sql = compiled.string
        # The rows' types; a write without RETURNING has none, and fetches nothing.
        self.types = [column.type.dialect_impl(dialect) for column in columns]
        binds = compiled.binds
        self.defaults = {name: bind.effective_value for name, bind in binds.items() if not bind.required}
        self.positional = compiled.positional
        # (name, the driver's name for it, the type's bind processor), in the statement's order.
        order = compiled.positiontup if self.positional else list(binds)
        escaped = compiled.escaped_bind_names
        self.binds = [(name, escaped.get(name, name), binds[name].type.dialect_impl(dialect).bind_processor(dialect))
                      for name in order]
        self.processors: list[Callable[[Any], Any] | None] | None = None  # known at the first execution
        # On PostgreSQL, run on libpq where psycopg's cursor would send nothing else (storage.libpq;
        # imported here, as psycopg is: a worker on SQLite loads neither).
        self.direct: Any = None
        if dialect.name == "postgresql":
            from .libpq import Statement
            self.direct = Statement(self.sql)

    def bound(self, params: Mapping[str, Any]) -> Any:
        """The driver's parameters for these values, in its style (a tuple, or a dict by name)."""
        given = {**self.defaults, **params} if self.defaults else params
        if self.positional:
            return tuple(given[name] if process is None else process(given[name]) for name, _, process in self.binds)
        return {key: given[name] if process is None else process(given[name]) for name, key, process in self.binds}

    def run(self, connection: Connection, params: Mapping[str, Any]) -> tuple[list[tuple[Any, ...]], int]:
        """The rows (none for a write without RETURNING) and the driver's row count."""
        args = self.bound(params)
        sql, dispatch, cursor, rows = self.sql, connection.dispatch, None, []
        pooled, direct = connection.connection, self.direct
        try:
            if direct is not None and direct.usable_on(pooled.dbapi_connection):  # type: ignore[arg-type]
                for listener in dispatch.before_cursor_execute:
                    sql, args = listener(connection, None, sql, args, None, False)
                rows, count = direct.run(pooled, args)
                if rows and self.processors is None:
                    self.processors = self._processors(connection.dialect, direct.column_types or [])
            else:
                cursor = pooled.cursor()
                for listener in dispatch.before_cursor_execute:
                    sql, args = listener(connection, cursor, sql, args, None, False)
                cursor.execute(sql, args)
                if self.types:
                    rows = cursor.fetchall()
                    if rows and self.processors is None:
                        # Read once: psycopg builds the description's column objects anew at every
                        # reading (≈ 35 µs for the 16 columns of userinfo's row).
                        self.processors = self._processors(connection.dialect,
                                                           [column[1] for column in cursor.description])
                count = cursor.rowcount
                cursor.close()
            for listener in dispatch.after_cursor_execute:
                listener(connection, cursor, sql, args, None, False)
        except connection.dialect.loaded_dbapi.Error as error:
            if cursor is not None:
                with suppress(connection.dialect.loaded_dbapi.Error):
                    cursor.close()
            raise _failed(connection, cursor, sql, args, error) from error
        processors = self.processors
        if not rows or processors is None or not any(processors):
            return rows, count
        return [tuple(value if process is None or value is None else process(value)
                      for process, value in zip(processors, row, strict=True)) for row in rows], count

    def _processors(self, dialect: Dialect, type_codes: list[Any]) -> list[Callable[[Any], Any] | None]:
        """The types' result processors, given the driver's type code of each column."""
        return [kind.result_processor(dialect, code) for kind, code in zip(self.types, type_codes, strict=True)]



def _failed(connection: Connection, cursor: Any, sql: str, args: Any, error: Exception) -> DBAPIError:
    """The driver's error as Core raises it. A lost connection is invalidated, and as Core does, so
    is every connection the pool made before it: after a restart of the database all of them are
    dead, and one failed request should find that out, not one per pooled connection."""
    lost = connection.dialect.is_disconnect(error, connection.connection.dbapi_connection, cursor)
    if lost:
        connection.engine.pool._invalidate(connection.connection, error)  # Core's own call, in its handler
        connection.invalidate(error)
    return DBAPIError.instance(sql, args, error, connection.dialect.loaded_dbapi.Error,
                               connection_invalidated=lost, dialect=connection.dialect)


def _send_together(connection: Connection, pending: list[tuple[_Form, Any]], *, commit: bool) -> None:
    """Send writes (and with ``commit``, the COMMIT) to PostgreSQL as one simple query: one round trip
    (``storage.libpq.send_together``). The listeners see each statement, as if it had been sent alone;
    an error names the statements and their parameters as Core's errors do."""
    from .libpq import send_together

    dispatch = connection.dispatch
    try:
        for form, args in pending:
            for listener in dispatch.before_cursor_execute:
                listener(connection, None, form.sql, args, None, False)
        send_together(connection.connection, [(form.sql, args) for form, args in pending], commit=commit)
        for form, args in pending:
            for listener in dispatch.after_cursor_execute:
                listener(connection, None, form.sql, args, None, False)
    except connection.dialect.loaded_dbapi.Error as error:
        raise _failed(connection, None, ";\n".join(form.sql for form, _ in pending),
                      [args for _, args in pending], error) from error


@contextmanager
def transaction() -> Iterator[None]:
    """Commit what the block did, or roll all of it back if it raised.

    A block that never touched the database (a client_credentials token: client and key come from
    the caches) has no session to commit; making one just to commit nothing cost ~0.1 ms a request.
    """
    try:
        yield
        if db.session.registry.has():
            db.session.commit()
    except BaseException:
        if db.session.registry.has():
            db.session.rollback()
        raise


_Row = TypeVar("_Row")


def found_or_made(find: Callable[[], _Row | None], make: Callable[[], _Row]) -> tuple[_Row, bool]:
    """The row ``find()`` returns and False; when there is none, ``make()``'s new row, made in a
    savepoint, and True; or, when a concurrent transaction made the same row meanwhile (a unique key
    refused ours), theirs and False.

    For rows made on first use, which two requests may both find missing: officials of a new unit
    signing in at once, a sign-in during a sync, a double click on a consent page, the first failure
    counted for an address by two workers."""
    found = find()
    if found is not None:
        return found, False
    try:
        with db.session.begin_nested():  # a savepoint: only the new row is undone
            return make(), True
    except IntegrityError:
        found = find()
        if found is None:
            raise
        return found, False


@contextmanager
def writing() -> Iterator[None]:
    """A ``transaction()`` of Core statements only, on a pooled connection, without the ORM session:
    for the hottest writes, whose statements all go through ``execute``: every authorization answered
    (the code, its audit event, the interaction used up) and every token request (a code redeemed,
    a refresh token rotated, the grant, the tokens, the audit event).

    The ORM session's part in such a commit (its creation, its execution path for each statement,
    its commit and its removal at teardown) cost about as much as the statements themselves
    (two INSERTs and a commit in process: 220–300 µs against 130–210 µs on a connection).

    The ORM session may still read inside a block (a cache filling itself, an official's unit for
    the claims), on a connection of its own: it sees what is committed, not the block's writes. It
    may not write there (it raises), so no change is ever split over two transactions. Inside a
    transaction the ORM session has already begun, the block runs in that one and commits it, as
    ``transaction()`` does."""
    if db.session.registry.has() and db.session().in_transaction():
        with transaction():
            yield
        return
    writer = _Block(writes=True)
    token = _writer.set(writer)
    try:
        yield
        writer.commit()
    finally:
        _writer.reset(token)
        writer.close()


_ORM_WRITE = "the ORM session wrote inside writing(); write there through storage.base.execute"


def _refuse_dml(state: ORMExecuteState) -> None:
    if _writer.get() is not None and (state.is_insert or state.is_update or state.is_delete):
        raise RuntimeError(_ORM_WRITE)


def _refuse_flush(*_args: Any) -> None:
    if _writer.get() is not None:
        raise RuntimeError(_ORM_WRITE)


# On the Session class, as the stamps' hooks are: every app's sessions need them.
event.listen(Session, "before_flush", _refuse_flush)
event.listen(Session, "do_orm_execute", _refuse_dml)
