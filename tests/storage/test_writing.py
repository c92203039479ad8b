"""``writing()``: a change made of Core statements commits on a pooled connection without an ORM
session, all of it or nothing, and the ORM session cannot slip a statement outside it."""

from __future__ import annotations

import pytest
from flask import Flask
from sqlalchemy import func, insert, select

from idp.storage import audit_events, db, execute, reading, transaction, writing
from idp.storage.audit_events import AuditEvent
from idp.storage.subjects import Subject

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
