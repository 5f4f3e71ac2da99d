"""The judges' tablet: the pitch on stage, its timer and deck, and the rubric, scored offline-first."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from flask import Blueprint, current_app, jsonify, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from pitchtank.accounts.models import Role, User
from pitchtank.core.authz import roles_required
from pitchtank.core.errors import PermissionDenied
from pitchtank.core.i18n import current_language
from pitchtank.events.models import Pitch, PitchSession
from pitchtank.events.services import get_session
from pitchtank.extensions import db
from pitchtank.judging import live_state
from pitchtank.judging.models import COMMENT_MAX, REASON_MAX, Recusal, RubricCriterion, ScoreSheet
from pitchtank.judging.rubrics import criteria_of

bp = Blueprint("judging_tablet", __name__)

# Why the tablet polls instead of following the SSE stream: the stream is readable only while
# the leaderboard is public (or by organizers), a judge's recusals and voided sheets are not in
# it, and conference Wi-Fi silently kills long-lived connections. A conditional GET every two
# seconds answers 304 almost always, survives any proxy, and recovers by itself after a drop.
POLL_SECONDS = 2


def _judged_session(session_id: int) -> PitchSession:
    session = get_session(session_id)
    if not session.has_judge(current_user):
        raise PermissionDenied(_("You are not a judge of this session."))
    return session


def _own_marks(session: PitchSession, judge: User) -> tuple[list[int], list[int]]:
    """The pitches of ``session`` this judge recused from, and those whose sheet was voided."""
    recused = db.session.scalars(
        select(Recusal.pitch_id).join(Pitch, Pitch.id == Recusal.pitch_id)
        .where(Pitch.session_id == session.id, Recusal.judge_id == judge.id).order_by(Recusal.pitch_id)
    ).all()
    voided = db.session.scalars(
        select(ScoreSheet.pitch_id).join(Pitch, Pitch.id == ScoreSheet.pitch_id)
        .where(Pitch.session_id == session.id, ScoreSheet.judge_id == judge.id, ScoreSheet.voided_at.is_not(None))
        .order_by(ScoreSheet.pitch_id)
    ).all()
    return list(recused), list(voided)


def _rubric_signature(session: PitchSession) -> str:
    # A new rubric replaces every row, so the ids alone tell whether the page's form is current.
    ids = db.session.scalars(
        select(RubricCriterion.id).where(RubricCriterion.session_id == session.id).order_by(RubricCriterion.id)
    ).all()
    return ",".join(str(i) for i in ids)


def _etag(session: PitchSession, judge: User, marks: tuple[list[int], list[int]], rubric: str) -> str:
    """Changes whenever anything the tablet shows changes; computed from a few small queries."""
    order = db.session.execute(
        select(Pitch.id, Pitch.position).where(Pitch.session_id == session.id).order_by(Pitch.position)
    ).all()
    parts = [session.id, judge.id, session.state_version, session.status.value, rubric,
             [list(row) for row in order], *marks]
    digest = hashlib.sha256(json.dumps(parts).encode()).hexdigest()[:24]
    return f"tablet-{digest}"


def _deck_url(venture) -> str | None:
    return url_for("ventures.deck_file", venture_id=venture.id) if venture.deck_file else None


def tablet_state(session: PitchSession, judge: User, marks: tuple[list[int], list[int]], rubric: str) -> dict[str, Any]:
    """What the tablet shows: the stage (as the screens get it), the running order and this judge's marks."""
    state = live_state.pitch_state(session)
    state.pop("leaderboard_public", None)  # not the tablet's business
    if state["current_pitch"] is not None:
        state["current_pitch"]["deck_url"] = _deck_url(session.current_pitch.venture)
    state["total_pitches"] = len(session.pitches)
    state["pitches"] = [
        {"id": p.id, "position": p.position, "scoring": p.scoring.value,
         "venture": {"id": p.venture.id, "name": p.venture.name, "tagline": p.venture.tagline},
         "deck_url": _deck_url(p.venture)}
        for p in session.pitches
    ]
    state["recused_pitch_ids"], state["voided_pitch_ids"] = marks
    state["rubric"] = rubric
    state["poll_seconds"] = POLL_SECONDS
    return state


