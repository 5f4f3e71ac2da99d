"""Cached logins across processes: a change to a user committed in one process empties every
process's cache through the live Redis channel, and no cached login is served while this
process could miss such a message (its listener down, or reconnected since it cached).

"Another process" is a second ``RedisBridge`` here (tests/multiserver has the real servers);
its commit is plain SQL, which this process's ORM events never see. Each test has a Redis of its
own: test runs sharing one announce changes to their own users 1, 2, 3 ... on the same channel.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from sqlalchemy import text

from pitchtank.accounts import auth_loader
from pitchtank.accounts.auth_loader import INVALIDATION_CHANNEL
from pitchtank.accounts.auth_loader import cache as auth_cache
from pitchtank.accounts.models import Role, hash_token
from pitchtank.live import LiveBroker, Message
from pitchtank.live.redis_bridge import RedisBridge
from tests.live.conftest import FAST_BRIDGE, wait_until

LONG_TTL = 60.0


@pytest.fixture
def use_broker(app, monkeypatch) -> Iterator[Callable[[str | None], LiveBroker]]:
    """``use_broker(redis_url)``: the app's live broker for this test (through that Redis, or
    in-process for None), wired to the login cache as ``create_app`` does; closed afterwards."""
    brokers: list[LiveBroker] = []
    monkeypatch.setitem(app.config, "AUTH_CACHE_SECONDS", LONG_TTL)

    def use(redis_url: str | None) -> LiveBroker:
        broker = LiveBroker(None)
        if redis_url is not None:
            broker.bridge = RedisBridge(redis_url, broker.hub, on_disconnect=broker.hub.close_all, **FAST_BRIDGE)
        broker.listen(INVALIDATION_CHANNEL, auth_loader.forget_announced)
        monkeypatch.setitem(app.extensions, "live", broker)
        brokers.append(broker)
        return broker

    yield use
    for broker in brokers:
        broker.close()


def _token(headers: dict[str, str]) -> str:
    return headers["Authorization"].removeprefix("Bearer ")


def _cached(headers: dict[str, str]) -> bool:
    return auth_cache.token(hash_token(_token(headers)), LONG_TTL) is not None


def _revoke_elsewhere(db, user_id: int) -> None:
    """Another process revokes the user's tokens: nothing in this process hears of it."""
    db.session.execute(text("UPDATE api_tokens SET revoked_at = created_at WHERE user_id = :id"), {"id": user_id})
    db.session.commit()


def _me(client, headers) -> int:
    return client.get("/api/v1/me", headers=headers).status_code


@pytest.fixture
def private_redis(redis_server):
    redis_server.start()
    return redis_server.url


@pytest.fixture
def signed_in(app, make, api_token, client):
    """A user with a bearer token whose login this process has cached."""

    def sign_in() -> tuple[object, dict[str, str]]:
        broker = app.extensions["live"]
        announced: list[object] = []
        broker.listen(INVALIDATION_CHANNEL, lambda message: announced.append(message.data["users"]))
        user = make.user(Role.ENTREPRENEUR)
        headers = api_token(user)
        if broker.bridge is not None:
            # The new user's roles are announced too: wait for that echo, which empties the cache.
            assert wait_until(lambda: [user.id] in announced, 2), "the new user was not announced"
        assert _me(client, headers) == 200
        assert _cached(headers), "the login was not cached"
        return user, headers

    return sign_in


def test_a_committed_change_is_announced_to_every_process_before_the_response(
        use_broker, private_redis, make_bridge, signed_in, client):
    broker = use_broker(private_redis)
    assert broker.ready(3)
    other = make_bridge(private_redis)
    heard = other.subscribe(INVALIDATION_CHANNEL)
    assert other.wait_healthy(3)
    user, headers = signed_in()
    assert client.delete("/api/v1/tokens/current", headers=headers).status_code == 204
    # Skip the announcements of the users' creation.
    while (message := heard.get(timeout=2)) is not None and message.data != {"users": [user.id]}:
        pass
    assert message == Message("forget", 0, {"users": [user.id]})
    assert not _cached(headers) and _me(client, headers) == 401


def test_an_announcement_from_another_process_empties_this_cache_at_once(
        use_broker, private_redis, make_bridge, signed_in, db, client):
    broker = use_broker(private_redis)
    assert broker.ready(3)
    user, headers = signed_in()
    bystander, bystander_headers = signed_in()
    _revoke_elsewhere(db, user.id)
    assert _me(client, headers) == 200  # what the announcement is for: the cached copy is still used

    other = make_bridge(private_redis)
    assert other.publish(INVALIDATION_CHANNEL, Message("forget", 0, {"users": [user.id]}))
    assert wait_until(lambda: not _cached(headers), 2), "the announcement did not reach this process"
    assert _me(client, headers) == 401
    assert _cached(bystander_headers) and _me(client, bystander_headers) == 200  # only that user


def test_a_malformed_announcement_empties_the_whole_cache(
        use_broker, private_redis, make_bridge, signed_in, caplog):
    broker = use_broker(private_redis)
    assert broker.ready(3)
    _user, headers = signed_in()
    assert make_bridge(private_redis).publish(INVALIDATION_CHANNEL, Message("forget", 0, {"users": ["7", True]}))
    assert wait_until(lambda: not _cached(headers), 2)
    assert "malformed invalidation" in caplog.text


def test_no_cached_login_is_served_while_the_listener_is_down(
        use_broker, redis_server, signed_in, api_token, db, client):
    redis_server.start()
    broker = use_broker(redis_server.url)
    assert broker.ready(3)
    user, headers = signed_in()
    redis_server.kill()
    assert wait_until(lambda: broker.delivery_epoch() is None, 3)
    # Announcements cannot arrive now, so the cache is not trusted: the database answers.
    _revoke_elsewhere(db, user.id)
    assert _cached(headers)
    assert _me(client, headers) == 401
    # Nor is anything cached meanwhile.
    other_headers = api_token(Role.JUDGE)
    assert _me(client, other_headers) == 200 and not _cached(other_headers)


def test_a_reconnected_listener_drops_what_was_cached_before_the_outage(
        use_broker, redis_server, signed_in, db, client):
    redis_server.start()
    broker = use_broker(redis_server.url)
    assert broker.ready(3)
    user, headers = signed_in()
    # Redis restarts while no request comes in; another process's announcement is lost meanwhile.
    redis_server.kill()
    assert wait_until(lambda: not broker.bridge.healthy, 3)
    _revoke_elsewhere(db, user.id)
    redis_server.start()
    assert broker.ready(3), "the listener did not reconnect"
    assert _me(client, headers) == 401  # although the entry's 60 s were not over


def test_without_redis_this_process_caches_and_forgets_on_its_own(use_broker, signed_in, client):
    broker = use_broker(None)
    assert broker.delivery_epoch() == 0
    user, headers = signed_in()
    assert _me(client, headers) == 200 and _cached(headers)
    assert client.delete("/api/v1/tokens/current", headers=headers).status_code == 204
    assert not _cached(headers) and _me(client, headers) == 401
