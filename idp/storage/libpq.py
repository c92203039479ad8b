"""The prepared statements of ``storage.base.Prepared`` run on PostgreSQL through libpq itself, on
psycopg's connection, without psycopg's cursor.

Why: the hot requests on PostgreSQL are a statement or two each (userinfo and introspection one
SELECT, an SSO authorization a SELECT and its writes), and psycopg's cursor cost the worker more CPU
than the round trip itself: ≈ 45 µs per statement in Python (a cursor and a transformer made, the
query converted and looked up in the cursor's cache of prepared statements, the generators of its
execution driven), against ≈ 25–30 µs for libpq's round trip and psycopg's loading of the row
(in process, on this machine). Userinfo's statement cost 60–80 µs of CPU through the cursor and
≈ 30 µs here.

What is still psycopg's: the connection, with its state and its adapters; the dumping of the values
and the loading of the rows (its C transformer, as its cursor does); its errors, raised from the
server's answer as its cursor raises them. libpq's synchronous calls release the GIL while they
wait, as psycopg's own waits do.

When: in autocommit, inside a transaction already begun, and as the first statement of a transaction
that psycopg would begin with a plain BEGIN (no isolation level, read-only or deferrable mode set on
the connection). There psycopg's cursor would send the BEGIN alone, one round trip more; here it goes
with the statement (``Statement._executed``), and the transaction's first statement (the code or the
refresh token a token request looks up) is prepared like the others. Otherwise the cursor runs it.

How: each statement is prepared once per connection (one more round trip, at its first use there),
under a name of its own (``dangnhap_<n>``, apart from psycopg's ``_pg3_<n>``), with the parameters'
types left to the server: SQLAlchemy's PostgreSQL dialect casts every bound value in the SQL
(``%(gid)s::VARCHAR``), so the server types each parameter from its cast, and the values go as text.
A pooler in front of PostgreSQL must therefore keep named prepared statements per server connection
(PgBouncer's transaction pooling does since 1.21, with ``max_prepared_statements``), as psycopg's own
automatic preparation needs too.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping
from typing import Any

from psycopg import ClientCursor, Connection, errors
from psycopg.adapt import PyFormat, Transformer
from psycopg.pq import ExecStatus, TransactionStatus
from sqlalchemy.pool import PoolProxiedConnection

# What the connection's pool record keeps for this module (``_OnConnection``): the statements prepared
# there, a transformer whose dumpers and loaders are kept from one statement to the next, and the
# client-side cursor that binds values into simple queries.
_STATE = "dangnhap.libpq"
_NAMES = itertools.count(1)
_PLACEHOLDER = re.compile(r"%\((\w+)\)s|%%")
_ANSWERED = (ExecStatus.COMMAND_OK, ExecStatus.TUPLES_OK)


class _OnConnection:
    __slots__ = ("prepared", "transformer", "binder")

    def __init__(self, connection: Connection[Any]) -> None:
        self.prepared: set[bytes] = set()
        self.transformer = Transformer(connection)
        self.binder = ClientCursor(connection)  # binds the values of the writes sent together


def _on(pooled: PoolProxiedConnection) -> tuple[Connection[Any], _OnConnection]:
    connection: Connection[Any] = pooled.dbapi_connection  # type: ignore[assignment]
    state = pooled.info.get(_STATE)
    if state is None:
        state = pooled.info[_STATE] = _OnConnection(connection)
    return connection, state


class Statement:
    """One statement, given as SQLAlchemy's psycopg dialect compiles it (``%(name)s`` placeholders)."""

    __slots__ = ("name", "sql", "keys", "formats", "begun", "column_types")

    def __init__(self, pyformat_sql: str) -> None:
        keys: list[str] = []

        def numbered(match: re.Match[str]) -> str:
            key = match.group(1)
            if key is None:
                return "%"
            if key not in keys:
                keys.append(key)
            return f"${keys.index(key) + 1}"

        self.name = f"dangnhap_{next(_NAMES)}".encode()
        self.sql = _PLACEHOLDER.sub(numbered, pyformat_sql).encode()
        self.keys = tuple(keys)
        self.formats = [PyFormat.TEXT] * len(keys)
        # As a transaction's first statement: the BEGIN and the statement by name, in one simple query.
        arguments = f"({', '.join(['%s'] * len(keys))})" if keys else ""
        self.begun = f"BEGIN;\nEXECUTE {self.name.decode()}{arguments}"
        self.column_types: list[int] | None = None  # the rows' type OIDs, read at the first rows

    @staticmethod
    def usable_on(connection: Connection[Any]) -> bool:
        """In a transaction begun, in autocommit, or before a transaction begun by a plain BEGIN."""
        status = connection.pgconn.transaction_status
        if status == TransactionStatus.INTRANS:
            return True
        return status == TransactionStatus.IDLE and (connection.autocommit or (
            connection.isolation_level is None and connection.read_only is None and connection.deferrable is None))

    def run(self, pooled: PoolProxiedConnection, values: Mapping[str, Any]) -> tuple[list[tuple[Any, ...]], int]:
        """The rows (none for a write without RETURNING) and the count of rows the statement handled."""
        connection, state = _on(pooled)
        pgconn = connection.pgconn
        ordered = [values[key] for key in self.keys]
        begin = not connection.autocommit and pgconn.transaction_status == TransactionStatus.IDLE
        try:
            result = self._executed(connection, state, ordered, begin=begin)
        except errors.InvalidSqlStatementName:
            # Dropped on the server behind our back (a DISCARD ALL, a pooler that does not keep them):
            # prepared again from now on, and run again at once unless the transaction it failed had
            # done more than our BEGIN.
            state.prepared.clear()
            if begin:
                _answered(connection, pgconn.exec_(b"ROLLBACK"))
            elif pgconn.transaction_status != TransactionStatus.IDLE:
                raise
            result = self._executed(connection, state, ordered, begin=begin)
        rows: list[tuple[Any, ...]] = []
        if result.status == ExecStatus.TUPLES_OK:
            if self.column_types is None:
                self.column_types = [result.ftype(column) for column in range(result.nfields)]
            transformer = state.transformer
            transformer.set_pgresult(result)
            rows = transformer.load_rows(0, result.ntuples, tuple)
        count = result.command_tuples
        return rows, -1 if count is None else count

    def _executed(self, connection: Connection[Any], state: _OnConnection, ordered: list[Any], *,
                  begin: bool) -> Any:
        """Run the statement, prepared first if this connection has not prepared it yet. To begin a
        transaction, the BEGIN goes with it: one simple query, whose values psycopg's client-side
        cursor binds (PostgreSQL coerces them to the types the statement was prepared with) and whose
        last answer, the statement's, is what libpq returns. Otherwise libpq binds the values psycopg
        dumps, in the extended protocol."""
        pgconn = connection.pgconn
        if self.name not in state.prepared:
            _answered(connection, pgconn.prepare(self.name, self.sql))
            state.prepared.add(self.name)
        if begin:
            query = state.binder.mogrify(self.begun, ordered)
            return _answered(connection, pgconn.exec_(query.encode(connection.info.encoding)))
        params = state.transformer.dump_sequence(ordered, self.formats)
        return _answered(connection, pgconn.exec_prepared(self.name, params))


