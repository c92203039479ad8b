"""``Prepared``: a prebuilt SELECT run on the driver's cursor gives what Core's execution of it gives,
in whichever transaction ``execute`` would use, seen by the engine's listeners, and fails as Core does."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import bindparam, event, exists, func, literal, select
from sqlalchemy.exc import DBAPIError

from idp.storage import audit_events, db, execute, interactions, reading, utcnow, writing
from idp.storage.audit_events import AuditEvent
from idp.storage.base import Prepared, _reader
from idp.storage.interactions import Interaction
from idp.storage.subjects import Subject, SubjectKind

_S, _I, _A = Subject.__table__, Interaction.__table__, AuditEvent.__table__
# Every kind of column the hot reads use: text, enums, booleans, aware datetimes, JSON, an EXISTS, a
# literal value (an anonymous parameter with its own value) and a parameter given at each call.
_EVERY_KIND = (
    select(_S.c.sub, _S.c.kind, _S.c.status, _S.c.email_verified, _S.c.created_at, _I.c.params, _I.c.expires_at,
           exists().where(_A.c.event == bindparam("event")), literal(7))
    .select_from(_S.join(_I, _I.c.login_sid.is_(None)))
    .where(_S.c.kind == SubjectKind.CITIZEN, _I.c.uid == bindparam("uid"))
)
_EVENTS = select(func.count()).select_from(_A).where(_A.c.event == "test.prepared")


def _interaction(uid: str) -> None:
    now = utcnow()
    interactions.add(uid=uid, client_id="portal", params={"scope": "openid", "nonce": "n-1"}, prompt="login",
                     created_at=now, expires_at=now + timedelta(minutes=10))


def _add_event() -> None:
    audit_events.add(event="test.prepared", subject=None, client_id=None, ip_address=None, details={})


def test_rows_are_those_core_reads(app: Flask, make_citizen) -> None:
    make_citizen()
    _interaction("uid-1")
    _add_event()
    db.session.commit()
    db.session.remove()
    params = {"uid": "uid-1", "event": "test.prepared"}
    with reading():
        expected = [tuple(row) for row in execute(_EVERY_KIND, params).all()]
        rows = Prepared(_EVERY_KIND).all(params)
    assert rows == expected and len(rows) == 1
    sub, kind, status, verified, created_at, params_read, expires_at, logged, seven = rows[0]
    assert kind is SubjectKind.CITIZEN and verified is False and logged is True and seven == 7
    assert params_read == {"scope": "openid", "nonce": "n-1"}
    assert created_at.tzinfo is not None and expires_at.utcoffset() == timedelta(0)


def test_first_and_scalar(app: Flask) -> None:
    _add_event()
    db.session.commit()
    db.session.remove()
    count = Prepared(_EVENTS)
    with reading():
        assert count.scalar({}) == 1
        assert count.first({}) == (1,)
        assert Prepared(select(_A.c.id).where(_A.c.event == "none")).first({}) is None


def test_it_reads_in_the_transaction_execute_would_use(app: Flask) -> None:
    """In a ``writing()`` block its uncommitted writes; in the ORM session's transaction what was added
    and not yet flushed (flushed first, as the ORM's own queries do)."""
    count = Prepared(_EVENTS)
    db.session.remove()
    with writing():
        _add_event()
        assert count.scalar({}) == 1
        with reading():
            assert count.scalar({}) == 1
    db.session.add(AuditEvent(event="test.prepared", details={}))
    assert count.scalar({}) == 2
    db.session.rollback()
    assert count.scalar({}) == 1


def test_the_engines_listeners_see_its_statement(app: Flask) -> None:
    seen: list[tuple[str, Any]] = []

    def record(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_args: Any) -> None:
        seen.append((statement, parameters))

    query = Prepared(select(_S.c.id).where(_S.c.sub == bindparam("sub")))
    db.session.remove()
    event.listen(db.engine, "before_cursor_execute", record)
    try:
        with reading():
            assert query.all({"sub": "nobody"}) == []
    finally:
        event.remove(db.engine, "before_cursor_execute", record)
    [(statement, parameters)] = seen
    assert statement.startswith("SELECT subject.id") and "nobody" in str(parameters)


def test_a_statement_whose_sql_depends_on_its_values_is_refused(app: Flask) -> None:
    query = Prepared(select(_S.c.id).where(_S.c.sub.in_(bindparam("subs", expanding=True))))
    with reading(), pytest.raises(ValueError, match="cannot be prepared"):
        query.all({"subs": ["a", "b"]})


def test_a_driver_error_is_raised_as_core_raises_it(app: Flask) -> None:
    """Here a value the driver cannot send; the block's connection still goes back to the pool."""
    db.session.remove()
    before = db.engine.pool.checkedout()  # type: ignore[attr-defined]
    query = Prepared(select(_S.c.id).where(_S.c.id == bindparam("id")))
    with pytest.raises(DBAPIError, match="SELECT subject.id") as raised, reading():
        query.all({"id": object()})
    assert not raised.value.connection_invalidated
    assert db.engine.pool.checkedout() == before  # type: ignore[attr-defined]


def test_a_lost_connection_is_invalidated(app: Flask) -> None:
    """The pool must not hand the dead connection out again: the next read gets a working one."""
    db.session.remove()
    count = Prepared(_EVENTS)
    with pytest.raises(DBAPIError) as raised, reading():
        count.scalar({})  # checks the connection out
        _reader.get().connection.connection.dbapi_connection.close()  # type: ignore[union-attr]
        count.scalar({})
    assert raised.value.connection_invalidated
    with reading():
        assert count.scalar({}) == 0
