"""API: events, applications, sessions, running orders and judges."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from flask import current_app, jsonify, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from pydantic import Field, StrictInt

from pitchtank.accounts.models import Role
from pitchtank.api import bp
from pitchtank.api.openapi import Response, operation
from pitchtank.api.schemas import Body, Id, Out, Timestamp
from pitchtank.api.validation import parse_json
from pitchtank.core.authz import require_role
from pitchtank.core.errors import NotFound
from pitchtank.core.sessions import same_for_everyone
from pitchtank.core.types import utcnow
from pitchtank.events import services, session_reads
from pitchtank.events.models import (
    EVENT_NAME_MAX,
    NOTE_MAX,
    PITCH_MINUTES_MAX,
    QA_MINUTES_MAX,
    SESSION_TITLE_MAX,
    VENUE_MAX,
    Event,
    EventStatus,
    LivePhase,
    PitchSession,
    PitchStatus,
    ScoringState,
    SessionStatus,
    Submission,
    SubmissionStatus,
)
from pitchtank.extensions import db
from pitchtank.judging.rubrics import criteria_of
from pitchtank.judging.scoring_rules import stored_version
from pitchtank.ventures.models import LONG_TEXT_MAX, Venture

MAX_IDS = 500


class EventIn(Body):
    name: Annotated[str, Field(min_length=1, max_length=EVENT_NAME_MAX)]
    venue: Annotated[str, Field(min_length=1, max_length=VENUE_MAX)]
    description: Annotated[str, Field(max_length=LONG_TEXT_MAX)] = ""
    starts_at: Timestamp
    ends_at: Timestamp
    submissions_open_at: Timestamp
    submissions_close_at: Timestamp


class SessionIn(Body):
    title: Annotated[str, Field(min_length=1, max_length=SESSION_TITLE_MAX)]
    starts_at: Timestamp
    pitch_minutes: Annotated[StrictInt, Field(ge=1, le=PITCH_MINUTES_MAX)]
    qa_minutes: Annotated[StrictInt, Field(ge=0, le=QA_MINUTES_MAX)]


class SubmissionIn(Body):
    venture_id: Id


class DecisionIn(Body):
    note: Annotated[str, Field(max_length=NOTE_MAX)] = ""


class RunningOrderIn(Body):
    submission_ids: Annotated[list[Id], Field(max_length=MAX_IDS)]


class JudgesIn(Body):
    user_ids: Annotated[list[Id], Field(max_length=MAX_IDS)]


class SessionSummary(Out):
    id: int
    title: str
    starts_at: datetime
    pitch_minutes: int
    qa_minutes: int
    status: SessionStatus
    url: str


class EventOut(Out):
    id: int
    name: str
    venue: str
    description: str
    starts_at: datetime
    ends_at: datetime
    submissions_open_at: datetime
    submissions_close_at: datetime
    status: EventStatus
    accepting_submissions: bool
    sessions: list[SessionSummary]


class EventList(Out):
    events: list[EventOut]


class VentureRef(Out):
    id: int
    name: str


class SubmissionOut(Out):
    id: int
    event_id: int
    venture: VentureRef
    status: SubmissionStatus
    note: str
    created_at: datetime
    decided_at: datetime | None


class SubmissionList(Out):
    submissions: list[SubmissionOut]


class CriterionOut(Out):
    key: str
    name: str
    name_en: str
    description: str
    description_en: str
    weight: int
    min: int
    max: int
    anchors: dict[str, dict[str, str]]


class PitchOut(Out):
    id: int
    position: int
    venture: VentureRef
    status: PitchStatus
    scoring: ScoringState


class CurrentPitch(Out):
    id: int
    phase: LivePhase | None
    phase_ends_at: datetime | None
    paused_remaining_seconds: int | None
    scoring: ScoringState


class SessionOut(Out):
    id: int
    event_id: int
    title: str
    starts_at: datetime
    pitch_minutes: int
    qa_minutes: int
    status: SessionStatus
    leaderboard_public: bool
    rubric: list[CriterionOut]
    pitches: list[PitchOut]
    judges: list[VentureRef] = Field(description="Assigned judges (id and name)")
    current_pitch: CurrentPitch | None


def session_summary(session: PitchSession) -> SessionSummary:
    return SessionSummary(
        id=session.id, title=session.title, starts_at=session.starts_at,
        pitch_minutes=session.pitch_minutes, qa_minutes=session.qa_minutes, status=session.status,
        url=url_for("api.get_session", session_id=session.id),
    )


def event_out(event: Event) -> dict:
    now = utcnow()
    return EventOut(
        id=event.id, name=event.name, venue=event.venue, description=event.description,
        starts_at=event.starts_at, ends_at=event.ends_at,
        submissions_open_at=event.submissions_open_at, submissions_close_at=event.submissions_close_at,
        status=event.status_at(now), accepting_submissions=event.accepts_submissions_at(now),
        sessions=[session_summary(s) for s in event.sessions],
    ).model_dump(mode="json")


def submission_out(submission: Submission) -> dict:
    return SubmissionOut(
        id=submission.id, event_id=submission.event_id,
        venture=VentureRef(id=submission.venture.id, name=submission.venture.name),
        status=submission.status, note=submission.decision_note,
        created_at=submission.created_at, decided_at=submission.decided_at,
    ).model_dump(mode="json")


def session_out(session: PitchSession) -> dict:
    current = session.current_pitch
    return SessionOut(
        id=session.id, event_id=session.event_id, title=session.title, starts_at=session.starts_at,
        pitch_minutes=session.pitch_minutes, qa_minutes=session.qa_minutes, status=session.status,
        leaderboard_public=session.leaderboard_public,
        rubric=[
            CriterionOut(key=c.key, name=c.name_es, name_en=c.name_en, description=c.description_es,
                         description_en=c.description_en, weight=c.weight, min=c.min_value,
                         max=c.max_value, anchors=c.anchors)
            for c in criteria_of(session)
        ],
        pitches=[
            PitchOut(id=p.id, position=p.position, status=p.status, scoring=p.scoring,
                     venture=VentureRef(id=p.venture.id, name=p.venture.name))
            for p in session.pitches
        ],
        judges=[VentureRef(id=u.id, name=u.name) for u in session.judges],
        current_pitch=CurrentPitch(
            id=current.id, phase=session.phase, phase_ends_at=session.phase_ends_at,
            paused_remaining_seconds=session.paused_remaining_seconds, scoring=current.scoring,
        ) if current else None,
    ).model_dump(mode="json")


ORGANIZER_ERRORS = {401: Response("Not logged in"), 403: Response("Not an organizer")}


@operation(
    bp, "/events", "GET", summary="Events with their sessions, submission window and status",
    who="anyone", public=True, responses={200: Response("Upcoming events first, then past ones", EventList)},
    tag="events",
)
def list_events():
    """Browse events."""
    events = services.upcoming_events() + services.past_events()
    return jsonify({"events": [event_out(e) for e in events]})


@operation(
    bp, "/events/<int:event_id>", "GET", summary="One event", who="anyone", public=True,
    responses={200: Response("The event", EventOut), 404: Response("No such event")}, tag="events",
)
def get_event(event_id: int):
    """Read an event."""
    return jsonify(event_out(services.get_event(event_id)))


@operation(
    bp, "/events", "POST", summary="Create an event", who="organizer", body=EventIn,
    responses={201: Response("The event", EventOut), **ORGANIZER_ERRORS, 422: Response("Invalid data")},
    tag="events",
)
def create_event():
    """Open a new event."""
    require_role(Role.ORGANIZER)
    data = parse_json(EventIn)
    event = services.create_event(current_user, services.EventData(**data.model_dump()))
    db.session.commit()
    return jsonify(event_out(event)), 201, {"Location": url_for("api.get_event", event_id=event.id)}


@operation(
    bp, "/events/<int:event_id>/sessions", "POST", summary="Add a pitch session", who="organizer",
    body=SessionIn,
    responses={201: Response("The session", SessionOut), **ORGANIZER_ERRORS, 404: Response("No such event"),
               422: Response("Invalid data")},
    tag="sessions",
)
def create_session(event_id: int):
    """Schedule a pitch session in an event."""
    require_role(Role.ORGANIZER)
    event = services.get_event(event_id)
    data = parse_json(SessionIn)
    session = services.create_session(event, services.SessionData(**data.model_dump()))
    db.session.commit()
    return jsonify(session_out(session)), 201, {"Location": url_for("api.get_session", session_id=session.id)}


@operation(
    bp, "/events/<int:event_id>/submissions", "POST", summary="Apply a venture to an event",
    who="the venture's owner, while the submission window is open", body=SubmissionIn,
    responses={201: Response("The application", SubmissionOut), 401: Response("Not logged in"),
               403: Response("Not an entrepreneur, or an account whose email address is not confirmed yet"),
               404: Response("No such event or venture"),
               409: Response("Already applied"), 422: Response("Window closed or invalid data")},
    tag="submissions",
)
def create_submission(event_id: int):
    """Apply to an event."""
    require_role(Role.ENTREPRENEUR)
    event = services.get_event(event_id)
    data = parse_json(SubmissionIn)
    venture = db.session.get(Venture, data.venture_id)
    if venture is None or venture.owner_id != current_user.id:
        raise NotFound(_("That venture does not exist."))
    submission = services.apply(venture, event, current_user)
    db.session.commit()
    return jsonify(submission_out(submission)), 201


@operation(
    bp, "/events/<int:event_id>/submissions", "GET", summary="Applications with venture and status",
    who="organizer",
    responses={200: Response("The applications", SubmissionList), **ORGANIZER_ERRORS,
               404: Response("No such event")},
    tag="submissions",
)
def list_submissions(event_id: int):
    """Review an event's applications."""
    require_role(Role.ORGANIZER)
    event = services.get_event(event_id)
    return jsonify({"submissions": [submission_out(s) for s in services.submissions_of_event(event)]})


