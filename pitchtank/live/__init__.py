"""Live updates for the leaderboard and pitch screens: publish after commit, stream over SSE.

With ``REDIS_URL`` set, messages go through Redis pub/sub so that every worker process's
subscribers receive them; without it, delivery stays inside the one process (development).
Typical use::

    db.session.commit()
    live.publish(live.channel_for_session(session.id), "leaderboard", version, snapshot)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Flask, current_app

from pitchtank.live.hub import LiveHub, Message, Subscription
from pitchtank.live.redis_bridge import CHANNEL_PREFIX, RedisBridge

__all__ = [
    "LiveBroker",
    "LiveHub",
    "Message",
    "Subscription",
    "channel_for_session",
    "init_app",
    "publish",
    "ready",
    "subscribe",
]

EXTENSION_KEY = "live"


class LiveBroker:
    """The app's live transport: a local hub, relayed through Redis when one is configured."""

    def __init__(self, redis_url: str | None = None, hub: LiveHub | None = None, *,
                 channel_prefix: str = CHANNEL_PREFIX) -> None:
        self.hub = hub if hub is not None else LiveHub()
        # When this process loses Redis, its open streams end: they would miss the other
        # processes' messages. Browsers reconnect, get 503 from ``ready`` and poll instead.
        self.bridge = (
            RedisBridge(redis_url, self.hub, on_disconnect=self.hub.close_all, channel_prefix=channel_prefix)
            if redis_url else None
        )

    @property
    def healthy(self) -> bool:
        """False while the Redis listener is down; always True for in-process delivery."""
        return self.bridge is None or self.bridge.healthy

    def ready(self, timeout: float) -> bool:
        """Whether streams can be served: starts the Redis listener and waits up to ``timeout``
        seconds for it to subscribe. Always True for in-process delivery."""
        if self.bridge is None:
            return True
        self.bridge.start()
        return self.bridge.wait_healthy(timeout)

    def delivery_epoch(self) -> int | None:
        """For state that other processes' messages keep up to date (an invalidated cache):
        None while their messages may be missed (the Redis listener is down, or still starting:
        it is started here), else a number that changes whenever some may have been missed
        since (the listener reconnected). Always 0 for in-process delivery."""
        return 0 if self.bridge is None else self.bridge.connection_epoch()

    def listen(self, channel: str, callback: Callable[[Message], None]) -> None:
        """Call ``callback`` with every message published on ``channel`` by any process (see
        ``LiveHub.listen``); with Redis, the listener is started by ``delivery_epoch``."""
        self.hub.listen(channel, callback)

    def publish(self, channel: str, message: Message) -> bool:
        """Deliver ``message`` to all subscribers of ``channel``; False if Redis failed."""
        if self.bridge is None:
            self.hub.publish_local(channel, message)
            return True
        if self.bridge.publish(channel, message):
            return True
        # Redis is down: this process's own subscribers can still be served. If the failed
        # publish did reach Redis after all, the copy is dropped by id in the SSE stream.
        self.hub.publish_local(channel, message)
        return False

    def subscribe(self, channel: str) -> Subscription:
        """A subscription to ``channel`` (starts the Redis listener on first use)."""
        if self.bridge is not None:
            return self.bridge.subscribe(channel)
        return self.hub.subscribe(channel)

    def close(self) -> None:
        """End every open stream and stop the Redis listener."""
        self.hub.close_all()
        if self.bridge is not None:
            self.bridge.stop()


def init_app(app: Flask) -> LiveBroker:
    """Attach a ``LiveBroker`` for ``app.config["REDIS_URL"]`` to ``app.extensions["live"]``."""
    broker = LiveBroker(app.config.get("REDIS_URL"),
                        channel_prefix=app.config.get("LIVE_CHANNEL_PREFIX") or CHANNEL_PREFIX)
    app.extensions[EXTENSION_KEY] = broker
    return broker


def _broker() -> LiveBroker:
    return current_app.extensions[EXTENSION_KEY]


def publish(channel: str, event: str, id: int, data: dict[str, Any]) -> bool:
    """Publish one live message from the current app; never raises on a Redis outage."""
    return _broker().publish(channel, Message(event=event, id=id, data=data))


def ready(timeout: float) -> bool:
    """Whether the current app can serve live streams now (Redis listener up, or no Redis)."""
    return _broker().ready(timeout)


def subscribe(channel: str) -> Subscription:
    """Subscribe to ``channel`` through the current app's broker."""
    return _broker().subscribe(channel)


def channel_for_session(session_id: int) -> str:
    """The live channel of one judging session."""
    return f"session:{session_id}"
