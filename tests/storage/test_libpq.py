"""``storage.libpq``: on PostgreSQL the prepared statements run on libpq, prepared once per connection,
inside the transaction psycopg began; when the server forgot them, they are prepared again. On SQLite
they run on the driver's cursor as before (the rest of ``Prepared``'s behaviour is in
test_prepared.py, on both databases)."""

from __future__ import annotations

from contextlib import nullcontext
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import bindparam, func, insert, select
from sqlalchemy.exc import DBAPIError

from idp.storage import db, reading, utcnow, writing
from idp.storage.audit_events import AuditEvent
from idp.storage.base import Prepared, _current_connection
from tests.conftest import TEST_DB
from tests.helpers.queries import sent_to_postgresql

_A = AuditEvent.__table__
_COUNT = select(func.count()).select_from(_A).where(_A.c.event == bindparam("event"))
_INSERT = Prepared(insert(_A))


def _event(name: str = "test.libpq") -> dict[str, Any]:
    return {"at": utcnow(), "event": name, "subject": None, "client_id": None, "ip_address": None,
            "details": {"tên": "Thanh Hóa"}}


def _committed(name: str = "test.libpq") -> int:
    db.session.remove()
    with reading():
        return Prepared(_COUNT).scalar({"event": name})  # type: ignore[no-any-return]


def _raw() -> Any:
    return _current_connection().connection.dbapi_connection


def test_a_statement_is_prepared_once_per_connection_and_run_by_name(app: Flask) -> None:
    query = Prepared(_COUNT)
    db.session.remove()
    if TEST_DB == "sqlite":
        with reading():
            assert [query.scalar({"event": "test.libpq"}) for _ in range(3)] == [0, 0, 0]
        [form] = query._forms.values()
        assert form.direct is None  # SQLite's driver has no round trips to save
        return
    with sent_to_postgresql() as sent, reading():
        assert [query.scalar({"event": "test.libpq"}) for _ in range(3)] == [0, 0, 0]
    parses = [text for message, text in sent if message == "Parse"]
    binds = [text for message, text in sent if message == "Bind"]
    assert len(parses) == 1 and parses[0].startswith('"dangnhap_') and "$1::VARCHAR" in parses[0]
    name = parses[0].split()[0]
    assert len(binds) == 3 and all(bind.split()[1] == name for bind in binds)
    assert not any(message == "Query" for message, _ in sent)  # no BEGIN: a reading block is in autocommit


def test_the_first_statement_of_a_transaction_begins_it_and_all_roll_back_together(app: Flask) -> None:
    """The block's first statement goes with the BEGIN psycopg's cursor would have sent alone (one
    query: BEGIN, then EXECUTE of the prepared statement, its values bound in the query), and every
    statement runs prepared inside that transaction, so a failure undoes them all."""
    db.session.remove()
    with sent_to_postgresql() if TEST_DB == "postgresql" else nullcontext([]) as sent, \
            pytest.raises(RuntimeError), writing():
        assert _INSERT.changed(_event()) == 1
        assert _INSERT.changed(_event()) == 1
        assert Prepared(_COUNT).scalar({"event": "test.libpq"}) == 2
        raise RuntimeError
    assert _committed() == 0
    if TEST_DB == "postgresql":
        queries = [text for message, text in sent if message == "Query"]
        assert queries[0].startswith('"BEGIN;\nEXECUTE dangnhap_') and "'test.libpq'" in queries[0]
        assert [message for message, _ in sent].index("Parse") < [message for message, _ in sent].index("Query")
        parsed = [text.split()[0] for message, text in sent if message == "Parse"]
        assert len(parsed) == 2 and all(name.startswith('"dangnhap_') for name in parsed)  # the INSERT, the SELECT
        assert sent[-1] == ("Query", '"ROLLBACK"')
    with writing():
        _INSERT.changed(_event())
        _INSERT.changed(_event())
    assert _committed() == 2


def test_a_transaction_psycopg_begins_otherwise_begins_with_its_cursor(app: Flask) -> None:
    """With an isolation level set on the connection, psycopg's BEGIN says it: the first statement is
    then the cursor's; the next run on libpq in that transaction."""
    db.session.remove()
    if TEST_DB == "sqlite":
        with writing():
            assert _INSERT.changed(_event()) == 1
        assert _committed() == 1
        return
    from psycopg import IsolationLevel

    with sent_to_postgresql() as sent, writing():
        raw = _raw()
        raw.isolation_level = IsolationLevel.REPEATABLE_READ
        try:
            assert _INSERT.changed(_event()) == 1
            assert _INSERT.changed(_event()) == 1
        finally:
            raw.commit()
            raw.isolation_level = None
    assert sent[0] == ("Query", '"BEGIN ISOLATION LEVEL REPEATABLE READ"')
    parsed = [text.split()[0] for message, text in sent if message == "Parse"]
    assert parsed[0] == '""' and parsed[1].startswith('"dangnhap_')  # the cursor's unnamed one, then ours
    assert _committed() == 2


