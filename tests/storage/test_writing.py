"""``writing()``: a change made of Core statements commits on a pooled connection without an ORM
session, all of it or nothing, and the ORM session cannot slip a statement outside it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import bindparam, func, insert, select
from sqlalchemy.exc import DBAPIError

from idp.storage import audit_events, db, execute, reading, transaction, writing
from idp.storage.audit_events import AuditEvent
from idp.storage.base import Prepared
from idp.storage.subjects import Subject
from tests.conftest import TEST_DB
from tests.helpers.queries import sent_to_postgresql, statements

_EVENTS = select(func.count()).select_from(AuditEvent.__table__).where(AuditEvent.__table__.c.event == "test.writing")


def _checked_out() -> int:
    return db.engine.pool.checkedout()  # type: ignore[attr-defined, no-any-return]


def _add() -> None:
    audit_events.add(event="test.writing", subject=None, client_id=None, ip_address=None, details={})


def _committed() -> int:
    """What another connection sees."""
    with reading():
        return int(execute(_EVENTS).scalar_one())


def test_a_block_commits_on_its_own_connection_without_a_session(app: Flask) -> None:
    db.session.remove()  # what a request finds in production: no session yet
    before = _checked_out()
    with writing():
        _add()
        _add()
        assert int(execute(_EVENTS).scalar_one()) == 2  # the block reads its own writes
        assert _checked_out() == before + 1
    assert not db.session.registry.has()
    assert _checked_out() == before
    assert _committed() == 2


def test_a_block_that_fails_writes_nothing_and_returns_its_connection(app: Flask) -> None:
    db.session.remove()
    before = _checked_out()
    with pytest.raises(RuntimeError, match="the view failed"), writing():
        _add()
        raise RuntimeError("the view failed")
    assert _checked_out() == before
    assert _committed() == 0


@pytest.mark.parametrize("write", [
    lambda: db.session.execute(insert(AuditEvent.__table__).values(event="test.writing", details={})),
    lambda: (db.session.add(AuditEvent(event="test.writing", details={})), db.session.flush()),
], ids=["statement", "flush"])
def test_the_orm_session_cannot_write_inside_a_block(app: Flask, write) -> None:
    """Its writes would be in another transaction: the block refuses them, and writes nothing."""
    db.session.remove()
    with pytest.raises(RuntimeError, match="ORM session wrote"), writing():
        _add()
        write()
    db.session.rollback()
    assert _committed() == 0


def test_the_orm_session_may_read_inside_a_block(app: Flask, make_citizen) -> None:
    """A cache filling itself, an official's unit for the claims: committed rows, read on the
    session's own connection."""
    citizen = make_citizen()
    db.session.remove()
    with writing():
        _add()
        assert db.session.get(Subject, citizen.subject.id) is not None
    assert _committed() == 1


def test_reads_inside_a_block_see_its_own_writes(app: Flask) -> None:
    db.session.remove()
    with writing():
        _add()
        with reading():
            assert execute(_EVENTS).scalar_one() == 1
        assert _committed_elsewhere_is_zero()


def _committed_elsewhere_is_zero() -> bool:
    """Another connection, opened while the block runs, does not see its writes yet."""
    with db.engine.connect() as other:
        return other.execute(_EVENTS).scalar_one() == 0


def test_inside_a_begun_session_the_block_joins_its_transaction(app: Flask) -> None:
    """A block that starts after the request's ORM session has begun a transaction commits that
    transaction, with what the session had pending, as ``transaction()`` does."""
    db.session.execute(select(Subject.id).limit(1))  # begins the session's transaction
    _add()  # in the session's transaction
    with writing():
        _add()
        db.session.execute(select(Subject.id).limit(1))  # allowed: there is one transaction
    assert not db.session().in_transaction()
    assert _committed() == 2


def test_transaction_and_writing_write_the_same_rows(app: Flask) -> None:
    """The storage functions used in blocks write through ``execute``: the same in either kind."""
    with transaction():
        _add()
    with writing():
        _add()
    assert _committed() == 2


# --- writes sent later (Prepared.later) ---------------------------------------------------------------

