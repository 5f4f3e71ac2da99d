"""What the screens receive: the current pitch and the standings, as versioned messages."""

from __future__ import annotations

import time
from typing import Any

from flask_login import current_user

from pitchtank import live
from pitchtank.accounts.models import Role
from pitchtank.core.types import utcnow
from pitchtank.events.models import PitchSession, SessionStatus
from pitchtank.extensions import db
from pitchtank.judging import results


def pitch_state(session: PitchSession) -> dict[str, Any]:
    current = session.current_pitch
    return {
        "session_id": session.id,
        "status": session.status.value,
        "version": session.state_version,
        "leaderboard_public": session.leaderboard_public,
        "server_time": utcnow().isoformat(),
        "current_pitch": None if current is None else {
            "id": current.id,
            "position": current.position,
            "venture": {"id": current.venture.id, "name": current.venture.name,
                        "tagline": current.venture.tagline},
            "phase": session.phase.value if session.phase else None,
            "phase_ends_at": session.phase_ends_at.isoformat() if session.phase_ends_at else None,
            "paused_remaining_seconds": session.paused_remaining_seconds,
            "scoring": current.scoring.value,
        },
        "scoring_open_pitch_ids": [p.id for p in session.pitches if p.scoring.value == "open"],
    }


def visible_to_audience(status: SessionStatus, leaderboard_public: bool) -> bool:
    if status == SessionStatus.PUBLISHED:
        return True
    return status in {SessionStatus.LIVE, SessionStatus.ENDED} and leaderboard_public


def leaderboard_visible_to_audience(session: PitchSession) -> bool:
    return visible_to_audience(session.status, session.leaderboard_public)


def may_watch(status: SessionStatus, leaderboard_public: bool) -> bool:
    """Anyone while the leaderboard is shown; organizers always."""
    if visible_to_audience(status, leaderboard_public):
        return True
    return current_user.is_authenticated and current_user.has_role(Role.ORGANIZER)


def can_watch(session: PitchSession) -> bool:
    return may_watch(session.status, session.leaderboard_public)


def cursor(session: PitchSession) -> int:
    """The SSE event id: it grows with every change of either kind, so one Last-Event-ID
    tells whether a reconnecting screen has missed anything."""
    return (session.state_version or 0) + (session.scores_version or 0)


def leaderboard_message_data(session: PitchSession) -> dict[str, Any]:
    standings = results.standings(session)
    if leaderboard_visible_to_audience(session):
        return standings.as_dict()
    return {"session_id": session.id, "version": standings.version, "published": False, "hidden": True,
            "entries": [], "tie_break_rule": standings.tie_break_rule}


OPENING_MAX_AGE = 5.0  # venture names and taglines may change without a new version
_openings: dict[int, tuple[tuple, float, dict[str, Any], live.Message]] = {}


def messages_for(session: PitchSession, last_event_id: str = "") -> list[live.Message]:
    """The snapshots a (re)connecting screen needs; none if it has already seen the newest.

    Built once per version of the session and shared by every screen that connects meanwhile
    (a thousand phones opening the stream together cost one build and one JSON encoding of
    the leaderboard); only the pitch snapshot's ``server_time`` is fresh for each.
    """
    if last_event_id.isdigit() and int(last_event_id) >= cursor(session):
        return []
    key = (session.created_at, session.state_version, session.scores_version, session.status,
           session.leaderboard_public)
    cached = _openings.get(session.id)
    if cached is None or cached[0] != key or time.monotonic() - cached[1] >= OPENING_MAX_AGE:
        board = live.Message(event="leaderboard", id=cursor(session), data=leaderboard_message_data(session))
        cached = (key, time.monotonic(), pitch_state(session), board)
        if len(_openings) > 10_000:
            _openings.clear()
        _openings[session.id] = cached
    pitch = {**cached[2], "server_time": utcnow().isoformat()}
    return [live.Message(event="pitch", id=cursor(session), data=pitch), cached[3]]


def publish_current(session_id: int, event: str) -> None:
    session = db.session.get(PitchSession, session_id)
    if session is None:
        return
    data = pitch_state(session) if event == "pitch" else leaderboard_message_data(session)
    live.publish(live.channel_for_session(session_id), event, cursor(session), data)