def send_together(pooled: PoolProxiedConnection, statements: list[tuple[str, Any]], *, commit: bool) -> None:
    """Send writes (SQL as the dialect compiles it, and the driver's parameters) as one simple query,
    their values bound by psycopg's client-side cursor, which quotes them as its server-side binding
    would type them; with ``commit``, the transaction's COMMIT goes with them.

    PostgreSQL runs the statements of one simple query as one transaction (all or nothing), so writes
    sent with the commit of a transaction not yet begun need neither BEGIN nor COMMIT; writes sent
    before more statements begin the transaction themselves (no round trip for the BEGIN either).
    """
    connection, state = _on(pooled)
    script = [state.binder.mogrify(sql, args) for sql, args in statements]
    idle = connection.pgconn.transaction_status == TransactionStatus.IDLE
    if idle and not commit:
        script.insert(0, "BEGIN")
    elif commit and not idle:
        script.append("COMMIT")
    _answered(connection, connection.pgconn.exec_(";\n".join(script).encode(connection.info.encoding)))


def _answered(connection: Connection[Any], result: Any) -> Any:
    """The server's answer, or its error raised as psycopg's cursor raises it."""
    if result.status not in _ANSWERED:
        raise errors.error_from_result(result, encoding=connection.info.encoding)
    return result
