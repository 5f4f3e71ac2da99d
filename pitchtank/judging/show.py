"""Running the show: the organizer's control of a live session, one rule-checked step at a time."""

from __future__ import annotations

from datetime import timedelta

from flask_babel import gettext as _
from sqlalchemy import select, update

from pitchtank.accounts.models import User
from pitchtank.audit.services import record
from pitchtank.core.errors import Conflict, NotFound, ValidationFailed
from pitchtank.core.types import utcnow
from pitchtank.events.models import (
    LivePhase,
    Pitch,
    PitchSession,
    PitchStatus,
    ScoringState,
    SessionStatus,
)
from pitchtank.extensions import db
from pitchtank.judging import broadcast, results
from pitchtank.judging.models import REASON_MAX, ScoreSheet
from pitchtank.judging.rubrics import MIN_CRITERIA, criteria_of
from pitchtank.notices import facts

# Every action of the show, in the order the console shows its buttons.
ACTION_NAMES = ("start", "qa", "open_scoring", "close_scoring", "next", "pause", "resume", "end", "publish",
                "show_leaderboard", "hide_leaderboard")


def lock_session(session_id: int) -> PitchSession:
    """Load a session for a state change, serialising concurrent changes on PostgreSQL."""
    session = db.session.scalar(
        select(PitchSession).where(PitchSession.id == session_id).with_for_update().execution_options(
            populate_existing=True)
    )
    if session is None:
        raise NotFound(_("That session does not exist."))
    return session


def _bump_state(session: PitchSession) -> None:
    session.state_version = (session.state_version or 0) + 1
    broadcast.after_commit_pitch_changed(session.id)


def bump_scores_version(session_id: int) -> None:
    """Count one more change to what the leaderboard shows, atomically in this transaction."""
    db.session.execute(
        update(PitchSession).where(PitchSession.id == session_id)
        .values(scores_version=PitchSession.scores_version + 1)
    )
    broadcast.after_commit_leaderboard_changed(session_id)


def _require_live(session: PitchSession) -> None:
    if session.status != SessionStatus.LIVE:
        raise Conflict(_("The session is not live."))


def _timer(session: PitchSession, minutes: int) -> None:
    session.paused_remaining_seconds = None
    session.phase_ends_at = utcnow() + timedelta(minutes=minutes) if minutes else None


def _current(session: PitchSession) -> Pitch:
    if session.current_pitch is None:
        raise Conflict(_("No pitch is on stage."))
    return session.current_pitch


def _put_on_stage(session: PitchSession, pitch: Pitch) -> None:
    pitch.status = PitchStatus.CURRENT
    session.current_pitch = pitch
    session.phase = LivePhase.PITCH
    _timer(session, session.pitch_minutes)


def start(session: PitchSession, actor: User) -> None:
    if session.status != SessionStatus.SCHEDULED:
        raise Conflict(_("The session has already started."))
    if not session.pitches:
        raise Conflict(_("Place at least one venture in the running order first."))
    if len([c for c in criteria_of(session) if c.weight > 0]) < MIN_CRITERIA:
        raise Conflict(_("Set the rubric before starting the session."))
    if not session.judge_assignments:
        raise Conflict(_("Assign the judges before starting the session."))
    session.status = SessionStatus.LIVE
    session.started_at = utcnow()
    _put_on_stage(session, session.pitches[0])


def qa(session: PitchSession, actor: User) -> None:
    _require_live(session)
    _current(session)
    if session.phase != LivePhase.PITCH:
        raise Conflict(_("Questions follow the pitch."))
    session.phase = LivePhase.QA
    _timer(session, session.qa_minutes)


def open_scoring(session: PitchSession, actor: User, pitch_id: int | None = None) -> None:
    """Open scoring for the pitch on stage, or reopen it for an earlier pitch."""
    if session.status not in {SessionStatus.LIVE, SessionStatus.ENDED}:
        raise Conflict(_("Scoring opens only while the session is live or before results are published."))
    pitch = _pitch_of(session, pitch_id) if pitch_id else _current(session)
    if pitch.scoring == ScoringState.OPEN:
        raise Conflict(_("Scoring is already open for this pitch."))
    reopening = pitch.scoring == ScoringState.CLOSED
    pitch.scoring = ScoringState.OPEN
    if pitch.id == session.current_pitch_id:
        session.phase = LivePhase.SCORING
        session.phase_ends_at = None
        session.paused_remaining_seconds = None
    if reopening:
        record("scoring.reopened", actor=actor, subject_type="pitch", subject_id=pitch.id,
               session_id=session.id)


def close_scoring(session: PitchSession, actor: User, pitch_id: int | None = None) -> None:
    pitch = _pitch_of(session, pitch_id) if pitch_id else _current(session)
    if pitch.scoring != ScoringState.OPEN:
        raise Conflict(_("Scoring is not open for this pitch."))
    pitch.scoring = ScoringState.CLOSED
    if pitch.id == session.current_pitch_id:
        session.phase = LivePhase.SCORING_CLOSED


def next_pitch(session: PitchSession, actor: User) -> None:
    _require_live(session)
    current = _current(session)
    if current.scoring == ScoringState.OPEN:
        raise Conflict(_("Close scoring for the current pitch first."))
    later = [p for p in session.pitches if p.position > current.position]
    if not later:
        raise Conflict(_("This was the last pitch: end the session."))
    current.status = PitchStatus.DONE
    _put_on_stage(session, later[0])


def pause(session: PitchSession, actor: User) -> None:
    _require_live(session)
    if session.paused_remaining_seconds is not None:
        raise Conflict(_("The timer is already paused."))
    if session.phase_ends_at is None:
        raise Conflict(_("No timer is running."))
    remaining = max(0, int((session.phase_ends_at - utcnow()).total_seconds()))
    session.paused_remaining_seconds = remaining
    session.phase_ends_at = None


