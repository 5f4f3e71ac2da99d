"""Tell every screen what changed, once the change is committed."""

from __future__ import annotations

import logging

from flask import current_app

from pitchtank.core.transaction import on_commit
from pitchtank.extensions import db

log = logging.getLogger(__name__)
_PENDING_KEY = "pitchtank_live_pending"


def _schedule(session_id: int, event: str) -> None:
    # One notice per session and kind per transaction, however many rows changed.
    pending: set = db.session.info.setdefault(_PENDING_KEY, set())
    if (session_id, event) in pending:
        return
    pending.add((session_id, event))
    app = current_app._get_current_object()
    on_commit(db.session, lambda: _publish(app, session_id, event))


def after_commit_pitch_changed(session_id: int) -> None:
    _schedule(session_id, "pitch")


def after_commit_leaderboard_changed(session_id: int) -> None:
    _schedule(session_id, "leaderboard")


def _publish(app, session_id: int, event: str) -> None:
    from pitchtank.judging import live_state

    db.session.info.get(_PENDING_KEY, set()).discard((session_id, event))
    with app.app_context():
        try:
            live_state.publish_current(session_id, event)
        except Exception:  # screens fall back to polling; the committed change is safe
            log.exception("could not publish %s for session %s", event, session_id)
