"""Fixtures: the app on SQLite by default, or on the PostgreSQL named by DATABASE_URL."""

from __future__ import annotations

import contextvars
import os
import tempfile
from pathlib import Path

import pytest
from flask import has_app_context
from flask.testing import FlaskClient
from sqlalchemy import text

from config import TestingConfig
from pitchtank import create_app
from pitchtank.accounts.auth_loader import cache as auth_cache
from pitchtank.events.session_reads import cache as session_bodies
from pitchtank.extensions import db as _db
from pitchtank.extensions import limiter
from pitchtank.judging.results import cache as standings_cache
from pitchtank.judging.scoring_rules import cache as scoring_rules_cache
from tests import factories

DATABASE_URL = os.environ.get("DATABASE_URL")
REDIS_URL = os.environ.get("REDIS_URL")


def pytest_sessionstart(session):
    """In CI the PostgreSQL/Redis run must really use both: fail at once if either is missing."""
    if os.environ.get("PITCHTANK_REQUIRE_SERVICES") != "1":
        return
    if not (DATABASE_URL or "").startswith("postgresql") or not REDIS_URL:
        pytest.exit("PITCHTANK_REQUIRE_SERVICES=1 needs DATABASE_URL (PostgreSQL) and REDIS_URL", returncode=3)
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=3).ping()
    except redis.RedisError as error:
        pytest.exit(f"Redis at {REDIS_URL} is unreachable: {error}", returncode=3)


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
            # DELETE on a few small tables is far cheaper than TRUNCATE's exclusive locks; the
            # ledger's append-only triggers are bypassed for this cleanup only.
            connection.execute(text("SET LOCAL session_replication_role = replica"))
            for table in tables:
                connection.execute(table.delete())
            connection.execute(text("SELECT " + ", ".join(
                f"setval(pg_get_serial_sequence('{t.name}', 'id'), 1, false)" for t in tables)))
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
        standings_cache.clear()  # ids restart with every test, so cached standings would leak
        scoring_rules_cache.clear()  # and so would cached scoring rules
        auth_cache.clear()  # and cached users
        session_bodies.clear()  # and cached session bodies


class IsolatedClient(FlaskClient):
    """Each request runs in its own app context, with its own ``g`` and database session,
    as in production; what the test arranged is committed first and re-read afterwards."""

    def open(self, *args, **kwargs):
        arranged_here = has_app_context()  # False in a worker thread of a concurrency test
        if arranged_here:
            _db.session.commit()
        try:
            return contextvars.Context().run(super().open, *args, **kwargs)
        finally:
            if arranged_here:
                _db.session.expire_all()

    # Preserved request contexts would outlive the Context they were pushed in.
    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        return None


@pytest.fixture(scope="session", autouse=True)
def _isolated_test_client(app):
    app.test_client_class = IsolatedClient


@pytest.fixture
def client(app, db):
    # Not used as a context manager: preserved request contexts would outlive their own Context.
    return app.test_client()


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
            session["tfa_user_id"] = user.id  # as if two-factor was verified
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


@pytest.fixture(scope="session", autouse=True)
def _smtp_session_server(app):
    """Every test's email goes to a real SMTP server on 127.0.0.1 (see ``smtp_server``)."""
    from tests.smtp_inbox import start_server

    controller, inbox = start_server()
    app.config["MAIL_PORT"] = controller.port
    yield inbox
    controller.stop()


@pytest.fixture
def smtp_server(_smtp_session_server, db):
    """What arrived at the test SMTP server in this test, as parsed EmailMessages:
    ``smtp_server.messages``; ``smtp_server.refuse_next(n)`` makes it answer 451 n times."""
    _smtp_session_server.clear()
    yield _smtp_session_server
    _smtp_session_server.clear()
