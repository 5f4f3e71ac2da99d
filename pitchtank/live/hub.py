"""In-process fan-out of live messages to the subscribers of named channels.

Only ``threading`` primitives are used, so the hub works with OS threads and, unchanged,
with greenlets once gevent has monkey-patched ``threading``.
"""

from __future__ import annotations

import json
import logging
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

logger = logging.getLogger(__name__)

DEFAULT_QUEUE_SIZE = 256


@dataclass(frozen=True, slots=True)
class Message:
    """One live update: an event type, its per-channel version and a JSON-serializable body."""

    event: str
    id: int
    data: dict[str, Any] = field(default_factory=dict)
    # The SSE text, encoded once however many viewers receive the message.
    _sse: str | None = field(default=None, init=False, compare=False, repr=False)
    _sse_bytes: bytes | None = field(default=None, init=False, compare=False, repr=False)

    def sse_text(self) -> str:
        """The message as one SSE event: id, event and one line of compact JSON data."""
        if self._sse is None:
            # json.dumps escapes CR and LF inside strings, so the data always stays on one line.
            data = json.dumps(self.data, separators=(",", ":"), ensure_ascii=False)
            object.__setattr__(self, "_sse", f"id: {self.id}\nevent: {self.event}\ndata: {data}\n\n")
        return self._sse

    def sse_bytes(self) -> bytes:
        """``sse_text`` encoded as UTF-8, also once for every viewer."""
        if self._sse_bytes is None:
            object.__setattr__(self, "_sse_bytes", self.sse_text().encode())
        return self._sse_bytes

    def __post_init__(self) -> None:
        # The event name becomes an SSE field: a line break in it would forge other fields.
        if not self.event or "\n" in self.event or "\r" in self.event:
            raise ValueError(f"invalid event name: {self.event!r}")
        if isinstance(self.id, bool) or not isinstance(self.id, int) or self.id < 0:
            raise ValueError(f"message id must be a non-negative int, got {self.id!r}")


class Subscription:
    """One subscriber's bounded queue on one channel; use as a context manager."""

    def __init__(self, hub: LiveHub, channel: str, maxsize: int) -> None:
        self.channel = channel
        self.dropped = 0
        """Messages discarded because this subscriber fell behind (for metrics)."""
        self._hub = hub
        # deque(maxlen) discards the oldest entry on overflow: the newest snapshot is what counts.
        self._queue: deque[Message] = deque(maxlen=maxsize)
        self._ready = threading.Condition(threading.Lock())
        self._closed = False

    @property
    def closed(self) -> bool:
        """Whether ``close`` has been called (by the caller or by ``LiveHub.close_all``)."""
        return self._closed

    def get(self, timeout: float) -> Message | None:
        """The next message, or None after ``timeout`` seconds or once closed."""
        with self._ready:
            # wait_for re-checks the predicate, so spurious wake-ups cannot return early.
            self._ready.wait_for(lambda: self._queue or self._closed, timeout=max(timeout, 0.0))
            if self._closed or not self._queue:
                return None
            return self._queue.popleft()

    def close(self) -> None:
        """Stop receiving messages and wake up a blocked ``get``; safe to call twice."""
        with self._ready:
            if self._closed:
                return
            self._closed = True
            self._queue.clear()
            self._ready.notify_all()
        self._hub._remove(self)

    def _deliver(self, message: Message) -> None:
        with self._ready:
            if self._closed:
                return
            if len(self._queue) == self._queue.maxlen:
                self.dropped += 1
            self._queue.append(message)
            self._ready.notify()

    def __enter__(self) -> Subscription:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<Subscription {self.channel!r} queued={len(self._queue)} closed={self._closed}>"


class LiveHub:
    """Delivers each published message to every current subscriber of its channel."""

    def __init__(self, queue_size: int = DEFAULT_QUEUE_SIZE) -> None:
        if queue_size < 1:
            raise ValueError("queue_size must be at least 1")
        self.queue_size = queue_size
        self._lock = threading.Lock()
        self._channels: dict[str, set[Subscription]] = {}
        self._listeners: dict[str, list[Callable[[Message], None]]] = {}

    def subscribe(self, channel: str) -> Subscription:
        """A new subscription to ``channel``; close it (or use ``with``) when done."""
        subscription = Subscription(self, channel, self.queue_size)
        with self._lock:
            self._channels.setdefault(channel, set()).add(subscription)
        return subscription

    def listen(self, channel: str, callback: Callable[[Message], None]) -> None:
        """Call ``callback(message)`` for every message on ``channel``, for the hub's lifetime.

        For in-process consumers such as cache invalidation, not for streams: the callback runs
        on the publishing thread (the Redis listener's, for other processes' messages), so it
        must be quick and must not block. An exception in it is logged and delivery goes on.
        """
        with self._lock:
            self._listeners.setdefault(channel, []).append(callback)

    def publish_local(self, channel: str, message: Message) -> int:
        """Queue ``message`` for this process's subscribers of ``channel``; never blocks on them."""
        with self._lock:
            # Copy under the lock, deliver outside it: publishers never wait on one another's fan-out.
            subscribers = tuple(self._channels.get(channel, ()))
            listeners = tuple(self._listeners.get(channel, ()))
        for callback in listeners:
            try:
                callback(message)
            except Exception:
                logger.exception("live: a listener of %s failed", channel)
        for subscription in subscribers:
            subscription._deliver(message)
        return len(subscribers)

    def subscriber_count(self, channel: str | None = None) -> int:
        """Open subscriptions on ``channel``, or on all channels when None."""
        with self._lock:
            if channel is not None:
                return len(self._channels.get(channel, ()))
            return sum(len(subscribers) for subscribers in self._channels.values())

    def close_all(self) -> None:
        """Close every subscription (shutdown): their streams end and browsers reconnect."""
        with self._lock:
            subscriptions = [s for subscribers in self._channels.values() for s in subscribers]
        for subscription in subscriptions:
            subscription.close()

    def _remove(self, subscription: Subscription) -> None:
        with self._lock:
            subscribers = self._channels.get(subscription.channel)
            if subscribers is None:
                return
            subscribers.discard(subscription)
            # Drop empty channels so per-session channels do not accumulate over an event.
            if not subscribers:
                del self._channels[subscription.channel]