def _i18n() -> dict[str, str]:
    """Every text the script shows, translated here; ``{name}`` marks what the script fills in."""
    return {
        "saved": _("Saved ✓ at %(time)s", time="{time}"),
        "saving": _("Saving…"),
        "pending": _("Pending: %(n)s unsent (will retry)", n="{n}"),
        "closed": _("Scoring is closed"),
        "closed_unsent": _("Scoring closed before these scores reached the server."),
        "not_open": _("Not open yet"),
        "open": _("Scoring is open: every choice is saved as you go."),
        "recused": _("You declared a conflict of interest"),
        "voided": _("The organizer voided your scores for this pitch."),
        "forbidden": _("You cannot score this pitch."),
        "not_judge": _("You are no longer a judge of this session."),
        "logged_out": _("Your login expired. Log in again in another tab; your scores stay on this device."),
        "expired": _("This page expired. Reload it; your scores stay on this device."),
        "invalid": _("Some scores are not valid."),
        "progress": _("%(done)s of %(total)s criteria scored", done="{done}", total="{total}"),
        "position": _("Pitch %(position)s of %(total)s", position="{position}", total="{total}"),
        "phase_pitch": _("Pitch"),
        "phase_qa": _("Questions and answers"),
        "phase_scoring": _("Scoring open"),
        "phase_scoring_closed": _("Scoring closed"),
        "paused": _("Paused"),
        "time_up": _("Time is up"),
        "now_pitching": _("Now pitching: %(venture)s", venture="{venture}"),
        "not_started": _("The session has not started yet."),
        "ended": _("The session has ended. Thank you for judging!"),
        "published": _("The results are published."),
        "recuse_question": _("Declare a conflict of interest with %(venture)s? Your scores for this pitch will "
                             "stop counting and you will not be counted as missing. This cannot be undone.",
                             venture="{venture}"),
        "recuse_failed": _("The declaration was not sent. Check the connection and try again."),
        "earlier_pitch": _("You are scoring an earlier pitch: %(venture)s.", venture="{venture}"),
        "rubric_changed": _("The rubric changed. Reload the page; your scores stay on this device."),
    }


@bp.route("/sessions/<int:session_id>/judge")
@roles_required(Role.JUDGE)
def tablet(session_id: int):
    """The judge's tablet for a session: follow the pitch on stage and score it."""
    session = _judged_session(session_id)
    criteria = criteria_of(session)
    rubric = ",".join(str(i) for i in sorted(c.id for c in criteria))
    marks = _own_marks(session, current_user)
    scores_url = url_for("api.put_my_scores", pitch_id=0).replace("/0/", "/{id}/")
    recusal_url = url_for("api.recuse", pitch_id=0).replace("/0/", "/{id}/")
    response = current_app.make_response(render_template(
        "judging/tablet.html", session=session, judge=current_user,
        criteria=[c for c in criteria if not c.is_question], questions=[c for c in criteria if c.is_question],
        language="en" if current_language() == "en" else "es", comment_max=COMMENT_MAX, reason_max=REASON_MAX,
        scores_url=scores_url, recusal_url=recusal_url, i18n=_i18n(),
        state=tablet_state(session, current_user, marks, rubric),
    ))
    # The page embeds the stage at render time: a back-forward cache copy would show an old pitch.
    response.headers["Cache-Control"] = "private, no-store"
    return response


@bp.route("/sessions/<int:session_id>/judge/state.json")
@roles_required(Role.JUDGE)
def state(session_id: int):
    """The tablet's poll: the stage and this judge's recusals (ETag; If-None-Match gives 304)."""
    session = _judged_session(session_id)
    marks = _own_marks(session, current_user)
    rubric = _rubric_signature(session)
    etag = _etag(session, current_user, marks, rubric)
    if request.if_none_match.contains(etag):
        response = current_app.response_class(status=304)
    else:
        response = jsonify(tablet_state(session, current_user, marks, rubric))
    response.set_etag(etag)
    response.headers["Cache-Control"] = "private, no-cache"
    response.vary.add("Cookie")
    return response
