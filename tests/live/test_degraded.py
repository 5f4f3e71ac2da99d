"""Redis unreachable inside one process: streams answer 503 (screens poll), open streams end
when the listener loses Redis, the session and leaderboard polls are conditional, and the
login rate limit keeps counting in memory instead of failing."""

from __future__ import annotations

import redis

from pitchtank.accounts.models import Role
from pitchtank.extensions import limiter
from pitchtank.live import LiveBroker, Message
from tests.live.conftest import wait_until

DEAD_REDIS_URL = "redis://127.0.0.1:1/0"


def _live_session(make, db):
    event = make.event()
    session = make.session(event)
    db.session.commit()
    return session


def test_stream_answers_503_while_the_redis_listener_is_down(app, client, make, db, monkeypatch):
    session = _live_session(make, db)
    broker = LiveBroker(DEAD_REDIS_URL)
    monkeypatch.setitem(app.extensions, "live", broker)
    monkeypatch.setitem(app.config, "STREAM_READY_SECONDS", 0.2)
    try:
        response = client.get(f"/api/v1/sessions/{session.id}/stream", headers={"Accept-Language": "en"})
        assert response.status_code == 503
        assert response.mimetype == "application/problem+json"
        assert response.headers["Retry-After"] == "10"
        assert response.headers["Cache-Control"] == "no-store"
        assert "Live updates are paused" in response.get_json()["detail"]
        assert broker.hub.subscriber_count() == 0  # nothing left subscribed by a refused stream
        # Polling keeps working meanwhile.
        assert client.get(f"/api/v1/sessions/{session.id}").status_code == 200
    finally:
        broker.close()


def test_stream_is_served_when_live_push_is_healthy(client, make, db):
    # In-process on SQLite; through the shared Redis (listener up within a second) on PostgreSQL.
    session = _live_session(make, db)
    response = client.get(f"/api/v1/sessions/{session.id}/stream", buffered=False)
    try:
        assert response.status_code == 200
        assert response.mimetype == "text/event-stream"
        assert next(response.response).startswith(b"retry:")
    finally:
        response.close()


def test_losing_redis_ends_open_streams_and_recovery_lets_them_return(redis_server):
    redis_server.start()
    broker = LiveBroker(redis_server.url)
    try:
        assert broker.ready(3)
        subscription = broker.subscribe("session:1")
        redis_server.kill()
        # The stream's subscription is closed: the browser reconnects and is told to poll.
        assert wait_until(lambda: subscription.closed, 3), "open stream outlived the Redis outage"
        assert not broker.ready(0.1)
        assert broker.publish("session:1", Message("leaderboard", 1, {})) is False

        redis_server.start()  # same port, like a restarted Redis
        assert broker.ready(6), "listener did not reconnect"
        with broker.subscribe("session:1") as again:
            assert broker.publish("session:1", Message("leaderboard", 2, {})) is True
            assert again.get(timeout=2) == Message("leaderboard", 2, {})
    finally:
        broker.close()


def test_session_poll_is_conditional(client, make, db):
    session = _live_session(make, db)
    first = client.get(f"/api/v1/sessions/{session.id}")
    assert first.status_code == 200 and first.headers["ETag"]
    again = client.get(f"/api/v1/sessions/{session.id}", headers={"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304
    assert again.data == b""


class _UnreachableStorageLimiter:
    """Stands in for the Redis-backed strategy: every call fails as a dead Redis does."""

    def __getattr__(self, name):
        def fail(*args, **kwargs):
            raise redis.ConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

        return fail


def test_login_limit_falls_back_to_memory_when_its_storage_is_unreachable(app, client, make, db, monkeypatch):
    user = make.user(Role.ENTREPRENEUR)
    db.session.commit()
    limiter.reset()
    monkeypatch.setitem(app.config, "LOGIN_RATE_LIMIT", "2 per minute")
    monkeypatch.setattr(limiter, "_storage_dead", False)  # restored (False) afterwards
    monkeypatch.setattr(limiter, "_limiter", _UnreachableStorageLimiter())
    monkeypatch.setattr(limiter, "_fallback_storage", limiter._fallback_storage)
    limiter._fallback_storage.reset()
    wrong = {"email": user.email, "password": "not the password"}

    answers = [client.post("/api/v1/tokens", json=wrong).status_code for _ in range(3)]

    # No 500: the first two are judged (wrong password), the third is limited in memory.
    assert answers == [401, 401, 429]
    assert limiter._storage_dead
    limiter._fallback_storage.reset()
