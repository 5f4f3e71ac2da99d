"""Server-Sent Events: wire formatting and the per-connection stream generator."""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator

from pitchtank.live.hub import Message, Subscription

RECONNECT_MS = 3000
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
) -> Iterator[str]:
    """SSE text for one client: ``initial`` snapshots, then live messages and heartbeats.

    Subscribe before reading the snapshots passed as ``initial``: a message published in
    between then arrives twice and the copy is dropped by id, instead of being lost.
    The stream closes ``subscription`` when it ends. It ends after ``max_seconds`` (the
    browser reconnects, which recycles the worker's connection) or when the subscription
    is closed. A generator that is never started cannot close anything, so also register
    ``response.call_on_close(subscription.close)`` on the Flask response.
    """
    deadline = None if max_seconds is None else time.monotonic() + max_seconds
    last_ids: dict[str, int] = {}

    def is_new(message: Message) -> bool:
        # Versions only grow per event type, so anything not newer is a duplicate or stale.
        if message.id <= last_ids.get(message.event, -1):
            return False
        last_ids[message.event] = message.id
        return True

    try:
        yield retry(RECONNECT_MS)
        for message in initial:
            if is_new(message):
                yield format_sse(message)
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
                    yield format_sse(message)
                    last_write = time.monotonic()
            elif subscription.closed:
                return
            elif time.monotonic() - last_write >= heartbeat_seconds:
                yield comment(HEARTBEAT_TEXT)
                last_write = time.monotonic()
    finally:
        subscription.close()
