"""The backup and restore procedure of the README ("Operations"), run command for command:
a backup taken while the app holds the database open restores exactly what it held."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url

from config import TestingConfig
from pitchtank import create_app
from pitchtank.accounts.models import Role, User
from pitchtank.extensions import db as _db
from tests import factories

# The README's commands; $DB, $BACKUP_DIR and $DECK_STORAGE_DIR are set by the operator.
SQLITE_BACKUP = [
    """sqlite3 "$DB" ".backup '$BACKUP_DIR/pitchtank.sqlite3'" """,
    """python -c 'import sqlite3, sys; sqlite3.connect(sys.argv[1]).backup(sqlite3.connect(sys.argv[2]))' """
    """ "$DB" "$BACKUP_DIR/pitchtank-python.sqlite3" """,
    """tar -C "$DECK_STORAGE_DIR" -czf "$BACKUP_DIR/decks.tar.gz" .""",
]
SQLITE_CHECK = """sqlite3 "$BACKUP_DIR/pitchtank.sqlite3" "PRAGMA integrity_check" """
SQLITE_RESTORE = [
    """cp "$BACKUP_DIR/pitchtank.sqlite3" "$DB" && rm -f "$DB-wal" "$DB-shm" "$DB-journal" """,
    """mkdir -p "$DECK_STORAGE_DIR" && tar -C "$DECK_STORAGE_DIR" -xzf "$BACKUP_DIR/decks.tar.gz" """,
]
POSTGRES_BACKUP = """pg_dump --format=custom --no-owner --dbname="$DATABASE_URL" --file="$BACKUP_DIR/pitchtank.dump" """
POSTGRES_RESTORE = """pg_restore --no-owner --exit-on-error --dbname="$RESTORE_URL" "$BACKUP_DIR/pitchtank.dump" """


def run(command: str, env: dict[str, str]) -> str:
    completed = subprocess.run(["bash", "-c", command], env={**os.environ, **env}, capture_output=True,
                               text=True, timeout=120, check=False)
    assert completed.returncode == 0, f"{command}\n{completed.stdout}\n{completed.stderr}"
    return completed.stdout


def emails(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return set(connection.scalars(select(User.email)))
    finally:
        engine.dispose()


@pytest.mark.skipif(shutil.which("sqlite3") is None, reason="needs the sqlite3 command-line tool")
def test_sqlite_backup_while_open_then_restore(tmp_path):
    path = tmp_path / "live" / "pitchtank.sqlite3"
    decks = tmp_path / "decks"
    path.parent.mkdir()
    (decks / "7").mkdir(parents=True)
    (decks / "7" / "deck.pdf").write_bytes(b"%PDF-1.7 the deck")
    env = {"DB": str(path), "BACKUP_DIR": str(tmp_path / "backups"), "DECK_STORAGE_DIR": str(decks),
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    (tmp_path / "backups").mkdir()
    url = f"sqlite:///{path}"
    app = create_app(TestingConfig, SQLALCHEMY_DATABASE_URI=url, DECK_STORAGE_DIR=str(decks))
    with app.app_context():
        _db.create_all()
        kept = factories.user(Role.ORGANIZER)
        _db.session.commit()
        kept_email = kept.email
        # Online: the app holds an open transaction while the backup runs.
        _db.session.execute(text("SELECT count(*) FROM users"))
        for command in SQLITE_BACKUP:
            run(command, env)
        _db.session.rollback()
        later = factories.user(Role.JUDGE)
        _db.session.commit()
        later_email = later.email
        _db.session.remove()
        _db.engine.dispose()  # "stop PitchTank" before restoring
    app.extensions["live"].close()

    assert run(SQLITE_CHECK, env).strip() == "ok"
    backup_copy = f"sqlite:///{tmp_path / 'backups' / 'pitchtank-python.sqlite3'}"
    assert kept_email in emails(backup_copy) and later_email not in emails(backup_copy)
    shutil.rmtree(decks)
    for command in SQLITE_RESTORE:
        run(command, env)
    restored = emails(url)
    assert kept_email in restored and later_email not in restored
    assert (decks / "7" / "deck.pdf").read_bytes() == b"%PDF-1.7 the deck"


@pytest.mark.skipif(not (os.environ.get("DATABASE_URL") or "").startswith("postgres"),
                    reason="PostgreSQL only (DATABASE_URL)")
@pytest.mark.skipif(shutil.which("pg_dump") is None or shutil.which("pg_restore") is None,
                    reason="needs pg_dump and pg_restore")
def test_postgresql_dump_and_restore_into_a_new_database(app, db, make, tmp_path):
    user = make.user(Role.INVESTOR)
    db.session.commit()
    source = make_url(os.environ["DATABASE_URL"])
    target_name = f"{source.database}_restore"
    target = source.set(database=target_name)
    admin = create_engine(source.set(drivername="postgresql+psycopg"), isolation_level="AUTOCOMMIT")
    env = {"DATABASE_URL": source.render_as_string(hide_password=False),
           "RESTORE_URL": target.render_as_string(hide_password=False), "BACKUP_DIR": str(tmp_path)}
    try:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{target_name}"'))
            connection.execute(text(f'CREATE DATABASE "{target_name}"'))
        run(POSTGRES_BACKUP, env)
        run(POSTGRES_RESTORE, env)
        restored = create_engine(target.set(drivername="postgresql+psycopg"))
        try:
            with restored.connect() as connection:
                assert connection.scalar(select(func.count()).select_from(User)) == \
                    db.session.scalar(select(func.count()).select_from(User))
                assert connection.scalar(select(User.email).where(User.id == user.id)) == user.email
        finally:
            restored.dispose()
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{target_name}" WITH (FORCE)'))
        admin.dispose()
