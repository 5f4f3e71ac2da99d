"""Redis stopped and restarted during a live session, under two app servers: no score is lost,
streams are refused (screens poll the conditional leaderboard) while it is down, logins keep
working on the in-memory limiter, and live pushing resumes by itself when Redis returns."""

from __future__ import annotations

import shutil
import time

import pytest
import requests

from tests.live.conftest import REDIS_SERVER_FALLBACK, RedisServer
from tests.multiserver.conftest import bearer, entry_of, score_body, wait_until


@pytest.fixture(scope="module")
def private_redis(service_urls):
    binary = shutil.which("redis-server") or REDIS_SERVER_FALLBACK
    server = RedisServer(binary)
    server.start()
    try:
        yield server
    finally:
        server.kill()


@pytest.fixture(scope="module")
def pair(start_servers, private_redis):
    return start_servers({"name": "redis-c", "redis_url": private_redis.url},
                         {"name": "redis-d", "redis_url": private_redis.url})


def _judges_scored(board: dict, pitch_id: int) -> int:
    return entry_of(board, pitch_id)["judges_scored"]


def test_redis_restart_loses_no_score_and_live_pushing_resumes(pair, private_redis, services, sse_clients):
    server_c, server_d = pair
    seed = services.seed
    session_id = seed["session_id"]
    pitch_1, pitch_2, pitch_3 = seed["pitch_ids"][1:4]
    judge_1, judge_2, judge_3 = (j["token"] for j in seed["judges"][1:4])
    stream_path = f"/api/v1/sessions/{session_id}/stream"
    board_url = f"{server_d.url}/api/v1/sessions/{session_id}/leaderboard"

    def put_score(server, token, pitch_id, value, seq=1):
        started = time.monotonic()
        answer = requests.put(f"{server.url}/api/v1/pitches/{pitch_id}/scores/me",
                              json=score_body(seed, value, seq), headers=bearer(token), timeout=10)
        assert answer.status_code == 200, answer.text
        assert answer.json()["stored"] is True
        return time.monotonic() - started

    # Live: a score on C reaches a stream on D.
    stream = sse_clients(server_d.url, stream_path)
    assert stream.status == 200
    assert stream.next_event(5, lambda e: e.event == "leaderboard") is not None
    put_score(server_c, judge_1, pitch_1, 7)
    assert stream.next_event(3, lambda e: e.event == "leaderboard" and _judges_scored(e.data, pitch_1) >= 1)
    before = requests.get(board_url, timeout=10)
    etag_before = before.headers["ETag"]

    # Redis dies: D's open stream ends, so its screen reconnects and is told to poll.
    private_redis.kill()
    assert wait_until(stream.ended.is_set, 5), "the stream outlived the Redis outage"
    refused = sse_clients(server_d.url, stream_path)
    assert refused.status == 503
    assert refused.response.getheader("Content-Type").startswith("application/problem+json")
    assert refused.response.getheader("Retry-After")

    # Scores are stored on either server, promptly, while Redis is down.
    assert put_score(server_c, judge_1, pitch_2, 5) < 3
    assert put_score(server_d, judge_2, pitch_1, 9) < 3
    # Logins still work: the rate limiter counts in memory instead of failing.
    person = seed["accounts"][3]
    for server in (server_c, server_d):
        wrong = requests.post(server.url + "/api/v1/tokens",
                              json={"email": person["email"], "password": "not it"}, timeout=10)
        assert wrong.status_code == 401, wrong.text
    right = requests.post(server_c.url + "/api/v1/tokens",
                          json={"email": person["email"], "password": seed["password"]}, timeout=10)
    assert right.status_code == 201, right.text
    # The screen's fallback poll (conditional) sees the new scores.
    polled = requests.get(board_url, headers={"If-None-Match": etag_before}, timeout=10)
    assert polled.status_code == 200
    assert _judges_scored(polled.json(), pitch_1) == 2 and _judges_scored(polled.json(), pitch_2) == 1
    unchanged = requests.get(board_url, headers={"If-None-Match": polled.headers["ETag"]}, timeout=10)
    assert unchanged.status_code == 304

    # Redis returns on the same port: the stream is served again without any restart.
    private_redis.start()

    def stream_back():
        attempt = sse_clients(server_d.url, stream_path)
        if attempt.status == 200:
            return attempt
        time.sleep(0.2)
        return None

    resumed = wait_until(stream_back, 12, interval=0)
    assert resumed, "live pushing did not resume after Redis came back"
    snapshot = resumed.next_event(5, lambda e: e.event == "leaderboard")
    assert snapshot is not None
    assert _judges_scored(snapshot.data, pitch_1) == 2 and _judges_scored(snapshot.data, pitch_2) == 1
    put_score(server_c, judge_3, pitch_3, 6)
    pushed = resumed.next_event(3, lambda e: e.event == "leaderboard" and _judges_scored(e.data, pitch_3) == 1)
    assert pushed is not None, "a score on C did not reach D's stream after the restart"

    # Nothing lost: every acknowledged score is stored, once.
    judge_ids = {j["token"]: j["judge_id"] for j in seed["judges"]}
    stored = services.sql(
        "SELECT pitch_id, judge_id, count(*) FROM score_sheets WHERE pitch_id = ANY(%s) AND judge_id = ANY(%s) "
        "GROUP BY pitch_id, judge_id ORDER BY pitch_id, judge_id",
        ([pitch_1, pitch_2, pitch_3], [judge_ids[judge_1], judge_ids[judge_2], judge_ids[judge_3]]))
    assert stored == sorted([(pitch_1, judge_ids[judge_1], 1), (pitch_1, judge_ids[judge_2], 1),
                             (pitch_2, judge_ids[judge_1], 1), (pitch_3, judge_ids[judge_3], 1)])
    # And the limiter still answers (memory or Redis, never a 500).
    after = requests.post(server_d.url + "/api/v1/tokens",
                          json={"email": person["email"], "password": seed["password"]}, timeout=10)
    assert after.status_code == 201, after.text
