"""Throwaway PostgreSQL databases on a running server, for the test suite and the benchmarks."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator

import psycopg
import sqlalchemy as sa

POSTGRES_SERVER = os.environ.get("IDP_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


def _admin_dsn(server: str) -> str:
    return sa.make_url(server).set(drivername="postgresql").render_as_string(hide_password=False)


@contextlib.contextmanager
def throwaway_postgres(prefix: str, server: str = POSTGRES_SERVER) -> Iterator[str]:
    """The URL of a new, empty database named ``prefix_<random>``, dropped afterwards (even if in use)."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(_admin_dsn(server), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield sa.make_url(server).set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(_admin_dsn(server), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def postgres_available(server: str = POSTGRES_SERVER) -> bool:
    try:
        psycopg.connect(_admin_dsn(server), connect_timeout=3).close()
    except psycopg.Error:
        return False
    return True