def _decide(submission_id: int, accept: bool):
    require_role(Role.ORGANIZER)
    submission = services.get_submission(submission_id)
    data = parse_json(DecisionIn)
    services.decide(submission, accept=accept, note=data.note, actor=current_user)
    db.session.commit()
    return jsonify(submission_out(submission))


DECISION_RESPONSES = {
    200: Response("The decided application", SubmissionOut), **ORGANIZER_ERRORS,
    404: Response("No such application"), 409: Response("Withdrawn, or already decided that way"),
    422: Response("Invalid data"),
}


@operation(bp, "/submissions/<int:submission_id>/accept", "POST", summary="Accept an application",
           who="organizer", body=DecisionIn, responses=DECISION_RESPONSES, tag="submissions")
def accept_submission(submission_id: int):
    """Accept an application."""
    return _decide(submission_id, accept=True)


@operation(bp, "/submissions/<int:submission_id>/reject", "POST", summary="Reject an application",
           who="organizer", body=DecisionIn, responses=DECISION_RESPONSES, tag="submissions")
def reject_submission(submission_id: int):
    """Reject an application."""
    return _decide(submission_id, accept=False)


@operation(
    bp, "/submissions/<int:submission_id>/withdraw", "POST", summary="Withdraw an application",
    who="the venture's owner",
    responses={200: Response("The withdrawn application", SubmissionOut), 401: Response("Not logged in"),
               403: Response("Not an entrepreneur"), 404: Response("No such application"),
               409: Response("Already withdrawn or rejected, or the pitch has started")},
    tag="submissions",
)
def withdraw_submission(submission_id: int):
    """Take an application back."""
    require_role(Role.ENTREPRENEUR)
    submission = services.withdraw(services.get_submission(submission_id), current_user)
    db.session.commit()
    return jsonify(submission_out(submission))