_INSERT_EVENT = Prepared(insert(AuditEvent.__table__))
_EVENT_ROW = Prepared(select(AuditEvent.__table__.c.at, AuditEvent.__table__.c.subject, AuditEvent.__table__.c.details)
                      .where(AuditEvent.__table__.c.id == bindparam("row_id")))
_AT = datetime(2026, 12, 7, 3, 4, 5, 678901, tzinfo=UTC)


def _event(row_id: int | None = None, **values: Any) -> dict[str, Any]:
    return {**({"id": row_id} if row_id is not None else {}), "at": _AT, "event": "test.writing",
            "subject": None, "client_id": None, "ip_address": None, "details": {}, **values}


@contextmanager
def _round_trips() -> Iterator[list[str]]:
    """What ends each of the client's round trips to PostgreSQL on the connections checked out
    meanwhile: a simple query (its text), or the Sync after an extended one."""
    ends: list[str] = []
    with sent_to_postgresql() as sent:
        yield ends
    ends.extend(text.strip(' "') if message == "Query" else message for message, text in sent
                if message in ("Query", "Sync"))


def _sent_at_the_call() -> None:
    """SQLite has no round trips to save: a write sent later runs when it is called."""
    db.session.remove()
    with statements() as seen, writing():
        _add()
        assert seen == ["INSERT audit_event"]
        _add()
    assert seen == ["INSERT audit_event"] * 2
    assert _committed() == 2


@pytest.mark.parametrize("read", ["none", "first", "after"], ids=["writes alone", "after a read", "before a read"])
def test_writes_go_in_one_round_trip_with_the_commit(app: Flask, read: str) -> None:
    """PostgreSQL: writes alone go as one query (one query is one transaction: neither BEGIN nor
    COMMIT); after a read, they go with the COMMIT; before a read, they begin the transaction in
    the same query, and the read sees them while no other connection does."""
    if TEST_DB == "sqlite":
        _sent_at_the_call()
        return
    db.session.remove()
    with _round_trips() as ends, writing():
        if read == "first":
            assert execute(_EVENTS).scalar_one() == 0
        _add()
        _add()
        if read == "after":
            assert execute(_EVENTS).scalar_one() == 2
            assert _committed_elsewhere_is_zero()
    writes = next(end for end in ends if "INSERT" in end)
    assert writes.count("INSERT INTO audit_event") == 2
    if read == "after":
        # Between the read and the COMMIT, the other connection's own BEGIN, SELECT and ROLLBACK.
        assert ends[:2] == [writes, "Sync"] and ends[-1] == "COMMIT" and writes.startswith("BEGIN;")
    else:
        assert ends == (["BEGIN", "Sync", writes] if read == "first" else [writes])  # Sync: the SELECT's
        assert "BEGIN" not in writes and writes.endswith("COMMIT") == (read == "first")
    assert _committed() == 2


def test_a_write_sent_later_that_fails_fails_the_block_and_writes_nothing(app: Flask) -> None:
    db.session.remove()
    with pytest.raises(DBAPIError), writing():
        _INSERT_EVENT.later(_event(424242))
        _INSERT_EVENT.later(_event(424242))  # the same primary key
    assert _checked_out() == 0
    assert _committed() == 0
    with writing():  # the pool's connection is clean for the next block
        _add()
    assert _committed() == 1


def test_values_sent_later_are_written_as_given(app: Flask) -> None:
    """On PostgreSQL the values are quoted into the query by psycopg's client-side binding."""
    subject = "'); DELETE FROM audit_event; -- \\ \" Thanh Hóa"
    details = {"ghi chú": "Lê Văn 'Tám' \\ \"x\"", "n": [1, None, True], "$1": "%s %(x)s"}
    db.session.remove()
    with writing():
        _INSERT_EVENT.later(_event(515151, subject=subject, details=details))
        _add()
    with reading():
        assert _EVENT_ROW.first({"row_id": 515151}) == (_AT, subject, details)
    assert _committed() == 2


def test_outside_a_block_a_write_runs_at_once_in_the_session(app: Flask) -> None:
    with transaction():
        _INSERT_EVENT.later(_event())
        assert db.session.execute(_EVENTS).scalar_one() == 1
    assert _committed() == 1
