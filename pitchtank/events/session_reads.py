"""The public JSON of a session, built once per state version and shared by every reader.

Screens poll ``GET /api/v1/sessions/{id}`` while live push is down: a thousand phones every
five seconds. Building the body takes a dozen queries and milliseconds of CPU; checking the
session's ``state_version`` takes one indexed lookup. Every phase change, scoring change,
judge or rubric change bumps that version (``judging/scoring_rules.py``), so those show at
once; edits that do not (a venture's new name, a session's new title) show within
``SESSION_READ_MAX_STALENESS`` seconds, the age after which a body is rebuilt anyway.
"""

from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import dataclass
from time import monotonic

from flask import current_app


@dataclass(frozen=True)
class SessionBody:
    state_version: int
    body: bytes
    etag: str
    built_at: float


class _SessionBodyCache:
    def __init__(self) -> None:
        self._items: dict[int, SessionBody] = {}
        self._lock = threading.Lock()

    def get(self, session_id: int, state_version: int, max_age: float) -> SessionBody | None:
        cached = self._items.get(session_id)
        if cached is None or cached.state_version != state_version:
            return None
        if monotonic() - cached.built_at >= max_age:
            return None
        return cached

    def put(self, session_id: int, item: SessionBody) -> None:
        with self._lock:
            if len(self._items) > 10_000:
                self._items.clear()
            self._items[session_id] = item

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


cache = _SessionBodyCache()


def session_body(session_id: int, version: int, build) -> SessionBody:
    """The encoded body for ``session_id`` at ``version``: cached, or ``build()`` (a dict) encoded."""
    max_age = current_app.config["SESSION_READ_MAX_STALENESS"]
    if max_age > 0 and (cached := cache.get(session_id, version, max_age)) is not None:
        return cached
    body = json.dumps(build(), ensure_ascii=False, separators=(",", ":")).encode()
    item = SessionBody(version, body, hashlib.sha256(body).hexdigest()[:32], monotonic())
    if max_age > 0:
        cache.put(session_id, item)
    return item
