"""Fixtures: the app on SQLite by default, or on the PostgreSQL named by DATABASE_URL."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest
from sqlalchemy import text

from config import TestingConfig
from pitchtank import create_app
from pitchtank.extensions import db as _db
from pitchtank.extensions import limiter
from tests import factories

DATABASE_URL = os.environ.get("DATABASE_URL")


def _test_database_uri(tmp_root: Path) -> str:
    if DATABASE_URL:
        from config import _database_url

        return _database_url(DATABASE_URL)
    return f"sqlite:///{tmp_root / 'pitchtank-test.sqlite3'}"


@pytest.fixture(scope="session")
def tmp_root():
    with tempfile.TemporaryDirectory(prefix="pitchtank-tests-") as root:
        yield Path(root)


@pytest.fixture(scope="session")
def app(tmp_root):
    app = create_app(
        TestingConfig,
        SQLALCHEMY_DATABASE_URI=_test_database_uri(tmp_root),
        DECK_STORAGE_DIR=str(tmp_root / "decks"),
        WTF_CSRF_ENABLED=False,
        SERVER_NAME="pitchtank.test",
    )
    with app.app_context():
        # A real connection first: CI must fail, not skip, when PostgreSQL is unreachable.
        with _db.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        _db.drop_all()
        _db.create_all()
    yield app
    with app.app_context():
        _db.session.remove()
        _db.drop_all()
        _db.engine.dispose()


def _empty_all_tables() -> None:
    _db.session.remove()
    tables = list(reversed(_db.metadata.sorted_tables))
    with _db.engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            names = ", ".join(f'"{t.name}"' for t in tables)
            connection.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        else:
            for table in tables:
                connection.execute(table.delete())


@pytest.fixture
def db(app):
    """The database, emptied after each test."""
    with app.app_context():
        yield _db
        _empty_all_tables()
        limiter.reset()


@pytest.fixture
def client(app, db):
    with app.test_client() as client:
        yield client


@pytest.fixture
def make(db):
    """Factories for domain objects: ``make.user(Role.JUDGE)``, ``make.venture(owner)`` and so on."""
    return factories


@pytest.fixture
def login_as(client, db):
    """Log the test client in as a new user with ``role`` (or as a given user)."""

    def login(role_or_user, **kwargs):
        from pitchtank.accounts.models import User

        user = role_or_user if isinstance(role_or_user, User) else factories.user(role_or_user, **kwargs)
        _db.session.commit()
        with client.session_transaction() as session:
            session["_user_id"] = user.get_id()
            session["_fresh"] = True
        return user

    return login


@pytest.fixture
def api_token(client, db):
    """A bearer token for a new user with ``role`` (or for a given user)."""

    def issue(role_or_user, **kwargs):
        from pitchtank.accounts import services
        from pitchtank.accounts.models import User

        user = role_or_user if isinstance(role_or_user, User) else factories.user(role_or_user, **kwargs)
        token = services.issue_token(user)
        _db.session.commit()
        return {"Authorization": f"Bearer {token}"}

    return issue
