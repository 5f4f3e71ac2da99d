"""The Flask-facing facade: ``init_app``, ``publish`` and ``subscribe``."""

from __future__ import annotations

import pytest
from flask import Flask

from pitchtank import live
from pitchtank.live import LiveBroker, Message


def _app(redis_url: str | None) -> Flask:
    app = Flask(__name__)
    app.config["REDIS_URL"] = redis_url
    live.init_app(app)
    return app


@pytest.fixture
def broker_of():
    """The broker of a test app, closed afterwards so no listener thread outlives the test."""
    brokers: list[LiveBroker] = []

    def of(app: Flask) -> LiveBroker:
        brokers.append(app.extensions["live"])
        return brokers[-1]

    yield of
    for broker in brokers:
        broker.close()


def test_channel_for_session():
    assert live.channel_for_session(42) == "session:42"


def test_in_process_delivery_without_redis(broker_of):
    app = _app(None)
    broker = broker_of(app)
    assert broker.bridge is None and broker.healthy
    with app.app_context(), live.subscribe(live.channel_for_session(42)) as sub:
        assert live.publish("session:42", "leaderboard", 1, {"rows": []}) is True
        assert sub.get(timeout=1) == Message("leaderboard", 1, {"rows": []})
        assert broker.hub.subscriber_count("session:42") == 1


def test_delivery_through_redis(broker_of, redis_url, channel):
    app = _app(redis_url)
    broker = broker_of(app)
    assert broker.bridge is not None
    with app.app_context(), live.subscribe(channel) as sub:
        assert broker.bridge.wait_healthy(2)
        assert live.publish(channel, "pitch", 3, {"pitch_id": 8}) is True
        assert sub.get(timeout=1) == Message("pitch", 3, {"pitch_id": 8})
        assert sub.get(timeout=0.05) is None


def test_redis_outage_still_serves_this_process_and_reports_false(broker_of):
    app = _app("redis://127.0.0.1:1/0")
    broker = broker_of(app)
    with app.app_context(), live.subscribe("session:1") as sub:
        assert live.publish("session:1", "leaderboard", 1, {}) is False
        assert sub.get(timeout=1) == Message("leaderboard", 1, {})
        assert not broker.healthy
