"""Tell every screen what changed, once the change is committed.

Phase changes are published at once. Score changes are coalesced per session: fifteen judges
can store hundreds of scores a second, and each leaderboard message means ranking the whole
session, so a worker publishes the newest standings at most every ``LEADERBOARD_INTERVAL``
seconds, off the request that stored the score.
"""

from __future__ import annotations

import logging
import threading
import time

from flask import Flask, current_app

from pitchtank.core.transaction import on_commit, on_rollback
from pitchtank.extensions import db

log = logging.getLogger(__name__)
_PENDING_KEY = "pitchtank_live_pending"
LEADERBOARD_INTERVAL = 0.1


class _LeaderboardPublisher:
    """At most one pending publication per session; it always reads the newest state."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._scheduled: set[int] = set()
        self._last: dict[int, float] = {}

    def request(self, app: Flask, session_id: int) -> None:
        with self._lock:
            if session_id in self._scheduled:
                return  # the pending run will read this change too
            self._scheduled.add(session_id)
            delay = max(0.0, self._last.get(session_id, 0.0) + LEADERBOARD_INTERVAL - time.monotonic())
        timer = threading.Timer(delay, self._run, (app, session_id))
        timer.daemon = True
        timer.start()

    def _run(self, app: Flask, session_id: int) -> None:
        with self._lock:
            self._scheduled.discard(session_id)
            self._last[session_id] = time.monotonic()
        _publish(app, session_id, "leaderboard")


_leaderboard = _LeaderboardPublisher()


def _schedule(session_id: int, event: str) -> None:
    # One notice per session and kind per transaction, however many rows changed.
    pending: set = db.session.info.setdefault(_PENDING_KEY, set())
    if (session_id, event) in pending:
        return
    pending.add((session_id, event))
    app = current_app._get_current_object()

    def after_commit() -> None:
        pending.discard((session_id, event))
        if event == "pitch":  # the show moved on: readers here must not use the old visibility
            from pitchtank.judging.results import board_states

            board_states.forget(session_id)
        if event == "leaderboard":
            _leaderboard.request(app, session_id)
        else:
            _publish(app, session_id, event)

    on_commit(db.session, after_commit)
    on_rollback(db.session, lambda: pending.discard((session_id, event)))


def after_commit_pitch_changed(session_id: int) -> None:
    _schedule(session_id, "pitch")


def after_commit_leaderboard_changed(session_id: int) -> None:
    _schedule(session_id, "leaderboard")


def _publish(app: Flask, session_id: int, event: str) -> None:
    from pitchtank.judging import live_state

    with app.app_context():
        try:
            live_state.publish_current(session_id, event)
        except Exception:  # screens fall back to polling; the committed change is safe
            log.exception("could not publish %s for session %s", event, session_id)
        finally:
            db.session.remove()
