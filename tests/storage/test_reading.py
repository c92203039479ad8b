"""``reading()``: the statements of a view that never writes run on a pooled connection, without a
transaction on PostgreSQL and without an ORM session, and the connection always goes back."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import event, select

from idp.storage import db, execute, reading, transaction, utcnow
from idp.storage.base import _current_connection
from idp.storage.logout import RevokedAccessToken, is_revoked, revoke_access_token
from idp.storage.subjects import Subject
from tests.helpers.queries import autocommit_of

_JTIS = select(RevokedAccessToken.__table__.c.jti)


def _checked_out() -> int:
    return db.engine.pool.checkedout()  # type: ignore[attr-defined, no-any-return]


def _autocommit_during(work: Any) -> list[bool | None]:
    levels: list[bool | None] = []

    def record(conn: Any, *_args: Any) -> None:
        levels.append(autocommit_of(conn))

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        work()
    finally:
        event.remove(db.engine, "before_cursor_execute", record)
    return levels


def test_a_reading_block_makes_no_session_and_returns_its_connection(app: Flask) -> None:
    db.session.remove()  # what a request finds in production: no session yet
    before = _checked_out()

    used: list[Any] = []

    def work() -> None:
        with reading():
            assert execute(_JTIS).all() == []
            assert _checked_out() == before + 1
            assert not is_revoked("no-such-jti")
            used.append(_current_connection().connection.dbapi_connection)

    levels = _autocommit_during(work)
    assert not db.session.registry.has()
    assert _checked_out() == before
    # One connection, outside a transaction where the database has transactions with round trips.
    assert levels == [None if db.engine.dialect.name == "sqlite" else True] * 2
    # It goes back to the pool as it came: the next transaction on it begins as usual.
    assert not getattr(used[0], "autocommit", False)


def test_the_connection_goes_back_when_the_block_fails(app: Flask) -> None:
    db.session.remove()
    before = _checked_out()
    with pytest.raises(RuntimeError), reading():
        execute(_JTIS).all()
        raise RuntimeError("the view failed")
    assert _checked_out() == before


def test_a_block_that_sends_nothing_takes_no_connection(app: Flask) -> None:
    db.session.remove()
    before = _checked_out()
    with reading():
        assert _checked_out() == before
    assert _checked_out() == before


def test_outside_a_block_statements_join_the_current_transaction(app: Flask) -> None:
    with transaction():
        assert revoke_access_token("revoked-here", utcnow() + timedelta(minutes=5))
        assert is_revoked("revoked-here")  # the same transaction sees its own write
    with reading():
        assert is_revoked("revoked-here")  # committed: a new connection sees it


def test_a_block_inside_a_begun_session_reads_what_it_has_not_committed(app: Flask) -> None:
    """Inside a transaction already begun, the block reads in it."""
    db.session.execute(select(Subject.id).limit(1))  # begins the session's transaction
    assert db.session().in_transaction()
    revoke_access_token("not-yet-committed", utcnow() + timedelta(minutes=5))
    with reading():
        assert is_revoked("not-yet-committed")
    db.session.rollback()
