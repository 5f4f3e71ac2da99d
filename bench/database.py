"""The benchmark's own database access: reset, connection counts, activity, integrity checks."""

from __future__ import annotations

import sqlite3
import threading
from typing import Any

import psycopg
import redis
from common import PG_ADMIN_DSN, PG_DB, PG_URL, REDIS_URL, Backend
from load import ScoreLoadResult


def reset_postgres() -> None:
    """Drop and recreate the bench database (``WITH (FORCE)`` ends leftover connections)."""
    with psycopg.connect(PG_ADMIN_DSN, autocommit=True, connect_timeout=5) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{PG_DB}" WITH (FORCE)')
        connection.execute(f'CREATE DATABASE "{PG_DB}"')


def drop_postgres() -> None:
    """Drop the bench database at the end of a run."""
    with psycopg.connect(PG_ADMIN_DSN, autocommit=True, connect_timeout=5) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{PG_DB}" WITH (FORCE)')


def pg_sessions(backend: Backend) -> int | None:
    """Connections ever opened to the bench database (PostgreSQL 14+); None for SQLite.

    A pool that keeps its connections opens few; one that overflows opens one per request."""
    if backend.kind != "postgresql":
        return None
    with psycopg.connect(PG_ADMIN_DSN, connect_timeout=5) as connection:
        row = connection.execute("SELECT sessions FROM pg_stat_database WHERE datname = %s", (PG_DB,)).fetchone()
    return int(row[0]) if row and row[0] is not None else None


class PgActivity:
    """Samples pg_stat_activity for the bench database: how many server connections are
    running, idle inside a transaction, or waiting for a lock (a hot row serialises writers)."""

    def __init__(self, interval: float = 0.2) -> None:
        self.interval = interval
        self.samples: list[dict[str, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="pg-activity", daemon=True)

    def __enter__(self) -> PgActivity:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(5)

    def _run(self) -> None:
        with psycopg.connect(PG_ADMIN_DSN, autocommit=True, connect_timeout=5) as connection:
            while not self._stop.is_set():
                rows = connection.execute(
                    "SELECT coalesce(wait_event_type, ''), coalesce(state, ''), count(*) FROM pg_stat_activity "
                    "WHERE datname = %s AND pid <> pg_backend_pid() GROUP BY 1, 2", (PG_DB,)).fetchall()
                sample = {"lock_wait": 0, "active": 0, "idle_in_transaction": 0}
                for wait_type, state, count in rows:
                    if wait_type == "Lock":
                        sample["lock_wait"] += count
                    elif state == "active":
                        sample["active"] += count
                    elif state.startswith("idle in transaction"):
                        sample["idle_in_transaction"] += count
                self.samples.append(sample)
                self._stop.wait(self.interval)

    def summary(self) -> dict[str, float]:
        if not self.samples:
            return {}
        return {f"{key}_mean": round(sum(s[key] for s in self.samples) / len(self.samples), 2)
                for key in ("lock_wait", "active", "idle_in_transaction")} | {"samples": len(self.samples)}


def flush_redis() -> None:
    """Empty Redis db 15, the bench's own."""
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=3)
    try:
        client.flushdb()
    finally:
        client.close()


def query(backend: Backend, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Run one read-only query against the backend's database (``?`` placeholders)."""
    if backend.kind == "sqlite":
        assert backend.sqlite_path is not None
        connection = sqlite3.connect(backend.sqlite_path, timeout=30)
        try:
            return list(connection.execute(sql, params).fetchall())
        finally:
            connection.close()
    with psycopg.connect(PG_URL, connect_timeout=5) as connection:
        return list(connection.execute(sql.replace("?", "%s"), params).fetchall())  # type: ignore[arg-type]


def scores_version(backend: Backend, session_id: int) -> int:
    """The session's leaderboard version: it grows by one per stored score write."""
    return int(query(backend, "SELECT scores_version FROM pitch_sessions WHERE id = ?", (session_id,))[0][0])


def verify_scores(backend: Backend, seed: dict[str, Any], load: ScoreLoadResult, version_before: int
                  ) -> dict[str, Any]:
    """Compare the database with what the server acknowledged: nothing lost, nothing twice."""
    session_id = seed["session_id"]
    sheets = query(backend, "SELECT ss.judge_id, ss.pitch_id, ss.client_seq FROM score_sheets ss "
                            "JOIN pitches p ON p.id = ss.pitch_id WHERE p.session_id = ?", (session_id,))
    values = query(backend, "SELECT ss.judge_id, ss.pitch_id, rc.key, s.value FROM scores s "
                            "JOIN score_sheets ss ON ss.id = s.sheet_id JOIN pitches p ON p.id = ss.pitch_id "
                            "JOIN rubric_criteria rc ON rc.id = s.criterion_id WHERE p.session_id = ?",
                   (session_id,))
    version_after = scores_version(backend, session_id)
    stored_values: dict[tuple[int, int], dict[str, int]] = {}
    for judge_id, pitch_id, key, value in values:
        stored_values.setdefault((judge_id, pitch_id), {})[key] = value
    seq_mismatch = value_mismatch = 0
    for judge_id, pitch_id, client_seq in sheets:
        expected = load.last_stored.get((judge_id, pitch_id))
        if expected is None or expected[0] != client_seq:
            seq_mismatch += 1
        elif stored_values.get((judge_id, pitch_id)) != expected[1]:
            value_mismatch += 1
    expected_sheets = len(seed["judges"]) * len(seed["pitch_ids"])
    db_max_seq = max((row[2] for row in sheets), default=0)
    acknowledged_max = max((seq for seq, _ in load.last_stored.values()), default=0)
    checks = {
        "sheets_rows": len(sheets), "sheets_expected": expected_sheets,
        "pairs_acknowledged": len(load.last_stored),
        "score_rows": len(values), "score_rows_expected": len(sheets) * len(seed["criteria"]),
        "seq_mismatches": seq_mismatch, "value_mismatches": value_mismatch,
        "db_max_client_seq": db_max_seq, "acknowledged_max_client_seq": acknowledged_max,
        "max_client_seq_sent": load.max_seq_sent,
        "version_delta": version_after - version_before, "stored_acknowledged": load.stored,
        "uncertain_writes": load.uncertain,
    }
    # Nothing lost, nothing twice: every acknowledged write is in the database exactly as sent,
    # and the session's version grew once per stored write.
    checks["ok"] = (
        len(sheets) == len(load.last_stored)
        and len(values) == len(sheets) * len(seed["criteria"])
        and seq_mismatch == 0 and value_mismatch == 0
        and db_max_seq == acknowledged_max
        and version_after - version_before == load.stored
        and load.uncertain == 0
    )
    # Coverage: every judge reached every pitch in the time given (needs enough throughput).
    checks["complete"] = len(sheets) == expected_sheets
    return checks
