"""API: rubrics, running the show, judges' scores, recusals, the leaderboard, its stream and votes."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from flask import Response as FlaskResponse
from flask import current_app, jsonify, request
from flask_babel import gettext as _
from flask_login import current_user
from pydantic import Field, StrictInt

from pitchtank import live
from pitchtank.accounts.models import Role
from pitchtank.api import bp
from pitchtank.api.idempotency import idempotent
from pitchtank.api.openapi import Response, operation
from pitchtank.api.schemas import Body, Id, Out
from pitchtank.api.validation import parse_json
from pitchtank.core.authz import require_login, require_role
from pitchtank.core.errors import NotFound, PermissionDenied
from pitchtank.core.problem import problem_response
from pitchtank.core.sessions import same_for_everyone
from pitchtank.core.transaction import commit_request
from pitchtank.events.api import SessionOut, session_out
from pitchtank.events.models import SessionStatus
from pitchtank.events.services import get_session
from pitchtank.extensions import db
from pitchtank.judging import live_state, results, rubrics, sheets, show, votes
from pitchtank.judging.models import COMMENT_MAX, CRITERION_NAME_MAX, KEY_MAX, REASON_MAX
from pitchtank.live.sse import event_stream

# While live push is down, screens poll and try the stream again after about this long.
STREAM_RETRY_AFTER_SECONDS = 10
# OpenAPI 3.1 describes an event stream by the schema of one event, as clients parse it.
SSE_EVENT_SCHEMA = {
    "type": "object",
    "required": ["event", "data"],
    "properties": {
        "id": {"type": "string", "pattern": "^[0-9]+$"},
        "event": {"type": "string", "enum": ["leaderboard", "pitch"]},
        "data": {"type": "string", "contentMediaType": "application/json"},
        "retry": {"type": "integer", "minimum": 0},
    },
}
ORGANIZER_ERRORS = {401: Response("Not logged in"), 403: Response("Not an organizer")}


class AnchorIn(Body):
    es: Annotated[str, Field(max_length=rubrics.ANCHOR_MAX)] = ""
    en: Annotated[str, Field(max_length=rubrics.ANCHOR_MAX)] = ""


class CriterionIn(Body):
    key: Annotated[str, Field(min_length=1, max_length=KEY_MAX)]
    name: Annotated[str, Field(min_length=1, max_length=CRITERION_NAME_MAX)] = Field(
        description="Name in Spanish; also used in English unless name_en is given")
    name_en: Annotated[str, Field(max_length=CRITERION_NAME_MAX)] = ""
    description: Annotated[str, Field(max_length=rubrics.DESCRIPTION_MAX)] = ""
    description_en: Annotated[str, Field(max_length=rubrics.DESCRIPTION_MAX)] = ""
    weight: Annotated[StrictInt, Field(ge=0, le=100)]
    min: StrictInt
    max: StrictInt
    anchors: dict[str, AnchorIn] = Field(default_factory=dict, max_length=101)


class RubricIn(Body):
    criteria: Annotated[list[CriterionIn], Field(max_length=rubrics.MAX_CRITERIA + rubrics.MAX_QUESTIONS)]


class ControlIn(Body):
    action: Literal["start", "next", "open_scoring", "close_scoring", "end", "publish", "qa", "pause",
                    "resume", "show_leaderboard", "hide_leaderboard"]
    pitch_id: StrictInt | None = Field(default=None, description="For open_scoring/close_scoring of an earlier pitch")


class ScoresIn(Body):
    scores: Annotated[dict[Annotated[str, Field(max_length=KEY_MAX)], StrictInt], Field(max_length=20)]
    comment: Annotated[str, Field(max_length=COMMENT_MAX)] = ""
    client_seq: Annotated[StrictInt, Field(ge=0, le=sheets.MAX_CLIENT_SEQ)]


class ScoresOut(Out):
    pitch_id: int
    scores: dict[str, int]
    comment: str
    client_seq: int
    updated_at: datetime | None
    stored: bool = Field(description="False when this write was a repeat or older than the stored one")


class RecusalIn(Body):
    reason: Annotated[str, Field(max_length=REASON_MAX)] = ""


class RecusalOut(Out):
    pitch_id: int
    judge_id: int
    reason: str
    created_at: datetime


class VoteIn(Body):
    pitch_id: Id


class VoteOut(Out):
    session_id: int
    pitch_id: int


class LeaderboardVenture(Out):
    id: int
    name: str


class LeaderboardEntry(Out):
    rank: int
    pitch_id: int
    position: int
    venture: LeaderboardVenture
    score: float | None
    score_raw: float | None
    judges_scored: int
    judges_expected: int
    copeland: float
    copeland_rank: int
    disagreement: bool
    tie_break: str | None


class LeaderboardOut(Out):
    session_id: int
    version: int
    published: bool
    entries: list[LeaderboardEntry]
    tie_break_rule: dict[str, str]


@operation(
    bp, "/sessions/<int:session_id>/rubric", "PUT", summary="Set the session's rubric", who="organizer",
    body=RubricIn,
    responses={200: Response("The session with its rubric", SessionOut), **ORGANIZER_ERRORS,
               404: Response("No such session"), 409: Response("Scores already exist"),
               422: Response("Invalid rubric")},
    tag="judging",
)
def put_rubric(session_id: int):
    """Define what judges score."""
    require_role(Role.ORGANIZER)
    session = get_session(session_id)
    data = parse_json(RubricIn)
    rubrics.set_rubric(session, [
        rubrics.CriterionData(
            key=c.key, name_es=c.name, name_en=c.name_en or c.name, weight=c.weight, min=c.min, max=c.max,
            description_es=c.description, description_en=c.description_en or c.description,
            anchors={value: anchor.model_dump() for value, anchor in c.anchors.items()},
        )
        for c in data.criteria
    ])
    db.session.commit()
    return jsonify(session_out(session))


@operation(
    bp, "/sessions/<int:session_id>/control", "POST", summary="Run the show: start, next, open/close scoring, end, publish",
    who="organizer", body=ControlIn,
    responses={200: Response("The session after the action", SessionOut), **ORGANIZER_ERRORS,
               404: Response("No such session"), 409: Response("The action does not fit the state"),
               422: Response("Unknown action")},
    tag="judging",
)
def control_session(session_id: int):
    """Move the live session on."""
    require_role(Role.ORGANIZER)
    get_session(session_id)
    data = parse_json(ControlIn)
    params = {"pitch_id": data.pitch_id} if data.pitch_id and data.action in {"open_scoring", "close_scoring"} else {}
    session = show.control(session_id, data.action, current_user, **params)
    db.session.commit()
    return jsonify(session_out(session))


def _scores_out(pitch_id: int, result: sheets.SheetResult) -> dict:
    return ScoresOut(
        pitch_id=pitch_id, scores=result.values, comment=result.comment, client_seq=result.client_seq,
        updated_at=result.updated_at, stored=result.stored,
    ).model_dump(mode="json")


JUDGE_ERRORS = {401: Response("Not logged in"), 403: Response("Not a judge of this session, or recused"),
                404: Response("No such pitch")}


@operation(
    bp, "/pitches/<int:pitch_id>/scores/me", "PUT", summary="Store my scores for a pitch (idempotent by client_seq)",
    who="a judge assigned to the session, not recused", body=ScoresIn, idempotent_key=True,
    responses={200: Response("The stored scores (the newer write wins)", ScoresOut), **JUDGE_ERRORS,
               409: Response("Scoring is closed, or the scores were voided"),
               422: Response("Unknown criterion or value out of range")},
    tag="judging",
)
@idempotent
def put_my_scores(pitch_id: int):
    """Score a pitch from the tablet."""
    require_login()
    data = parse_json(ScoresIn)
    result = sheets.submit(pitch_id, current_user, scores=data.scores, comment=data.comment,
                           client_seq=data.client_seq)
    body = _scores_out(pitch_id, result)
    commit_request()
    return jsonify(body)


@operation(
    bp, "/pitches/<int:pitch_id>/scores/me", "GET", summary="My stored scores for a pitch", who="the session's judges",
    responses={200: Response("My scores, empty if none yet", ScoresOut), **JUDGE_ERRORS}, tag="judging",
)
def get_my_scores(pitch_id: int):
    """What the server holds of my scores (after a reload)."""
    require_login()
    return jsonify(_scores_out(pitch_id, sheets.SheetResult.of(sheets.own_sheet(pitch_id, current_user), stored=True)))


@operation(
    bp, "/pitches/<int:pitch_id>/recusal", "POST", summary="Declare a conflict of interest",
    who="a judge of the session", body=RecusalIn,
    responses={201: Response("Recused", RecusalOut), **JUDGE_ERRORS, 409: Response("Already recused"),
               422: Response("Reason too long")},
    tag="judging",
)
def recuse(pitch_id: int):
    """Stop my scores for this pitch from counting."""
    require_login()
    data = parse_json(RecusalIn)
    recusal = sheets.recuse(pitch_id, current_user, data.reason)
    db.session.commit()
    return jsonify(RecusalOut.model_validate(recusal).model_dump(mode="json")), 201


def _watchable_session(session_id: int):
    session = get_session(session_id)
    if not live_state.can_watch(session):
        raise PermissionDenied(_("The leaderboard is not shown until the results are published."))
    return session


@operation(
    bp, "/sessions/<int:session_id>/leaderboard", "GET", summary="The live standings (ETag; If-None-Match gives 304)",
    who="anyone while live or published; organizers always", public=True,
    responses={200: Response("The standings", LeaderboardOut), 304: Response("Not modified"),
               403: Response("Hidden until published"), 404: Response("No such session")},
    tag="judging",
)
def get_leaderboard(session_id: int):
    """Read the standings cheaply: three columns decide, the body is encoded once per version."""
    row = results.board_state(session_id)
    if row is None:
        raise NotFound(_("That session does not exist."))
    status, public, version = row
    public_board = live_state.visible_to_audience(status, public)
    if public_board:
        same_for_everyone()  # no Vary: Cookie, so that shared caches keep one copy
    elif not live_state.may_watch(status, public):
        raise PermissionDenied(_("The leaderboard is not shown until the results are published."))
    standings = results.cached_standings(session_id, version, published=status == SessionStatus.PUBLISHED)
    if standings is None:
        standings = results.standings(get_session(session_id))
    etag = f"lb-{session_id}-{standings.version}-{status.value}"
    if request.if_none_match.contains(etag):
        response = current_app.response_class(status=304)
    else:
        response = current_app.response_class(standings.json_body(), mimetype="application/json")
    response.set_etag(etag)
    # Shared caches (a CDN) may keep it briefly; the ETag makes revalidation cheap.
    response.headers["Cache-Control"] = "public, max-age=1, stale-while-revalidate=2" \
        if public_board else "private, no-store"
    return response


@operation(
    bp, "/sessions/<int:session_id>/stream", "GET", summary="Server-sent events: leaderboard and pitch",
    who="anyone (the leaderboard's entries only while it is shown to the audience)", public=True,
    responses={200: Response("An event stream; honours Last-Event-ID. While the leaderboard is hidden the "
                             "audience receives the pitch events and an empty, hidden leaderboard",
                             content_type="text/event-stream", schema=SSE_EVENT_SCHEMA),
               404: Response("No such session"),
               503: Response("Live push is unavailable (Redis unreachable): poll the leaderboard with "
                             "If-None-Match and try the stream again after Retry-After seconds")},
    tag="judging",
)
def stream(session_id: int):
    """Follow the session live: the current state first, then every change."""
    # Open to everyone, so phones stay on the stream even while the ranking is hidden;
    # the leaderboard messages themselves carry entries only when the audience may see them.
    session = get_session(session_id)
    if not live.ready(current_app.config["STREAM_READY_SECONDS"]):
        # Other workers' messages would not arrive: tell the screen to poll rather than wait.
        db.session.remove()
        response = problem_response(503, _("Live updates are paused for a moment. The leaderboard "
                                           "still refreshes every few seconds."))
        response.headers["Retry-After"] = str(STREAM_RETRY_AFTER_SECONDS)
        response.headers["Cache-Control"] = "no-store"
        return response
    # Subscribe before reading the snapshots, so that nothing published in between is lost.
    subscription = live.subscribe(live.channel_for_session(session.id))
    initial = live_state.messages_for(session, request.headers.get("Last-Event-ID", "")[:20])
    db.session.remove()  # a long-lived stream must not hold a database connection
    body = event_stream(subscription, initial, max_seconds=current_app.config["STREAM_MAX_SECONDS"],
                        jitter=True, as_bytes=True)
    response = FlaskResponse(body, mimetype="text/event-stream")
    response.call_on_close(subscription.close)
    response.headers["Cache-Control"] = "no-cache"
    response.headers["X-Accel-Buffering"] = "no"
    return response


@operation(
    bp, "/sessions/<int:session_id>/votes", "POST", summary="People's Choice: one vote per person per session",
    who="the audience; anonymous allowed (a browser counts as a person)", body=VoteIn, public=True,
    responses={201: Response("Counted", VoteOut), 404: Response("No such session or pitch"),
               409: Response("Already voted, or voting closed"), 422: Response("Invalid body")},
    tag="judging",
)
def vote(session_id: int):
    """Vote for the audience's favourite pitch."""
    session = get_session(session_id)
    data = parse_json(VoteIn)
    cast = votes.cast(session, data.pitch_id, votes.voter_key())
    db.session.commit()
    response = jsonify({"session_id": session.id, "pitch_id": cast.pitch_id})
    response.status_code = 201
    return votes.remember_voter(response)

