"""Counters of failed sign-ins, one row per (scope, key), shared by every worker process.

Keys are keyed hashes of the identifier or IP (never the ID number itself). Rows are read with
``FOR UPDATE`` where the database supports it, so two workers counting the same failure serialise.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import Row, String, UniqueConstraint, bindparam, delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, UtcDateTime, db, execute


class LoginThrottle(Base):
    __tablename__ = "login_throttle"
    __table_args__ = (UniqueConstraint("scope", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    scope: Mapped[str] = mapped_column(String(16))
    key: Mapped[str] = mapped_column(String(64))
    failures: Mapped[int] = mapped_column(default=0)
    window_started_at: Mapped[datetime] = mapped_column(UtcDateTime)
    retry_after: Mapped[datetime | None] = mapped_column(UtcDateTime)
    locked_until: Mapped[datetime | None] = mapped_column(UtcDateTime, index=True)


# Built once: every sign-in reads its counters, and a success may clear the account's. Read as plain
# rows (table columns, no ORM entity): nothing changes them in that request, and ORM loading costs
# more than the query.
_TABLE = LoginThrottle.__table__
_ROWS_OF = select(_TABLE).where(_TABLE.c.scope.in_(bindparam("scopes", expanding=True)),
                                _TABLE.c.key.in_(bindparam("keys", expanding=True)))
_CLEAR = delete(_TABLE).where(_TABLE.c.scope == bindparam("scope"), _TABLE.c.key == bindparam("key"))


def get_many(pairs: Iterable[tuple[str, str]]) -> dict[tuple[str, str], Row[Any]]:
    """The rows of several (scope, key) counters in one statement (a sign-in reads two), by pair."""
    wanted = set(pairs)
    rows = execute(_ROWS_OF, {"scopes": sorted({scope for scope, _ in wanted}),
                                         "keys": sorted({key for _, key in wanted})})
    return {(row.scope, row.key): row for row in rows if (row.scope, row.key) in wanted}


def get_for_update(scope: str, key: str, now: datetime) -> LoginThrottle:
    """The row for (scope, key), locked for this transaction; created when missing."""
    query = (
        select(LoginThrottle)
        .where(LoginThrottle.scope == scope, LoginThrottle.key == key)
        .with_for_update()
    )
    row = db.session.execute(query).scalar_one_or_none()
    if row is not None:
        return row
    try:
        with db.session.begin_nested():
            row = LoginThrottle(scope=scope, key=key, failures=0, window_started_at=now)
            db.session.add(row)
    except IntegrityError:
        # Another worker created it between our SELECT and INSERT: lock theirs.
        row = db.session.execute(query).scalar_one()
    return row


def clear(scope: str, key: str) -> None:
    db.session.execute(_CLEAR, {"scope": scope, "key": key})
