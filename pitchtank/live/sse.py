"""Server-Sent Events: wire formatting and the per-connection stream generator."""

from __future__ import annotations

import random
import time
from collections.abc import Iterable, Iterator

from pitchtank.core.metrics import LIVE_VIEWERS, STREAM_EVENTS_SENT
from pitchtank.live.hub import Message, Subscription

RECONNECT_MS = 3000
# Each stream tells its browser a reconnect delay of RECONNECT_MS plus up to this much, and
# ends a little before ``max_seconds``: a thousand phones that connected together (or lost
# Wi-Fi together) then come back spread over seconds instead of in one burst.
RECONNECT_JITTER_MS = 4000
DEADLINE_JITTER = 0.1
HEARTBEAT_TEXT = "ping"


def format_sse(message: Message) -> str:
    """``message`` as one SSE event: id, event and one line of compact JSON data."""
    return message.sse_text()


def comment(text: str) -> str:
    """An SSE comment (ignored by EventSource), used as a heartbeat to keep proxies open."""
    return "".join(f": {line}\n" for line in text.splitlines() or [""]) + "\n"


def retry(ms: int) -> str:
    """The SSE field telling EventSource how long to wait before reconnecting."""
    return f"retry: {int(ms)}\n\n"


def event_stream(
    subscription: Subscription,
    initial: Iterable[Message],
    *,
    heartbeat_seconds: float = 15.0,
    max_seconds: float | None = None,
    jitter: bool = False,
    as_bytes: bool = False,
) -> Iterator[str] | Iterator[bytes]:
    """SSE text for one client: ``initial`` snapshots, then live messages and heartbeats.

    Subscribe before reading the snapshots passed as ``initial``: a message published in
    between then arrives twice and the copy is dropped by id, instead of being lost.
    The stream closes ``subscription`` when it ends. It ends after ``max_seconds`` (the
    browser reconnects, which recycles the worker's connection) or when the subscription
    is closed. A generator that is never started cannot close anything, so also register
    ``response.call_on_close(subscription.close)`` on the Flask response.

    ``jitter`` spreads reconnections (see ``RECONNECT_JITTER_MS``); ``as_bytes`` yields each
    message's UTF-8 text encoded once for all its viewers, as the WSGI server sends it.
    """
    if jitter and max_seconds is not None:
        max_seconds *= 1 - random.random() * DEADLINE_JITTER  # noqa: S311  # nosec B311 # spreading load, not secrecy
    deadline = None if max_seconds is None else time.monotonic() + max_seconds
    reconnect_ms = RECONNECT_MS + (random.randint(0, RECONNECT_JITTER_MS) if jitter else 0)  # noqa: S311  # nosec B311 # spreading reconnects, not secrecy
    encode = (lambda text: text.encode()) if as_bytes else (lambda text: text)
    render = (lambda message: message.sse_bytes()) if as_bytes else format_sse
    last_ids: dict[str, int] = {}

    def is_new(message: Message) -> bool:
        # Versions only grow per event type, so anything not newer is a duplicate or stale.
        if message.id <= last_ids.get(message.event, -1):
            return False
        last_ids[message.event] = message.id
        return True

    LIVE_VIEWERS.inc()  # the generator has started, so its ``finally`` runs when the client goes
    try:
        yield encode(retry(reconnect_ms))
        for message in initial:
            if is_new(message):
                STREAM_EVENTS_SENT.labels(message.event).inc()
                yield render(message)
        last_write = time.monotonic()
        while True:
            now = time.monotonic()
            if deadline is not None and now >= deadline:
                return
            wait = heartbeat_seconds - (now - last_write)
            if deadline is not None:
                wait = min(wait, deadline - now)
            message = subscription.get(timeout=wait)
            if message is not None:
                if is_new(message):
                    STREAM_EVENTS_SENT.labels(message.event).inc()
                    yield render(message)
                    last_write = time.monotonic()
            elif subscription.closed:
                return
            elif time.monotonic() - last_write >= heartbeat_seconds:
                yield encode(comment(HEARTBEAT_TEXT))
                last_write = time.monotonic()
    finally:
        LIVE_VIEWERS.dec()
        subscription.close()
