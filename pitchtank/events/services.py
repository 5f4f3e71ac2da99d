"""Events: the call for pitches, decisions on applications, sessions and running orders."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from pitchtank.accounts.models import Role, User
from pitchtank.accounts.verification import require_verified_email
from pitchtank.core.errors import Conflict, NotFound, ValidationFailed
from pitchtank.core.types import utcnow
from pitchtank.events.models import (
    EVENT_NAME_MAX,
    NOTE_MAX,
    PITCH_MINUTES_MAX,
    QA_MINUTES_MAX,
    SESSION_TITLE_MAX,
    VENUE_MAX,
    Event,
    Pitch,
    PitchSession,
    SessionJudge,
    SessionStatus,
    Submission,
    SubmissionStatus,
)
from pitchtank.extensions import db
from pitchtank.notices import facts
from pitchtank.ventures.models import LONG_TEXT_MAX, Venture


@dataclass(frozen=True)
class EventData:
    name: str
    venue: str
    starts_at: datetime
    ends_at: datetime
    submissions_open_at: datetime
    submissions_close_at: datetime
    description: str = ""


@dataclass(frozen=True)
class SessionData:
    title: str
    starts_at: datetime
    pitch_minutes: int
    qa_minutes: int


def _text_errors(errors: dict, field: str, value: str, limit: int, required: bool = True) -> None:
    if required and not value:
        errors[field] = [_("This field is required.")]
    elif len(value) > limit:
        errors[field] = [_("Use at most %(n)s characters.", n=limit)]


def check_event_data(data: EventData) -> EventData:
    data = replace(data, name=data.name.strip(), venue=data.venue.strip(),
                   description=data.description.strip())
    errors: dict[str, list[str]] = {}
    _text_errors(errors, "name", data.name, EVENT_NAME_MAX)
    _text_errors(errors, "venue", data.venue, VENUE_MAX)
    _text_errors(errors, "description", data.description, LONG_TEXT_MAX, required=False)
    if data.ends_at < data.starts_at:
        errors["ends_at"] = [_("The event must end after it starts.")]
    if data.submissions_close_at <= data.submissions_open_at:
        errors["submissions_close_at"] = [_("Applications must close after they open.")]
    elif data.submissions_close_at > data.ends_at:
        errors["submissions_close_at"] = [_("Applications must close before the event ends.")]
    if errors:
        raise ValidationFailed(errors, _("Some fields are not valid."))
    return data


def create_event(actor: User, data: EventData) -> Event:
    """A new event with its call for pitches; the caller commits."""
    event = Event(created_by_id=actor.id, **vars(check_event_data(data)))
    db.session.add(event)
    db.session.flush()
    return event


def update_event(event: Event, data: EventData) -> Event:
    for name, value in vars(check_event_data(data)).items():
        setattr(event, name, value)
    db.session.flush()
    return event


def check_session_data(event: Event, data: SessionData) -> SessionData:
    data = replace(data, title=data.title.strip())
    errors: dict[str, list[str]] = {}
    _text_errors(errors, "title", data.title, SESSION_TITLE_MAX)
    if not 1 <= data.pitch_minutes <= PITCH_MINUTES_MAX:
        errors["pitch_minutes"] = [_("Between 1 and %(n)s minutes.", n=PITCH_MINUTES_MAX)]
    if not 0 <= data.qa_minutes <= QA_MINUTES_MAX:
        errors["qa_minutes"] = [_("Between 0 and %(n)s minutes.", n=QA_MINUTES_MAX)]
    if not event.starts_at <= data.starts_at <= event.ends_at:
        errors["starts_at"] = [_("The session must start during the event.")]
    if errors:
        raise ValidationFailed(errors, _("Some fields are not valid."))
    return data


def create_session(event: Event, data: SessionData) -> PitchSession:
    session = PitchSession(event=event, **vars(check_session_data(event, data)))
    db.session.add(session)
    db.session.flush()
    return session


def update_session(session: PitchSession, data: SessionData) -> PitchSession:
    if session.status != SessionStatus.SCHEDULED:
        raise Conflict(_("A session that has started cannot be rescheduled."))
    for name, value in vars(check_session_data(session.event, data)).items():
        setattr(session, name, value)
    db.session.flush()
    return session


def get_event(event_id: int) -> Event:
    event = db.session.get(Event, event_id)
    if event is None:
        raise NotFound(_("That event does not exist."))
    return event


def get_session(session_id: int) -> PitchSession:
    session = db.session.get(PitchSession, session_id)
    if session is None:
        raise NotFound(_("That session does not exist."))
    return session


def get_session_for_reading(session_id: int) -> PitchSession:
    """A session with its running order, ventures and judges loaded in a few queries instead of
    several per pitch: screens poll it while live push is down."""
    session = db.session.scalars(
        select(PitchSession).where(PitchSession.id == session_id).options(
            selectinload(PitchSession.pitches).selectinload(Pitch.submission).selectinload(Submission.venture),
            selectinload(PitchSession.judge_assignments).selectinload(SessionJudge.user),
        )
    ).one_or_none()
    if session is None:
        raise NotFound(_("That session does not exist."))
    return session


def get_submission(submission_id: int) -> Submission:
    submission = db.session.get(Submission, submission_id)
    if submission is None:
        raise NotFound(_("That application does not exist."))
    return submission


def upcoming_events(now: datetime | None = None) -> list[Event]:
    """Events that have not ended, soonest first."""
    now = now or utcnow()
    return list(db.session.scalars(select(Event).where(Event.ends_at > now).order_by(Event.starts_at)))


def past_events(now: datetime | None = None) -> list[Event]:
    now = now or utcnow()
    return list(db.session.scalars(select(Event).where(Event.ends_at <= now).order_by(Event.starts_at.desc())))


def apply(venture: Venture, event: Event, actor: User, now: datetime | None = None) -> Submission:
    """Apply a venture to an event while its window is open; once per venture and event."""
    now = now or utcnow()
    if venture.owner_id != actor.id:
        raise NotFound(_("That venture does not exist."))
    require_verified_email(actor)
    if not event.accepts_submissions_at(now):
        raise ValidationFailed(
            {"event_id": [_("Applications for this event are closed.")]},
            _("Applications for this event are closed."),
        )
    existing = db.session.scalar(
        select(Submission).where(Submission.venture_id == venture.id, Submission.event_id == event.id)
    )
    if existing is not None:
        if existing.status != SubmissionStatus.WITHDRAWN:
            raise Conflict(_("This venture has already applied to this event."))
        existing.status = SubmissionStatus.PENDING  # re-applying after a withdrawal
        existing.decision_note = ""
        existing.decided_at = None
        existing.decided_by_id = None
        db.session.flush()
        return existing
    submission = Submission(venture=venture, event=event)
    db.session.add(submission)
    db.session.flush()
    return submission


def withdraw(submission: Submission, actor: User) -> Submission:
    """The entrepreneur takes an application back, unless its pitch is already under way."""
    if submission.venture.owner_id != actor.id:
        raise NotFound(_("That application does not exist."))
    if submission.status in {SubmissionStatus.WITHDRAWN, SubmissionStatus.REJECTED}:
        raise Conflict(_("This application can no longer be withdrawn."))
    _release_pitch(submission)
    submission.status = SubmissionStatus.WITHDRAWN
    db.session.flush()
    return submission


def _release_pitch(submission: Submission) -> None:
    pitch = submission.pitch
    if pitch is None:
        return
    if pitch.session.status != SessionStatus.SCHEDULED:
        raise Conflict(_("The pitch is part of a session that has already started."))
    session = pitch.session
    session.pitches.remove(pitch)
    db.session.delete(pitch)
    db.session.flush()
    _renumber(session, [p.submission_id for p in session.pitches])


def decide(submission: Submission, *, accept: bool, note: str, actor: User) -> Submission:
    """Accept or reject an application, with an optional note to the entrepreneur."""
    note = (note or "").strip()
    if len(note) > NOTE_MAX:
        raise ValidationFailed({"note": [_("Use at most %(n)s characters.", n=NOTE_MAX)]})
    if submission.status == SubmissionStatus.WITHDRAWN:
        raise Conflict(_("The entrepreneur withdrew this application."))
    target = SubmissionStatus.ACCEPTED if accept else SubmissionStatus.REJECTED
    if submission.status == target:
        raise Conflict(_("This application was already decided that way."))
    if not accept:
        _release_pitch(submission)
    submission.status = target
    submission.decision_note = note
    submission.decided_at = utcnow()
    submission.decided_by_id = actor.id
    db.session.flush()
    facts.application_decided(submission)
    return submission


def set_running_order(session: PitchSession, submission_ids: Sequence[int]) -> list[Pitch]:
    """Make ``submission_ids`` the session's running order, keeping existing pitches' ids."""
    if session.status != SessionStatus.SCHEDULED:
        raise Conflict(_("The running order is fixed once the session has started."))
    errors: list[str] = []
    if len(set(submission_ids)) != len(submission_ids):
        errors.append(_("A venture can appear only once in the running order."))
    submissions = {
        s.id: s for s in db.session.scalars(select(Submission).where(Submission.id.in_(submission_ids)))
    }
    for submission_id in submission_ids:
        submission = submissions.get(submission_id)
        if submission is None or submission.event_id != session.event_id:
            errors.append(_("Application %(id)s is not part of this event.", id=submission_id))
        elif submission.status != SubmissionStatus.ACCEPTED:
            errors.append(_("Only accepted applications can pitch (application %(id)s).", id=submission_id))
        elif submission.pitch is not None and submission.pitch.session_id != session.id:
            errors.append(_("%(venture)s already pitches in another session.", venture=submission.venture.name))
    if errors:
        raise ValidationFailed({"submission_ids": errors}, _("The running order is not valid."))
    for pitch in list(session.pitches):
        if pitch.submission_id not in submissions:
            session.pitches.remove(pitch)
            db.session.delete(pitch)
    db.session.flush()
    return _renumber(session, list(submission_ids))


def _renumber(session: PitchSession, submission_ids: list[int]) -> list[Pitch]:
    by_submission = {p.submission_id: p for p in session.pitches}
    # Two passes so that no flush ever sees two pitches at one position.
    for offset, pitch in enumerate(by_submission.values(), start=1):
        pitch.position = 100_000 + offset
    db.session.flush()
    ordered = []
    for position, submission_id in enumerate(submission_ids, start=1):
        pitch = by_submission.get(submission_id)
        if pitch is None:
            pitch = Pitch(session=session, submission_id=submission_id, position=position)
            db.session.add(pitch)
        pitch.position = position
        ordered.append(pitch)
    db.session.flush()
    db.session.refresh(session, ["pitches"])
    return ordered


def move_pitch(session: PitchSession, pitch_id: int, step: int) -> None:
    """Move one pitch up (step -1) or down (+1) in the running order."""
    order = [p.submission_id for p in session.pitches]
    index = next((i for i, p in enumerate(session.pitches) if p.id == pitch_id), None)
    if index is None:
        raise NotFound(_("That pitch is not in this session."))
    target = index + step
    if 0 <= target < len(order):
        order[index], order[target] = order[target], order[index]
        set_running_order(session, order)


def set_judges(session: PitchSession, user_ids: Sequence[int]) -> list[User]:
    """Make ``user_ids`` the session's judges; each must have the judge role."""
    if session.status in {SessionStatus.ENDED, SessionStatus.PUBLISHED}:
        raise Conflict(_("The judges of a finished session cannot change."))
    wanted = list(dict.fromkeys(user_ids))
    users = {u.id: u for u in db.session.scalars(select(User).where(User.id.in_(wanted)))}
    not_judges = [uid for uid in wanted if uid not in users or not users[uid].has_role(Role.JUDGE)]
    if not_judges:
        raise ValidationFailed(
            {"user_ids": [_("These users are not judges: %(ids)s.", ids=", ".join(map(str, not_judges)))]},
            _("Only users with the judge role can judge a session."),
        )
    for assignment in list(session.judge_assignments):
        if assignment.user_id not in users:
            session.judge_assignments.remove(assignment)
    present = {a.user_id for a in session.judge_assignments}
    for uid in wanted:
        if uid not in present:
            session.judge_assignments.append(SessionJudge(user_id=uid))
    db.session.flush()
    return [users[uid] for uid in wanted]


def submissions_of_event(event: Event) -> list[Submission]:
    return sorted(event.submissions, key=lambda s: (s.status != SubmissionStatus.PENDING, s.created_at))


def submissions_of_owner(owner: User) -> list[Submission]:
    return list(
        db.session.scalars(
            select(Submission).join(Venture).where(Venture.owner_id == owner.id).order_by(Submission.created_at.desc())
        )
    )