@operation(
    bp, "/sessions/<int:session_id>", "GET", summary="A session with its rubric, running order and current pitch",
    who="anyone", public=True,
    responses={200: Response("The session", SessionOut), 304: Response("Not modified (If-None-Match)"),
               404: Response("No such session")}, tag="sessions",
)
def get_session(session_id: int):
    """Read a session (ETag; screens poll it with If-None-Match while live push is down)."""
    version = stored_version(session_id)
    if version is None:
        raise NotFound(_("That session does not exist."))
    same_for_everyone()  # the body does not depend on who asks
    read = session_reads.session_body(
        session_id, version, lambda: session_out(services.get_session_for_reading(session_id)))
    if request.if_none_match.contains(read.etag):
        response = current_app.response_class(status=304)
    else:
        response = current_app.response_class(read.body, mimetype="application/json")
    response.set_etag(read.etag)
    return response


@operation(
    bp, "/sessions/<int:session_id>/pitches", "PUT", summary="Set the running order (accepted applications)",
    who="organizer", body=RunningOrderIn,
    responses={200: Response("The session", SessionOut), **ORGANIZER_ERRORS, 404: Response("No such session"),
               409: Response("The session has started"), 422: Response("Invalid running order")},
    tag="sessions",
)
def put_running_order(session_id: int):
    """Place and order the pitches of a session."""
    require_role(Role.ORGANIZER)
    session = services.get_session(session_id)
    services.set_running_order(session, parse_json(RunningOrderIn).submission_ids)
    db.session.commit()
    return jsonify(session_out(session))


@operation(
    bp, "/sessions/<int:session_id>/judges", "PUT", summary="Set the judges of a session",
    who="organizer", body=JudgesIn,
    responses={200: Response("The session", SessionOut), **ORGANIZER_ERRORS, 404: Response("No such session"),
               409: Response("The session is over"), 422: Response("Not judges")},
    tag="sessions",
)
def put_judges(session_id: int):
    """Assign judges to a session."""
    require_role(Role.ORGANIZER)
    session = services.get_session(session_id)
    services.set_judges(session, parse_json(JudgesIn).user_ids)
    db.session.commit()
    return jsonify(session_out(session))