def test_statements_the_server_forgot_are_prepared_again(app: Flask) -> None:
    """Outside a transaction, and as a transaction's first statement, the statement runs again at once;
    later in a transaction the transaction fails (PostgreSQL aborted it, with the block's earlier
    work), and the connection's next block prepares again. (SQLite keeps no statements on a server:
    the same calls simply work.)"""
    query = Prepared(_COUNT)
    db.session.remove()

    def forget() -> None:
        if TEST_DB == "postgresql":
            _raw().pgconn.exec_(b"DEALLOCATE ALL")

    with reading():
        assert query.scalar({"event": "test.libpq"}) == 0
        forget()
        assert query.scalar({"event": "test.libpq"}) == 0
    with writing():
        _INSERT.changed(_event())
        _INSERT.changed(_event())
    if TEST_DB == "sqlite":
        assert _committed() == 2
        return
    with writing():  # as a transaction's first statement, after nothing else of the transaction
        assert query.scalar({"event": "test.libpq"}) == 2
        raw = _raw()
        raw.commit()
        forget()
        assert query.scalar({"event": "test.libpq"}) == 2
        _INSERT.changed(_event())
    assert _committed() == 3
    with pytest.raises(DBAPIError, match="does not exist") as raised, writing():
        _INSERT.changed(_event())
        assert query.scalar({"event": "test.libpq"}) == 4
        forget()
        query.scalar({"event": "test.libpq"})
    assert not raised.value.connection_invalidated
    assert _committed() == 3
    with writing():
        _INSERT.changed(_event())
        assert query.scalar({"event": "test.libpq"}) == 4
    assert _committed() == 4


def test_a_savepoints_rollback_leaves_the_statements_prepared(app: Flask) -> None:
    """psycopg, holding prepared statements of its own, would DEALLOCATE ALL after the ROLLBACK TO
    SAVEPOINT: it is told to prepare none, so ours survive it in the ORM session's transaction."""
    query = Prepared(_COUNT)
    db.session.add(AuditEvent(event="test.libpq", details={}))
    for _ in range(6):  # more than psycopg's default threshold for preparing a statement
        assert db.session.execute(select(func.count()).select_from(_A)).scalar() >= 1
        assert query.scalar({"event": "test.libpq"}) == 1
    if TEST_DB == "postgresql":
        assert _raw().prepare_threshold is None
    with pytest.raises(RuntimeError), db.session.begin_nested():
        db.session.add(AuditEvent(event="test.libpq", details={}))
        db.session.flush()
        raise RuntimeError
    assert db.session.execute(select(func.count()).select_from(_A)).scalar() == 1
    assert query.scalar({"event": "test.libpq"}) == 1
    db.session.commit()
    assert _committed() == 1


def test_values_bound_into_a_transactions_first_query_arrive_as_given(app: Flask) -> None:
    """As a transaction's first statement the values are quoted into the query (BEGIN; EXECUTE ...):
    quotes, backslashes, placeholders and Vietnamese text, JSON, an aware datetime and NULLs come
    back as they were given, in the types the statement was prepared with."""
    returning = Prepared(insert(_A).returning(_A.c.id, _A.c.at, _A.c.subject, _A.c.client_id, _A.c.details))
    values = _event() | {"subject": "'); DELETE FROM audit_event; -- \\ \" Lê Văn Tám $1 %s %(x)s",
                         "client_id": None, "details": {"ghi chú": "'x' \\ \"y\"", "n": [1, None, True]}}
    db.session.remove()
    with sent_to_postgresql() if TEST_DB == "postgresql" else nullcontext([]) as sent, writing():
        row_id, at, subject, client_id, details = returning.first(values)
    assert (at, subject, client_id, details) == (values["at"], values["subject"], None, values["details"])
    assert isinstance(row_id, int) and _committed() == 1
    if TEST_DB == "postgresql":
        assert [text for message, text in sent if message == "Query"][0].startswith('"BEGIN;\nEXECUTE dangnhap_')


def test_a_connection_the_server_ended_is_invalidated(app: Flask) -> None:
    """PostgreSQL ends a worker's connection (a restart, a failover, an administrator): the statement
    on libpq fails as psycopg's cursor would, the pool drops the connection, and the next block gets a
    working one. (On SQLite nothing ends a connection from outside; the same reads simply work.)"""
    query = Prepared(_COUNT)
    db.session.remove()
    if TEST_DB == "sqlite":
        for _ in range(2):
            with reading():
                assert query.scalar({"event": "test.libpq"}) == 0
        return
    with pytest.raises(DBAPIError) as raised, reading():
        assert query.scalar({"event": "test.libpq"}) == 0
        pid = _raw().info.backend_pid
        with db.engine.connect() as other:
            other.exec_driver_sql(f"SELECT pg_terminate_backend({pid})")
        query.scalar({"event": "test.libpq"})
    assert raised.value.connection_invalidated
    with reading():
        assert query.scalar({"event": "test.libpq"}) == 0


def test_after_the_server_ended_every_connection_one_block_fails_not_one_per_connection(app: Flask) -> None:
    """A restart of PostgreSQL ends every pooled connection. The first block to meet a dead one fails,
    and the pool then replaces all connections made before, as Core's own execution does: the next
    blocks, reads and writes, work. (SQLite: nothing to restart.)"""
    query = Prepared(_COUNT)
    db.session.remove()
    with reading(), reading(), writing():  # the pool holds several connections
        assert query.scalar({"event": "test.libpq"}) == 0
    pool = db.engine.pool
    held = [pool.connect() for _ in range(3)]  # type: ignore[attr-defined]
    for connection in held:
        connection.close()
    if TEST_DB == "postgresql":
        with db.engine.connect() as other:
            other.exec_driver_sql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                  "WHERE datname = current_database() AND pid <> pg_backend_pid()")
        with pytest.raises(DBAPIError) as raised, writing():
            _INSERT.changed(_event())
        assert raised.value.connection_invalidated
    for _ in range(3):
        with writing():
            _INSERT.changed(_event())
        with reading():
            assert query.scalar({"event": "test.libpq"}) >= 1
    assert _committed() == 3
