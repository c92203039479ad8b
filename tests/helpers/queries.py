"""Counting the SQL statements a piece of work sends, as the database driver receives them.

``before_cursor_execute`` on the engine sees every statement, savepoints included, whichever session
or connection sends it. Tests compare short summaries ("SELECT oauth_grant", "INSERT audit_event") so
a failure says which query appeared or went away, not only how many there are. Asked for, the
transactions show among them: the ORM session's ("BEGIN", "COMMIT", "ROLLBACK") and those of
``writing()`` blocks ("BEGIN writing", "COMMIT writing", "ROLLBACK writing"); statements without
them ran on a ``reading()`` connection, outside any transaction.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session

from idp.storage import db
from idp.storage.base import _writer

_TABLE = re.compile(r'^(?:SELECT\b.*?\bFROM|INSERT INTO|UPDATE|DELETE FROM)\s+"?(\w+)', re.IGNORECASE | re.DOTALL)
_PARENTHESES = re.compile(r"\([^()]*\)")


def summary(statement: str) -> str:
    """``"SELECT subject"``, ``"INSERT audit_event"``, ``"SAVEPOINT"``: the verb and the statement's own
    first table (the FROM of a subquery does not count)."""
    text = statement.strip()
    while _PARENTHESES.search(text):
        text = _PARENTHESES.sub("", text)
    match = _TABLE.match(text)
    verb = text.split(None, 1)[0].upper()
    return f"{verb} {match.group(1)}" if match else verb


@contextmanager
def statements(*, transactions: bool = False) -> Iterator[list[str]]:
    """Collect the summaries of the statements sent while the block runs (and with ``transactions``,
    where the ORM session's transactions begin and end)."""
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(summary(statement))

    marks = {"after_begin": "BEGIN", "after_commit": "COMMIT", "after_rollback": "ROLLBACK"}
    markers = {name: (lambda *_args, mark=mark: seen.append(mark)) for name, mark in marks.items()}

    def writer_marker(mark: str) -> Any:
        """A connection event recorded for a ``writing()`` block's connection only (the ORM session's
        show through its own events, and a reader's connection has no transaction to show)."""
        def marker(connection: Any, *_args: Any) -> None:
            writer = _writer.get()
            if writer is not None and writer.connection is connection:
                seen.append(mark)
        return marker

    writer_markers = {name: writer_marker(mark) for name, mark in
                      {"begin": "BEGIN writing", "commit": "COMMIT writing", "rollback": "ROLLBACK writing"}.items()}
    event.listen(db.engine, "before_cursor_execute", record)
    for name, marker in markers.items() if transactions else ():
        event.listen(Session, name, marker)
    for name, marker in writer_markers.items() if transactions else ():
        event.listen(db.engine, name, marker)
    try:
        yield seen
    finally:
        event.remove(db.engine, "before_cursor_execute", record)
        for name, marker in markers.items() if transactions else ():
            event.remove(Session, name, marker)
        for name, marker in writer_markers.items() if transactions else ():
            event.remove(db.engine, name, marker)


def autocommit_of(connection: Any) -> bool | None:
    """Whether a statement on ``connection`` runs outside a transaction, as psycopg's flag says
    (``reading()`` sets it on the driver); None on SQLite, which has no round trips to save."""
    if connection.dialect.name == "sqlite":
        return None
    return bool(connection.connection.dbapi_connection.autocommit)


@contextmanager
def sent_to_postgresql() -> Iterator[list[tuple[str, str]]]:
    """The messages the client sends on the connections checked out while the block runs, from
    libpq's trace (PostgreSQL only): ("Query", its text) for a simple query, ("Parse", '"name" "SQL"
    ...'), ("Bind", '"portal" "name" ...'), ("Sync", "") and so on for an extended one."""
    from psycopg.pq import Trace

    sent: list[tuple[str, str]] = []
    trace = tempfile.TemporaryFile()

    def traced(dbapi_connection: Any, *_args: Any) -> None:
        dbapi_connection.pgconn.trace(trace.fileno())
        dbapi_connection.pgconn.set_trace_flags(Trace.SUPPRESS_TIMESTAMPS | Trace.REGRESS_MODE)

    def untraced(dbapi_connection: Any, *_args: Any) -> None:
        dbapi_connection.pgconn.untrace()

    event.listen(db.engine, "checkout", traced)
    event.listen(db.engine, "checkin", untraced)
    try:
        yield sent
    finally:
        event.remove(db.engine, "checkout", traced)
        event.remove(db.engine, "checkin", untraced)
        trace.seek(0)
        messages: list[list[str]] = []
        for line in trace.read().decode().splitlines():
            if line[:2] in ("F\t", "B\t"):
                direction, _length, message, *text = line.split("\t", 3)
                messages.append([direction, message, "".join(text)])
            else:  # a query's text goes on over several lines
                messages[-1][2] += "\n" + line
        sent.extend((message, text.strip()) for direction, message, text in messages if direction == "F")
        trace.close()
