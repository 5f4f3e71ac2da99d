"""A gunicorn worker killed (SIGKILL) in the middle of a score write: the transaction never
commits, so nothing is half-written; the master starts a new worker and the next request
succeeds. The write is held open by a test-only WSGI entry point (stall_wsgi), never by the
application itself."""

from __future__ import annotations

import os
import signal
import threading

import pytest
import requests

from tests.multiserver.conftest import bearer, score_body, wait_until


@pytest.fixture(scope="module")
def server(start_servers, services):
    stall_dir = services.tmp / "stalls"
    stall_dir.mkdir(exist_ok=True)
    (started,) = start_servers({"name": "killed", "app": "tests.multiserver.stall_wsgi:app", "workers": 2,
                                "env": {"PITCHTANK_TEST_STALL_DIR": str(stall_dir)}})
    started.stall_dir = stall_dir
    return started


def _sheet_rows(services, pitch_id: int, judge_id: int) -> tuple[int, int]:
    (sheets, scores), = services.sql(
        "SELECT count(DISTINCT s.id), count(v.id) FROM score_sheets s LEFT JOIN scores v ON v.sheet_id = s.id "
        "WHERE s.pitch_id = %s AND s.judge_id = %s", (pitch_id, judge_id))
    return sheets, scores


def test_a_worker_killed_mid_write_leaves_nothing_half_written_and_is_replaced(server, services):
    seed = services.seed
    session_id, pitch_id = seed["session_id"], seed["pitch_ids"][4]
    judge = seed["judges"][4]
    url = f"{server.url}/api/v1/pitches/{pitch_id}/scores/me"
    body = score_body(seed, 7, client_seq=1)
    (version_before,), = services.sql("SELECT scores_version FROM pitch_sessions WHERE id = %s", (session_id,))
    workers_before = server.workers_pids()
    assert len(workers_before) == 2

    # The write reaches the database and stops just before COMMIT.
    outcome: dict[str, object] = {}

    def write() -> None:
        try:
            outcome["response"] = requests.put(url, json=body, timeout=30,
                                               headers=bearer(judge["token"]) | {"X-Test-Stall": "score-write"})
        except requests.RequestException as error:
            outcome["error"] = error

    writer = threading.Thread(target=write)
    writer.start()
    pid_file = server.stall_dir / "score-write"
    assert wait_until(pid_file.exists, 10), "the write never reached its commit"
    victim = int(pid_file.read_text())
    assert victim in workers_before
    # Its rows are in PostgreSQL, uncommitted: another connection does not see them.
    in_transaction = services.sql(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND state = 'idle in transaction'")
    assert in_transaction[0][0] >= 1
    assert _sheet_rows(services, pitch_id, judge["judge_id"]) == (0, 0)

    os.kill(victim, signal.SIGKILL)
    writer.join(15)
    assert "error" in outcome, f"the client got an answer from a killed worker: {outcome}"

    # PostgreSQL rolls the dead connection's transaction back: nothing of it remains.
    assert wait_until(lambda: services.sql(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
        "AND state = 'idle in transaction'")[0][0] == 0, 10)
    assert _sheet_rows(services, pitch_id, judge["judge_id"]) == (0, 0)
    (version_after,), = services.sql("SELECT scores_version FROM pitch_sessions WHERE id = %s", (session_id,))
    assert version_after == version_before

    # The master replaces the worker, and the new one serves requests.
    replaced = wait_until(lambda: (len(server.workers_pids()) == 2 and victim not in server.workers_pids()
                                   and server.workers_pids()), 15)
    assert replaced, "the master did not start a new worker"
    (newcomer,) = replaced - workers_before

    def served_by_newcomer() -> bool:
        try:
            answer = requests.get(server.url + "/healthz", timeout=5)
        except requests.RequestException:
            return False
        return answer.status_code == 200 and answer.headers.get("X-Test-Worker") == str(newcomer)

    assert wait_until(served_by_newcomer, 15, interval=0.1), "the new worker never answered"

    # The judge's tablet resends the same write: it is stored, once, whole.
    retried = requests.put(url, json=body, headers=bearer(judge["token"]), timeout=10)
    assert retried.status_code == 200, retried.text
    assert retried.json()["stored"] is True
    assert _sheet_rows(services, pitch_id, judge["judge_id"]) == (1, len(seed["criteria"]))
    (version_final,), = services.sql("SELECT scores_version FROM pitch_sessions WHERE id = %s", (session_id,))
    assert version_final == version_before + 1
