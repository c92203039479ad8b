"""The Alembic chain builds exactly the schema the models describe, on SQLite and PostgreSQL.

The session fixture ``migrated_database`` already upgraded an empty database with the migrations;
here we compare what they built with the models, so a model change without a migration fails.
"""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask import Flask
from sqlalchemy import inspect

from idp.storage import db


def test_migrated_schema_equals_the_models(app: Flask) -> None:
    with db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        diff = compare_metadata(context, db.metadata)
    assert diff == []


def test_every_model_table_exists_with_alembic_version(app: Flask) -> None:
    tables = set(inspect(db.engine).get_table_names())
    assert {t.name for t in db.metadata.sorted_tables} | {"alembic_version"} == tables


def test_constraints_follow_the_naming_convention(app: Flask) -> None:
    inspector = inspect(db.engine)
    assert inspector.get_pk_constraint("subject")["name"] == "pk_subject"
    assert {u["name"] for u in inspector.get_unique_constraints("identity")} == {"uq_identity_source_external_id"}
