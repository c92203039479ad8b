"""``keep_connections``: in a serving worker each thread keeps one pooled connection for its
``reading()`` and ``writing()`` blocks, from one request to the next. Each block still sees what
others committed, finds no transaction left over, and a lost connection is replaced."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import event, func, select
from sqlalchemy.exc import DBAPIError

from idp.storage import audit_events, db, execute, keep_connections, reading, transaction, utcnow, writing
from idp.storage.audit_events import AuditEvent
from idp.storage.base import _current_connection, _kept
from idp.storage.logout import is_revoked, revoke_access_token
from tests.conftest import TEST_DB
from tests.helpers.queries import autocommit_of

_EVENTS = select(func.count()).select_from(AuditEvent.__table__).where(AuditEvent.__table__.c.event == "test.kept")


@pytest.fixture
def kept(app: Flask) -> Iterator[None]:
    """Threads keep their connections while the test runs, as in a serving worker; afterwards the
    pool has every connection back."""
    db.session.remove()
    before = db.engine.pool.checkedout()  # type: ignore[attr-defined]
    keep_connections(True)
    try:
        yield
    finally:
        keep_connections(False)
    assert db.engine.pool.checkedout() == before  # type: ignore[attr-defined]


def _add() -> None:
    audit_events.add(event="test.kept", subject=None, client_id=None, ip_address=None, details={})


def _count() -> int:
    with reading():
        return int(execute(_EVENTS).scalar_one())


def _dbapi() -> Any:
    """The driver's connection the current block runs on."""
    return _current_connection().connection.dbapi_connection


def _checkouts(work: Callable[[], None]) -> int:
    """How many connections the pool lent while ``work`` ran."""
    lent = []

    def record(*_args: Any) -> None:
        lent.append(1)

    event.listen(db.engine, "checkout", record)
    try:
        work()
    finally:
        event.remove(db.engine, "checkout", record)
    return len(lent)


def test_a_thread_runs_its_blocks_on_one_connection(kept: None) -> None:
    """Requests one after another: reading, writing, reading again; one checkout in all. Each block
    is as it would be on a connection of its own: reading outside a transaction where the database
    has round trips to save, writing in one."""
    used: list[Any] = []
    modes: list[bool | None] = []

    def work() -> None:
        for block in (reading, writing, reading, writing):
            with block():
                modes.append(autocommit_of(_current_connection()))
                used.append(_dbapi())
                if block is writing:
                    _add()
                else:
                    execute(_EVENTS).scalar_one()

    assert _checkouts(work) == 1
    assert len({id(connection) for connection in used}) == 1
    expected = [None] * 4 if TEST_DB == "sqlite" else [True, False, True, False]
    assert modes == expected
    assert _count() == 2


def test_a_block_sees_what_others_committed_since_the_threads_last_block(kept: None) -> None:
    """No snapshot is kept from one request to the next (SQLite's WAL readers included)."""
    with reading():
        assert not is_revoked("revoked-meanwhile")
    with transaction():  # the ORM session: a connection of its own
        revoke_access_token("revoked-meanwhile", utcnow() + timedelta(minutes=5))
    with reading():
        assert is_revoked("revoked-meanwhile")


def test_a_failed_write_leaves_nothing_for_the_next_block(kept: None) -> None:
    with pytest.raises(RuntimeError, match="the view failed"), writing():
        _add()
        assert int(execute(_EVENTS).scalar_one()) == 1  # the write is sent (on PostgreSQL with this)
        raise RuntimeError("the view failed")
    assert _kept.connection is not None and not _kept.connection.in_transaction()
    with writing():
        _add()
    assert _count() == 1


def test_a_block_inside_a_block_takes_a_connection_from_the_pool(kept: None) -> None:
    """The kept connection is lent to one block at a time; the inner block's commit is its own."""
    with reading():
        outer = _dbapi()
        with writing():
            assert _dbapi() is not outer
            _add()
        assert int(execute(_EVENTS).scalar_one()) == 1
    with writing():
        assert _dbapi() is outer


def test_a_lost_connection_is_replaced_by_the_next_block(kept: None) -> None:
    with pytest.raises(DBAPIError) as raised, reading():
        lost = _dbapi()
        lost.close()  # as if the server had ended it
        execute(_EVENTS).scalar_one()
    assert raised.value.connection_invalidated
    with reading():
        assert _dbapi() is not lost
        assert int(execute(_EVENTS).scalar_one()) == 0


def test_a_connection_lost_in_one_thread_replaces_the_other_threads_kept_ones(kept: None, app: Flask) -> None:
    """After a restart of the database every kept connection is dead. The first block to meet one
    fails, as with the pool (tests/storage/test_libpq.py); the pool then knows that every connection
    made before is dead, and so do the other threads: their next blocks take new ones and work."""
    ready, go, done = threading.Event(), threading.Event(), threading.Event()
    seen: dict[str, Any] = {}

    def other_thread() -> None:
        try:
            with app.app_context():
                with reading():
                    seen["before"] = _dbapi()
                    execute(_EVENTS).scalar_one()
                ready.set()
                go.wait(30)
                with reading():
                    seen["after"] = _dbapi()
                    seen["count"] = int(execute(_EVENTS).scalar_one())
                _kept.release()  # the thread ends here; a serving thread never does
        except BaseException as error:  # noqa: BLE001 - reported by the test below
            seen["error"] = error
        finally:
            ready.set()
            done.set()

    assert _count() == 0  # this thread keeps a connection too
    thread = threading.Thread(target=other_thread)
    thread.start()
    try:
        assert ready.wait(30)
        if TEST_DB == "postgresql":  # the database restarts: every connection of the worker ends
            with db.engine.connect() as other:
                other.exec_driver_sql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                      "WHERE datname = current_database() AND pid <> pg_backend_pid()")
        with pytest.raises(DBAPIError) as raised, reading():
            lost = _dbapi()
            if TEST_DB == "sqlite":
                lost.close()  # SQLite has no server to restart: this thread's connection alone ends
            execute(_EVENTS).scalar_one()
        assert raised.value.connection_invalidated
    finally:
        go.set()
        assert done.wait(30)
        thread.join(30)
    assert "error" not in seen, seen.get("error")
    assert seen["after"] is not seen["before"]
    assert seen["count"] == 0


def test_without_keeping_each_block_takes_a_connection_from_the_pool(app: Flask) -> None:
    """The default, for the development server (a thread per request) and the command line."""
    db.session.remove()

    def work() -> None:
        for _ in range(3):
            with reading():
                execute(_EVENTS).scalar_one()

    assert _checkouts(work) == 3
