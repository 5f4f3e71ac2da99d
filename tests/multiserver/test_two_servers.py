"""Two app servers (gunicorn, production configuration) sharing one PostgreSQL and one Redis:
a score stored on one reaches a stream open on the other within a second, and the
one-vote-per-person rule and the login rate limit hold across both."""

from __future__ import annotations

import threading
import time

import pytest
import requests

from tests.multiserver.conftest import Browser, bearer, entry_of, score_body


@pytest.fixture(scope="module")
def pair(start_servers):
    return start_servers({"name": "server-a"}, {"name": "server-b"})


def test_a_score_stored_on_one_server_reaches_a_stream_on_the_other_within_a_second(
        pair, services, sse_clients):
    server_a, server_b = pair
    seed = services.seed
    session_id, pitch_id = seed["session_id"], seed["pitch_ids"][0]
    judge = seed["judges"][0]
    stream = sse_clients(server_b.url, f"/api/v1/sessions/{session_id}/stream")
    assert stream.status == 200
    snapshot = stream.next_event(5, lambda e: e.event == "leaderboard")
    assert snapshot is not None, "no leaderboard snapshot on server B"
    scored_before = entry_of(snapshot.data, pitch_id)["judges_scored"]

    sent = time.monotonic()
    stored = requests.put(f"{server_a.url}/api/v1/pitches/{pitch_id}/scores/me",
                          json=score_body(seed, 8, client_seq=1), headers=bearer(judge["token"]), timeout=10)
    assert stored.status_code == 200, stored.text
    assert stored.json()["stored"] is True

    update = stream.next_event(
        5, lambda e: e.event == "leaderboard" and entry_of(e.data, pitch_id)["judges_scored"] > scored_before)
    assert update is not None, "server A's score never reached server B's stream"
    assert update.received_at - sent < 1.0, f"took {update.received_at - sent:.2f} s"
    assert update.data["version"] > snapshot.data["version"]


def test_one_vote_per_browser_and_per_account_across_both_servers(pair, services):
    server_a, server_b = pair
    seed = services.seed
    votes_path = f"/api/v1/sessions/{seed['session_id']}/votes"
    pitch_ids = seed["pitch_ids"]

    # A browser without an account: its signed cookie from server A is honoured by server B.
    phone = Browser()
    token = phone.csrf_token(server_a.url)
    first = phone.request("POST", server_a.url + votes_path, json={"pitch_id": pitch_ids[1]},
                          headers={"X-CSRFToken": token})
    assert first.status_code == 201, first.text
    assert "pt_voter" in phone.cookies
    again = phone.request("POST", server_b.url + votes_path, json={"pitch_id": pitch_ids[2]},
                          headers={"X-CSRFToken": token, "Accept-Language": "en"})
    assert again.status_code == 409, again.text
    assert again.json()["detail"] == "You have already voted in this session."
    # Another browser still votes, on either server.
    other = Browser()
    other_token = other.csrf_token(server_b.url)
    assert other.request("POST", server_b.url + votes_path, json={"pitch_id": pitch_ids[2]},
                         headers={"X-CSRFToken": other_token}).status_code == 201

    # An account: the same person voting on both servers at the same moment counts once.
    person = seed["accounts"][0]
    token_answer = requests.post(server_a.url + "/api/v1/tokens",
                                 json={"email": person["email"], "password": seed["password"]}, timeout=10)
    assert token_answer.status_code == 201, token_answer.text
    headers = bearer(token_answer.json()["token"])
    statuses: list[int] = []
    barrier = threading.Barrier(2)

    def vote_on(base_url: str) -> None:
        barrier.wait()
        statuses.append(requests.post(base_url + votes_path, json={"pitch_id": pitch_ids[3]},
                                      headers=headers, timeout=10).status_code)

    threads = [threading.Thread(target=vote_on, args=(server.url,)) for server in pair]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(15)
    assert sorted(statuses) == [201, 409]

    rows = services.sql("SELECT voter_key, count(*) FROM audience_votes WHERE session_id = %s "
                        "GROUP BY voter_key", (seed["session_id"],))
    assert all(count == 1 for _key, count in rows)
    assert (f"user:{person['id']}", 1) in rows
    assert len(rows) == 3  # two browsers and one account


def test_the_login_rate_limit_counts_attempts_on_both_servers(pair, services):
    server_a, server_b = pair
    seed = services.seed
    person, bystander = seed["accounts"][1], seed["accounts"][2]
    wrong = {"email": person["email"], "password": "not the password"}

    # LOGIN_RATE_LIMIT is "3 per minute" on both: three misses, alternating servers...
    for server in (server_a, server_b, server_a):
        assert requests.post(server.url + "/api/v1/tokens", json=wrong, timeout=10).status_code == 401
    # ...and the fourth attempt is refused by either, even with the right password.
    for server in (server_b, server_a):
        limited = requests.post(server.url + "/api/v1/tokens",
                                json={"email": person["email"], "password": seed["password"]}, timeout=10)
        assert limited.status_code == 429, limited.text
        assert limited.headers["Content-Type"].startswith("application/problem+json")

    # The login page shares the bucket: its form is refused too, on the other server.
    browser = Browser()
    token = browser.csrf_token(server_b.url)
    page = browser.request("POST", server_b.url + "/login",
                           data={"email": person["email"], "password": seed["password"], "csrf_token": token})
    assert page.status_code == 429

    # Counted per account: someone else logs in at once.
    other = requests.post(server_b.url + "/api/v1/tokens",
                          json={"email": bystander["email"], "password": seed["password"]}, timeout=10)
    assert other.status_code == 201, other.text
