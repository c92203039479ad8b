"""Fixtures shared by every test: a migrated database per run, a fresh app per test, factories.

The same suite runs twice (``make test``): on SQLite, then on PostgreSQL, chosen by IDP_TEST_DB.
A PostgreSQL run creates its own throwaway database on the server at IDP_TEST_POSTGRES_URL
(default: the local server at 127.0.0.1:5432) and drops it at the end.
"""

from __future__ import annotations

import contextvars
import os
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from flask import Flask, has_app_context, request, request_started
from flask.testing import FlaskClient
from flask_migrate import upgrade

from idp import create_app
from idp.identity import accounts
from idp.storage import db
from idp.storage.subjects import Subject
from tests.helpers.databases import throwaway_postgres

# Settings a developer's shell may carry must not leak into the tests.
for _name in [n for n in os.environ if n.startswith("IDP_") and not n.startswith("IDP_TEST_")]:
    del os.environ[_name]

TEST_DB = os.environ.get("IDP_TEST_DB", "sqlite")
DEFAULT_PASSWORD = "Mật-khẩu-đủ-dài-2024"
# One data key for the whole run: the signing keys it encrypts are kept between tests.
SESSION_DATA_KEY = secrets.token_urlsafe(32)

# Cheap argon2 parameters keep the suite fast; the production defaults are tested in test_passwords.
FAST_ARGON2 = {"IDP_ARGON2_MEMORY_KIB": 256, "IDP_ARGON2_TIME_COST": 1, "IDP_ARGON2_PARALLELISM": 1}


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if TEST_DB == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('db') / 'dangnhap.db'}"
        return
    if TEST_DB != "postgresql":
        raise pytest.UsageError(f"IDP_TEST_DB must be sqlite or postgresql, not {TEST_DB!r}")
    with throwaway_postgres("dangnhap_test") as url:
        yield url


@pytest.fixture(scope="session")
def instance_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("instance")


def base_config(database_url: str, instance_dir: Path) -> dict[str, Any]:
    return {
        "TESTING": True,
        "IDP_INSTANCE_PATH": str(instance_dir),
        "IDP_DATABASE_URL": database_url,
        "IDP_SECRET_KEY": secrets.token_urlsafe(32),
        "IDP_DATA_KEY": SESSION_DATA_KEY,
        "IDP_LOGIN_DELAY_BASE_SECONDS": 0.0,
        **FAST_ARGON2,
    }


@pytest.fixture(scope="session")
def migrated_database(database_url: str, instance_dir: Path) -> str:
    """The test database, upgraded from empty by the project's Alembic migrations."""
    app = create_app(base_config(database_url, instance_dir))
    with app.app_context():
        upgrade()
        db.session.remove()
        db.engine.dispose()
    return database_url


# Signing keys survive from test to test: making six keys (two RSA) for every test that signs a
# token would double the suite's time. Tests about key creation start from none (``no_signing_keys``).
KEPT_TABLES = {"signing_key"}


def _empty_all_tables(keep: set[str] = KEPT_TABLES) -> None:
    with db.engine.begin() as conn:
        for table in reversed(db.metadata.sorted_tables):
            if table.name not in keep:
                conn.execute(table.delete())


@pytest.fixture
def no_signing_keys(app: Flask) -> None:
    """Start the test with an empty signing_key table (a new deployment's first start)."""
    _empty_all_tables(keep=set())


@pytest.fixture
def app_config(migrated_database: str, instance_dir: Path) -> dict[str, Any]:
    """Tests may change this mapping before the first use of ``app``."""
    return base_config(migrated_database, instance_dir)


class IsolatedClient(FlaskClient):
    """Runs each request in an empty context, as a real server does.

    The ``app`` fixture keeps an app context open for the test's own database work; without this,
    Flask would reuse it for requests, sharing ``g`` and the database session between them.
    """

    def open(self, *args: Any, **kwargs: Any):  # type: ignore[no-untyped-def, override]
        response = contextvars.Context().run(super().open, *args, **kwargs)
        if has_app_context():
            db.session.expire_all()  # see what the request committed
        return response


_apps_made: list[Flask] = []


def make_app(config: dict[str, Any]) -> Flask:
    """A test app; its database connections are closed when the test ends."""
    application = create_app(config)
    application.test_client_class = IsolatedClient
    _apps_made.append(application)
    return application


@pytest.fixture(autouse=True)
def _close_apps() -> Iterator[None]:
    yield
    while _apps_made:
        with _apps_made.pop().app_context():
            db.session.remove()
            db.engine.dispose()


@pytest.fixture
def app(app_config: dict[str, Any]) -> Iterator[Flask]:
    application = make_app(app_config)
    with application.app_context():
        yield application
        db.session.remove()
        _empty_all_tables()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def runner(app: Flask):  # type: ignore[no-untyped-def]
    return app.test_cli_runner()


@pytest.fixture
def through_flask(app: Flask) -> Iterator[list[str]]:
    """The paths of the requests that went through Flask's request cycle (``idp.web.prebuilt`` answers
    some past it)."""
    seen: list[str] = []

    def record(sender: Flask, **_: Any) -> None:
        seen.append(request.path)

    request_started.connect(record, app)
    yield seen
    request_started.disconnect(record, app)


_counter = iter(range(100000, 999999))


def new_id_number(province: str = "038", digit: str = "0", year: str = "90") -> str:
    """A valid, unique 12-digit personal identification number."""
    return f"{province}{digit}{year}{next(_counter):06d}"


@dataclass(frozen=True)
class Citizen:
    subject: Subject
    id_number: str
    password: str


@pytest.fixture
def make_citizen(app: Flask) -> Callable[..., Citizen]:
    """Create a citizen through the same domain function the CLI uses."""

    def make(*, password: str = DEFAULT_PASSWORD, id_number: str | None = None, **fields: Any) -> Citizen:
        fields.setdefault("full_name", "Lê Thị Hoa")
        number = id_number or new_id_number()
        subject = accounts.create_citizen(id_number_text=number, password=password, **fields)
        return Citizen(subject, number, password)

    return make
