"""Carries live messages between processes over Redis pub/sub into each process's ``LiveHub``.

Publishing is best-effort: it runs after the score or payment is committed, so a Redis
outage must never fail the request; clients fall back to polling. One listener thread per
process receives every live channel and hands messages to the local hub.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Callable
from typing import Any

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from pitchtank.live.hub import LiveHub, Message, Subscription

logger = logging.getLogger(__name__)

CHANNEL_PREFIX = "pitchtank:live:"


def encode_message(message: Message) -> str:
    """The JSON payload sent over Redis for ``message``."""
    return json.dumps(
        {"event": message.event, "id": message.id, "data": message.data}, separators=(",", ":")
    )


def decode_message(payload: str) -> Message:
    """The ``Message`` in a Redis payload; raises ValueError (or TypeError) if malformed."""
    fields = json.loads(payload)
    if not isinstance(fields, dict) or not isinstance(fields.get("data"), dict):
        raise ValueError("payload is not a live message object")
    return Message(event=fields["event"], id=fields["id"], data=fields["data"])


class RedisBridge:
    """Publishes live messages to Redis and relays Redis messages to a local ``LiveHub``."""

    def __init__(
        self,
        redis_url: str,
        hub: LiveHub,
        *,
        timeout_seconds: float = 1.0,
        min_backoff: float = 0.5,
        max_backoff: float = 5.0,
        poll_seconds: float = 0.5,
        ping_seconds: float = 10.0,
        on_disconnect: Callable[[], None] | None = None,
        channel_prefix: str = CHANNEL_PREFIX,
    ) -> None:
        self.hub = hub
        # Pub/sub ignores Redis database numbers: deployments sharing one Redis server keep
        # apart only by their channel names.
        self.channel_prefix = channel_prefix
        self.on_disconnect = on_disconnect
        """Called (on the listener thread) each time a subscribed listener loses Redis."""
        self.min_backoff = min_backoff
        self.max_backoff = max_backoff
        self.poll_seconds = poll_seconds
        self.ping_seconds = ping_seconds
        # No client-side retries: a publish must fail fast, and the listener owns reconnection.
        self._redis = redis.Redis.from_url(
            redis_url,
            decode_responses=True,
            socket_connect_timeout=timeout_seconds,
            socket_timeout=timeout_seconds,
            socket_keepalive=True,
            retry=Retry(NoBackoff(), 0),
        )
        self._pattern = channel_prefix + "*"
        self._start_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        # One stop event per thread, so a listener that outlives stop()'s join cannot be revived.
        self._stopping = threading.Event()
        self._pid: int | None = None
        self._subscribed = threading.Event()
        # Counts the listener's confirmed subscriptions: it changes on every reconnection, after
        # which anything published while the listener was away is lost for this process.
        self._connections = 0
        self._outage_logged = False

    @property
    def healthy(self) -> bool:
        """Whether the listener is connected to Redis and receiving live channels."""
        return self._subscribed.is_set()

    @property
    def running(self) -> bool:
        """Whether this process's listener thread is alive."""
        return self._thread is not None and self._thread.is_alive() and self._pid == os.getpid()

    def connection_epoch(self) -> int | None:
        """None unless this process's listener is subscribed now (it is started if it is not
        running); otherwise a number that stays the same for as long as the listener has not
        missed a message, and changes every time it reconnects. State kept up to date by
        messages (a cache emptied by other processes' invalidations) is trustworthy only while
        this is not None and unchanged since the state was built."""
        if not self.running:
            self.start()
            return None
        before = self._connections
        # Read around ``healthy``: a reconnection in between (whose count is bumped before the
        # listener reports healthy again) makes the two reads differ.
        if not self.healthy or self._connections != before:
            return None
        return before

    def publish(self, channel: str, message: Message) -> bool:
        """Send ``message`` to every process's subscribers of ``channel``; False if Redis failed."""
        payload = encode_message(message)  # outside the try: unserializable data is a bug
        try:
            self._redis.publish(self.channel_prefix + channel, payload)
        except (redis.RedisError, OSError) as error:
            logger.warning("live: publish to %s failed (Redis unreachable?): %s", channel, error)
            return False
        return True

    def subscribe(self, channel: str) -> Subscription:
        """A hub subscription to ``channel``, starting the listener if it is not running."""
        self.start()
        return self.hub.subscribe(channel)

    def start(self) -> None:
        """Start the listener thread unless this process already runs one."""
        with self._start_lock:
            # A thread does not survive fork(): a worker forked after start() gets its own.
            if self.running:
                return
            self._stopping = threading.Event()
            self._pid = os.getpid()
            self._thread = threading.Thread(
                target=self._listen_forever,
                args=(self._stopping,),
                name=f"pitchtank-live-redis-{id(self):x}",
                daemon=True,
            )
            self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the listener and wait for its thread to end (tests, shutdown)."""
        with self._start_lock:
            thread, self._thread = self._thread, None
            self._stopping.set()
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
        self._subscribed.clear()

    def wait_healthy(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for the listener to be subscribed; the final state."""
        return self._subscribed.wait(timeout)

    def _listen_forever(self, stopping: threading.Event) -> None:
        backoff = self.min_backoff
        while not stopping.is_set():
            try:
                self._listen_once(stopping)
            except (redis.RedisError, OSError) as error:
                # Warn once per outage; the retries every few seconds would only add noise.
                if self.healthy or not self._outage_logged:
                    logger.warning("live: Redis listener disconnected, retrying: %s", error)
                    self._outage_logged = True
            except Exception:
                # Never let the listener die: live updates would stop silently for this process.
                logger.exception("live: unexpected error in the Redis listener")
            was_healthy = self.healthy
            self._subscribed.clear()
            if was_healthy:
                backoff = self.min_backoff
                if not stopping.is_set():
                    self._disconnected()
            if stopping.wait(backoff):
                break
            backoff = min(backoff * 2, self.max_backoff)

    def _disconnected(self) -> None:
        if self.on_disconnect is None:
            return
        try:
            self.on_disconnect()
        except Exception:
            logger.exception("live: the disconnect callback failed")

    def _listen_once(self, stopping: threading.Event) -> None:
        pubsub = self._redis.pubsub()
        try:
            pubsub.psubscribe(self._pattern)
            last_seen = time.monotonic()
            ping_sent = False
            while not stopping.is_set():
                item = pubsub.get_message(timeout=self.poll_seconds)
                now = time.monotonic()
                if item is not None:
                    last_seen, ping_sent = now, False
                    self._handle(item)
                elif now - last_seen > self.ping_seconds:
                    # A silently dropped connection (NAT, failover) never raises: probe it.
                    if ping_sent:
                        raise redis.ConnectionError("no reply to PING from Redis")
                    pubsub.ping()
                    last_seen, ping_sent = now, True
        finally:
            pubsub.close()

    def _handle(self, item: dict[str, Any]) -> None:
        kind = item["type"]
        if kind == "psubscribe":
            # Healthy only once Redis confirms: messages published from now on will reach us.
            if self._outage_logged:
                logger.info("live: Redis listener reconnected")
                self._outage_logged = False
            self._connections += 1  # before healthy: see ``connection_epoch``
            self._subscribed.set()
        elif kind == "pmessage":
            channel = str(item["channel"]).removeprefix(self.channel_prefix)
            try:
                message = decode_message(item["data"])
            except (ValueError, TypeError, KeyError) as error:
                logger.warning("live: ignored malformed message on %s: %s", channel, error)
                return
            self.hub.publish_local(channel, message)
