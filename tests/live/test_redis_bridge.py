"""RedisBridge against real Redis servers: cross-process delivery, outages and recovery."""

from __future__ import annotations

import logging
import signal
import time

import redis

from pitchtank.live.hub import Message
from pitchtank.live.redis_bridge import CHANNEL_PREFIX, decode_message, encode_message
from tests.live.conftest import wait_until

CLOSED_PORT_URL = "redis://127.0.0.1:1/0"


def test_message_published_by_one_process_reaches_another(make_bridge, redis_url, channel):
    sender, receiver = make_bridge(redis_url), make_bridge(redis_url)
    sub = receiver.subscribe(channel)
    other = receiver.subscribe(channel + ":other")
    assert receiver.wait_healthy(2), "listener did not subscribe to Redis"
    message = Message("leaderboard", 3, {"rows": [{"pitch": 1, "score": 7.25}]})

    started = time.monotonic()
    assert sender.publish(channel, message) is True
    assert sub.get(timeout=1) == message
    assert time.monotonic() - started < 1
    assert other.get(timeout=0.05) is None
    assert not sender.running  # publishing alone never starts a listener


def test_a_process_receives_its_own_messages_through_redis(make_bridge, redis_url, channel):
    bridge = make_bridge(redis_url)
    sub = bridge.subscribe(channel)
    assert bridge.wait_healthy(2)
    message = Message("pitch", 1, {"pitch_id": 5})
    assert bridge.publish(channel, message)
    assert sub.get(timeout=1) == message
    assert sub.get(timeout=0.05) is None  # exactly once


def test_listener_ignores_malformed_payloads(make_bridge, redis_url, channel, caplog):
    bridge = make_bridge(redis_url)
    sub = bridge.subscribe(channel)
    assert bridge.wait_healthy(2)
    raw = redis.Redis.from_url(redis_url)
    try:
        with caplog.at_level(logging.WARNING, logger="pitchtank.live.redis_bridge"):
            raw.publish(CHANNEL_PREFIX + channel, b"not json")
            raw.publish(CHANNEL_PREFIX + channel, b'{"event": "x", "id": "1", "data": {}}')
            message = Message("leaderboard", 2, {})
            assert bridge.publish(channel, message)
            assert sub.get(timeout=1) == message
    finally:
        raw.close()
    assert bridge.running
    # Other listeners in this process (the app's own broker) may log the same payloads.
    ours = [r for r in caplog.records if r.threadName == bridge._thread.name and "malformed" in r.getMessage()]
    assert len(ours) == 2


def test_publish_while_redis_is_unreachable_returns_false(make_bridge, caplog):
    bridge = make_bridge(CLOSED_PORT_URL)
    with caplog.at_level(logging.WARNING, logger="pitchtank.live.redis_bridge"):
        started = time.monotonic()
        assert bridge.publish("session:1", Message("leaderboard", 1, {})) is False
    assert time.monotonic() - started < 1
    assert "publish to session:1 failed" in caplog.text


def test_listener_keeps_retrying_while_redis_is_unreachable(make_bridge):
    bridge = make_bridge(CLOSED_PORT_URL)
    sub = bridge.subscribe("session:1")
    time.sleep(0.3)  # several failed attempts at the test backoff
    assert bridge.running
    assert not bridge.healthy
    assert sub.get(timeout=0) is None
    started = time.monotonic()
    bridge.stop()
    assert time.monotonic() - started < 1
    assert not bridge.running


def test_listener_recovers_when_redis_comes_back(make_bridge, redis_server, channel):
    redis_server.start()
    bridge = make_bridge(redis_server.url)
    sub = bridge.subscribe(channel)
    assert bridge.wait_healthy(2)

    redis_server.kill()
    assert wait_until(lambda: not bridge.healthy, 2), "listener did not notice Redis died"
    assert bridge.publish(channel, Message("leaderboard", 1, {})) is False

    redis_server.start()  # same port, like a restarted Redis
    assert bridge.wait_healthy(3), "listener did not reconnect"
    message = Message("leaderboard", 2, {"rows": []})
    assert bridge.publish(channel, message) is True
    assert sub.get(timeout=1) == message
    assert bridge.running


def test_listener_detects_a_connection_that_went_silent(make_bridge, redis_server, channel):
    redis_server.start()
    bridge = make_bridge(redis_server.url, ping_seconds=0.1)
    bridge.subscribe(channel)
    assert bridge.wait_healthy(2)
    # A stopped (not dead) server keeps the socket open but never answers, like a lost peer.
    redis_server.process.send_signal(signal.SIGSTOP)
    try:
        assert wait_until(lambda: not bridge.healthy, 2), "silent connection went unnoticed"
    finally:
        redis_server.process.send_signal(signal.SIGCONT)
    assert bridge.wait_healthy(3)


def test_connection_epoch_is_none_while_not_subscribed_and_changes_on_every_reconnection(
        make_bridge, redis_server, channel):
    redis_server.start()
    bridge = make_bridge(redis_server.url)
    assert bridge.connection_epoch() is None  # not listening yet: asking starts the listener
    assert bridge.running
    assert bridge.wait_healthy(2)
    first = bridge.connection_epoch()
    assert first is not None and bridge.connection_epoch() == first  # steady while connected

    redis_server.kill()
    assert wait_until(lambda: bridge.connection_epoch() is None, 2), "an outage left the epoch valid"
    redis_server.start()
    assert bridge.wait_healthy(3), "listener did not reconnect"
    # Whatever was published meanwhile is lost: the epoch says so.
    assert bridge.connection_epoch() not in (None, first)


def test_connection_epoch_stays_none_while_redis_is_unreachable(make_bridge):
    bridge = make_bridge(CLOSED_PORT_URL)
    assert bridge.connection_epoch() is None
    assert not bridge.wait_healthy(0.3)
    assert bridge.connection_epoch() is None


def test_bridge_can_be_restarted_after_stop(make_bridge, redis_url, channel):
    bridge = make_bridge(redis_url)
    sub = bridge.subscribe(channel)
    assert bridge.wait_healthy(2)
    bridge.stop()
    assert not bridge.healthy and not bridge.running
    bridge.start()
    assert bridge.wait_healthy(2)
    message = Message("pitch", 4, {})
    assert bridge.publish(channel, message)
    assert sub.get(timeout=1) == message


def test_payload_round_trip():
    message = Message("leaderboard", 12, {"rows": [{"name": "Ñandú", "score": 9.5}]})
    assert decode_message(encode_message(message)) == message
