"""``Prepared``: a prebuilt statement run on the driver's cursor reads and writes what Core's execution of
it does, in whichever transaction ``execute`` would use, seen by the engine's listeners, and fails as Core
does."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import bindparam, delete, event, exists, func, insert, literal, select, update
from sqlalchemy.exc import DBAPIError

from idp.storage import audit_events, db, execute, interactions, reading, utcnow, writing
from idp.storage.audit_events import AuditEvent
from idp.storage.base import Prepared, Upsert, _reader
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


_EVENT_COLUMNS = select(_A.c.at, _A.c.event, _A.c.subject, _A.c.client_id, _A.c.ip_address, _A.c.details)


def _event(**values: Any) -> dict[str, Any]:
    return {"at": utcnow(), "event": "test.prepared", "subject": None, "client_id": "portal",
            "ip_address": None, "details": {"amr": ["pwd"], "tên": "Hóa"}} | values


def _listening(seen: list[str]) -> Any:
    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement)
    return record


def test_a_write_stores_what_core_stores(app: Flask) -> None:
    """The same INSERT run by Core and prepared gives equal rows (JSON, aware datetimes, NULLs); an
    INSERT fetches no key it was not asked for (PostgreSQL would RETURNING it for Core)."""
    values = _event()
    seen: list[str] = []
    record = _listening(seen)
    db.session.remove()
    event.listen(db.engine, "before_cursor_execute", record)
    try:
        with writing():
            execute(insert(_A), values)
            assert Prepared(insert(_A)).changed(values) == 1
    finally:
        event.remove(db.engine, "before_cursor_execute", record)
    core, prepared = (tuple(row) for row in db.session.execute(_EVENT_COLUMNS).all())
    assert core == prepared
    assert prepared[0] == values["at"] and prepared[-1] == {"amr": ["pwd"], "tên": "Hóa"}
    assert "RETURNING" not in seen[-1] and seen[-1].startswith("INSERT INTO audit_event")


def test_returning_rows_come_back_typed(app: Flask) -> None:
    returning = Prepared(insert(_A).returning(_A.c.id, _A.c.at, _A.c.details))
    with writing():
        row_id, at, details = returning.first(_event(details={"n": 1}))
        assert isinstance(row_id, int) and at.utcoffset() == timedelta(0) and details == {"n": 1}
    assert db.session.get(AuditEvent, row_id) is not None


def test_updates_and_deletes_say_how_many_rows_they_changed(app: Flask) -> None:
    """With a parameter in the WHERE clause and in the SET clause; the set of parameter names given
    decides the columns an UPDATE sets, as with Core."""
    rename = Prepared(update(_A).where(_A.c.event == bindparam("old")))
    remove = Prepared(delete(_A).where(_A.c.event == bindparam("old")))
    with writing():
        adding = Prepared(insert(_A))
        adding.changed(_event())
        adding.changed(_event())
        assert rename.changed({"old": "test.prepared", "event": "test.renamed"}) == 2
        assert rename.changed({"old": "test.renamed", "event": "test.again", "client_id": None}) == 2
        assert rename.changed({"old": "test.none", "event": "x"}) == 0
    assert [tuple(row) for row in db.session.execute(select(_A.c.event, _A.c.client_id))] == [("test.again", None)] * 2
    db.session.remove()
    with writing():
        assert remove.changed({"old": "test.again"}) == 2
    assert db.session.execute(select(func.count()).select_from(_A)).scalar() == 0


def test_a_write_that_leaves_a_default_to_core_is_refused(app: Flask) -> None:
    """``at`` and ``details`` have Python-side defaults, which only Core's execution computes."""
    with writing(), pytest.raises(ValueError, match="at, details"):
        Prepared(insert(_A)).changed({"event": "test.prepared"})


def test_writes_roll_back_with_their_block(app: Flask) -> None:
    """Nothing is half-written: the block's prepared writes go with its failure."""
    db.session.remove()
    with pytest.raises(RuntimeError), writing():
        Prepared(insert(_A)).changed(_event())
        raise RuntimeError
    db.session.add(AuditEvent(event="test.other", details={}))  # an ORM session's transaction, then
    assert Prepared(insert(_A)).changed(_event()) == 1  # a write in it, which its rollback undoes
    db.session.rollback()
    assert db.session.execute(select(func.count()).select_from(_A)).scalar() == 0


def test_an_upsert_says_whether_it_inserted(app: Flask) -> None:
    table = Interaction.__table__
    now = utcnow()
    once = Upsert(table, lambda statement: statement.on_conflict_do_nothing())
    values = {"uid": "uid-u", "client_id": "portal", "params": {}, "prompt": "login", "created_at": now,
              "expires_at": now}
    with writing():
        assert once.execute(values) == 1
        assert once.execute(values) == 0
    assert interactions.by_uid("uid-u") is not None


def test_types_apply_when_the_first_reading_found_nothing(app: Flask) -> None:
    """The result processors are learnt from the first reading that has rows."""
    query = Prepared(select(_A.c.at, _A.c.details).where(_A.c.event == bindparam("event")))
    db.session.remove()
    with reading():
        assert query.all({"event": "test.prepared"}) == []
    _add_event()
    db.session.commit()
    db.session.remove()
    with reading():
        [(at, details)] = query.all({"event": "test.prepared"})
    assert at.utcoffset() == timedelta(0) and details == {}