def resume(session: PitchSession, actor: User) -> None:
    _require_live(session)
    if session.paused_remaining_seconds is None:
        raise Conflict(_("The timer is not paused."))
    session.phase_ends_at = utcnow() + timedelta(seconds=session.paused_remaining_seconds)
    session.paused_remaining_seconds = None


def end(session: PitchSession, actor: User) -> None:
    _require_live(session)
    if any(p.scoring == ScoringState.OPEN for p in session.pitches):
        raise Conflict(_("Close scoring before ending the session."))
    if session.current_pitch is not None:
        session.current_pitch.status = PitchStatus.DONE
    session.current_pitch = None
    session.phase = None
    session.phase_ends_at = None
    session.paused_remaining_seconds = None
    session.status = SessionStatus.ENDED
    session.ended_at = utcnow()


def publish(session: PitchSession, actor: User) -> None:
    if session.status != SessionStatus.ENDED:
        raise Conflict(_("Results are published once the session has ended, and only once."))
    if any(p.scoring == ScoringState.OPEN for p in session.pitches):
        raise Conflict(_("Close scoring before publishing the results."))
    results.freeze(session, actor)
    session.status = SessionStatus.PUBLISHED
    record("results.published", actor=actor, subject_type="session", subject_id=session.id)
    facts.results_published(session)
    bump_scores_version(session.id)


def set_leaderboard_public(session: PitchSession, actor: User, public: bool) -> None:
    session.leaderboard_public = public
    record("leaderboard.visibility", actor=actor, subject_type="session", subject_id=session.id,
           public=public)


def void_sheet(session: PitchSession, actor: User, *, pitch_id: int, judge_id: int, reason: str) -> ScoreSheet:
    """Stop one judge's scores for one pitch from counting; the reason goes to the audit log."""
    reason = (reason or "").strip()
    if not reason or len(reason) > REASON_MAX:
        raise ValidationFailed({"reason": [_("Give a reason of at most %(n)s characters.", n=REASON_MAX)]})
    if session.status == SessionStatus.PUBLISHED:
        raise Conflict(_("Published results cannot change."))
    pitch = _pitch_of(session, pitch_id)
    sheet = db.session.scalar(select(ScoreSheet).where(ScoreSheet.pitch_id == pitch.id, ScoreSheet.judge_id == judge_id))
    if sheet is None:
        raise NotFound(_("That judge has not scored this pitch."))
    if sheet.voided_at is not None:
        raise Conflict(_("These scores were already voided."))
    sheet.voided_at = utcnow()
    sheet.voided_by_id = actor.id
    sheet.void_reason = reason
    record("scores.voided", actor=actor, subject_type="pitch", subject_id=pitch.id, reason=reason,
           judge_id=judge_id, session_id=session.id)
    bump_scores_version(session.id)
    return sheet



def available_actions(session: PitchSession) -> list[str]:
    """The show's actions that fit the session's state right now (the console's buttons).

    Kept beside the actions themselves, so that a rule changes in one place.
    """
    fits: set[str] = set()
    live = session.status == SessionStatus.LIVE
    any_open = any(p.scoring == ScoringState.OPEN for p in session.pitches)
    current = session.current_pitch
    if session.status == SessionStatus.SCHEDULED:
        fits.add("start")
    if live and current is not None:
        if session.phase == LivePhase.PITCH:
            fits.add("qa")
        if current.scoring == ScoringState.OPEN:
            fits.add("close_scoring")
        else:
            fits.add("open_scoring")
            if any(p.position > current.position for p in session.pitches):
                fits.add("next")
    if live:
        if session.paused_remaining_seconds is not None:
            fits.add("resume")
        elif session.phase_ends_at is not None:
            fits.add("pause")
        if not any_open:
            fits.add("end")
    if session.status == SessionStatus.ENDED and not any_open:
        fits.add("publish")
    if session.status != SessionStatus.PUBLISHED:
        fits.add("hide_leaderboard" if session.leaderboard_public else "show_leaderboard")
    return [a for a in ACTION_NAMES if a in fits]


def pitch_actions(session: PitchSession, pitch: Pitch) -> list[str]:
    """Close or (re)open scoring for a pitch that has left the stage."""
    if pitch.id == session.current_pitch_id or pitch.status != PitchStatus.DONE:
        return []
    if pitch.scoring == ScoringState.OPEN:
        return ["close_scoring"]
    if session.status in {SessionStatus.LIVE, SessionStatus.ENDED}:
        return ["open_scoring"]
    return []


def _pitch_of(session: PitchSession, pitch_id: int) -> Pitch:
    pitch = next((p for p in session.pitches if p.id == pitch_id), None)
    if pitch is None:
        raise NotFound(_("That pitch is not in this session."))
    return pitch


ACTIONS = {
    "start": start, "qa": qa, "open_scoring": open_scoring, "close_scoring": close_scoring,
    "next": next_pitch, "pause": pause, "resume": resume, "end": end, "publish": publish,
    "show_leaderboard": lambda session, actor: set_leaderboard_public(session, actor, True),
    "hide_leaderboard": lambda session, actor: set_leaderboard_public(session, actor, False),
}


def control(session_id: int, action: str, actor: User, **params) -> PitchSession:
    """Apply one action of the show; 409 when it does not fit the session's state."""
    if action not in ACTIONS:
        raise ValidationFailed({"action": [_("Choose one of: %(choices)s.", choices=", ".join(ACTION_NAMES))]})
    session = lock_session(session_id)
    ACTIONS[action](session, actor, **params)
    _bump_state(session)
    db.session.flush()
    return session
