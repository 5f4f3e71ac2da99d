"""The Alembic migrations build exactly the schema the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

import logging
import os
from contextlib import contextmanager
from pathlib import Path

import flask_migrate
import pytest
from alembic.autogenerate import compare_metadata
from alembic.config import Config as AlembicConfig
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import make_url

from config import BASE_DIR, TestingConfig, _database_url
from pitchtank import create_app
from pitchtank.extensions import db

MIGRATIONS = BASE_DIR / "migrations"
DATABASE_URL = os.environ.get("DATABASE_URL", "")
PG_DATABASE = f"pitchtank_migration_test_{os.getpid()}"


def _script() -> ScriptDirectory:
    config = AlembicConfig(str(MIGRATIONS / "alembic.ini"))
    config.set_main_option("script_location", str(MIGRATIONS))
    return ScriptDirectory.from_config(config)


def test_exactly_one_head():
    heads = _script().get_heads()
    assert len(heads) == 1, f"the migrations branch: heads {heads}; add a merge revision"


def test_every_revision_reaches_the_base():
    script = _script()
    revisions = list(script.walk_revisions())
    assert revisions, "no migrations found"
    bases = script.get_bases()
    assert len(bases) == 1, f"more than one base revision: {bases}"
    assert revisions[-1].revision == bases[0]


@contextmanager
def _logging_left_alone():
    """Alembic's env.py calls logging.config.fileConfig, which disables every logger that exists
    and replaces the root's handlers; put them back so later tests still see their logs."""
    manager = logging.Logger.manager
    loggers = {name: (lg.disabled, lg.level) for name, lg in manager.loggerDict.items()
               if isinstance(lg, logging.Logger)}
    root = logging.getLogger()
    root_state = (root.level, list(root.handlers))
    try:
        yield
    finally:
        for name, (disabled, level) in loggers.items():
            lg = manager.loggerDict.get(name)
            if isinstance(lg, logging.Logger):
                lg.disabled, lg.level = disabled, level
        root.setLevel(root_state[0])
        root.handlers[:] = root_state[1]


@contextmanager
def _postgres_database():
    """A freshly created database on the server that DATABASE_URL names, dropped afterwards."""
    server_url = make_url(_database_url(DATABASE_URL))
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{PG_DATABASE}" WITH (FORCE)'))
            connection.execute(text(f'CREATE DATABASE "{PG_DATABASE}"'))
        yield server_url.set(database=PG_DATABASE).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{PG_DATABASE}" WITH (FORCE)'))
        admin.dispose()


@contextmanager
def _sqlite_database(tmp_path: Path):
    yield f"sqlite:///{tmp_path / 'migrated.sqlite3'}"


BACKENDS = [pytest.param("sqlite", id="sqlite")]
if DATABASE_URL.startswith(("postgres://", "postgresql")):
    BACKENDS.append(pytest.param("postgresql", id="postgresql"))


@pytest.fixture(params=BACKENDS)
def empty_database(request, tmp_path):
    source = _postgres_database() if request.param == "postgresql" else _sqlite_database(tmp_path)
    with source as url:
        yield url


def test_upgrade_matches_the_models_and_downgrades(empty_database, tmp_path):
    app = create_app(TestingConfig, SQLALCHEMY_DATABASE_URI=empty_database,
                     DECK_STORAGE_DIR=str(tmp_path / "decks"))
    head = _script().get_current_head()
    with app.app_context(), _logging_left_alone():
        try:
            with db.engine.connect() as connection:
                assert inspect(connection).get_table_names() == []  # really empty

            flask_migrate.upgrade(directory=str(MIGRATIONS))

            with db.engine.connect() as connection:
                context = MigrationContext.configure(connection, opts={"compare_type": True})
                assert context.get_current_revision() == head
                differences = compare_metadata(context, db.metadata)
                tables = set(inspect(connection).get_table_names())
            assert differences == [], "the models and the migrations differ; run `flask db migrate`"
            assert set(db.metadata.tables) <= tables
            assert "alembic_version" in tables

            flask_migrate.downgrade(directory=str(MIGRATIONS), revision="base")

            with db.engine.connect() as connection:
                assert set(inspect(connection).get_table_names()) <= {"alembic_version"}
                assert MigrationContext.configure(connection).get_current_revision() is None

            # and up again: downgrades leave nothing behind that blocks a fresh upgrade
            flask_migrate.upgrade(directory=str(MIGRATIONS))
            with db.engine.connect() as connection:
                assert MigrationContext.configure(connection).get_current_revision() == head
                if connection.dialect.name == "postgresql":  # the database refuses to rewrite history
                    triggers = set(connection.scalars(text("SELECT tgname FROM pg_trigger WHERE NOT tgisinternal")))
                    assert {"ledger_transactions_append_only", "ledger_entries_append_only",
                            "audit_entries_append_only", "audit_entries_no_truncate"} <= triggers
        finally:
            db.session.remove()
            db.engine.dispose()
