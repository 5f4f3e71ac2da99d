"""Audience pages: the live leaderboard screen, People's Choice voting, published results and feedback.

None of these pages has a per-address rate limit: at a venue a thousand phones share one
public address. One vote per person rests on the account or a signed browser cookie
(``pitchtank.judging.votes``), never on the address.
"""

from __future__ import annotations

import math
from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache
from typing import Any

from babel.numbers import format_decimal
from flask import Blueprint, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from pitchtank.accounts.models import Role
from pitchtank.core.authz import require_login
from pitchtank.core.errors import Conflict, NotFound, PermissionDenied
from pitchtank.core.i18n import current_language
from pitchtank.core.types import utcnow
from pitchtank.events.models import Pitch, PitchSession, SessionStatus
from pitchtank.events.services import get_session
from pitchtank.extensions import db
from pitchtank.invitations.services import qr_svg_data_uri
from pitchtank.judging import live_state, results, votes
from pitchtank.judging.models import AudienceVote

bp = Blueprint("judging_screens", __name__)

MANY_ROWS = 10
"""Above this many pitches the projector's ranking uses smaller rows, so that all fit."""


def _lang() -> str:
    """The page language as the snapshots key it: ``es`` or ``en``."""
    return "en" if current_language() == "en" else "es"


def _number(value: float | None, pattern: str = "0.0") -> str:
    if value is None:
        return "—"
    # Halves round up, as the browser's Intl.NumberFormat does on the live screen, so the
    # audience never sees 7.3 live and 7.2 in the published results.
    places = len(pattern.partition(".")[2])
    rounded = Decimal(str(value)).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
    return format_decimal(rounded, format=pattern, locale="en" if _lang() == "en" else "es_MX")


@lru_cache(maxsize=64)
def _qr(url: str) -> str:
    # The same URL always gives the same image; a thousand phones need not redraw it.
    return qr_svg_data_uri(url)


def _is_organizer() -> bool:
    return current_user.is_authenticated and current_user.has_role(Role.ORGANIZER)


def _remaining_seconds(session: PitchSession) -> int | None:
    if session.paused_remaining_seconds is not None:
        return session.paused_remaining_seconds
    if session.phase_ends_at is None:
        return None
    return max(0, math.ceil((session.phase_ends_at - utcnow()).total_seconds()))


def _clock(seconds: int | None) -> str:
    if seconds is None:
        return ""
    return f"{seconds // 60}:{seconds % 60:02d}"


def _phase_labels() -> dict[str, str]:
    return {
        "pitch": _("Pitch"),
        "qa": _("Questions and answers"),
        "scoring": _("Judges are scoring"),
        "scoring_closed": _("Scoring closed"),
    }


def _status_notes() -> dict[str, str]:
    return {
        "scheduled": _("The session has not started yet."),
        "live": _("Between pitches."),
        "ended": _("The session has ended. Thank you for joining us!"),
        "published": _("The results are published."),
    }


def _screen_strings() -> dict[str, str]:
    """Everything screen.js writes, in the page language."""
    return {
        "phases": _phase_labels(),
        "statuses": _status_notes(),
        "paused": _("Paused"),
        "on_stage": _("On stage"),
        "hidden": _("Results will be shown when published"),
        "not_started": _("The ranking appears here once the session starts."),
        "empty": _("No pitches have been scored yet."),
        "judges_of": _("%(scored)s of %(expected)s"),
        "leader": _("%(name)s is now in first place."),
        "position": _("Pitch %(position)s of %(total)s"),
        "lang": "en" if _lang() == "en" else "es-MX",
    }


@bp.route("/sessions/<int:session_id>/screen")
def screen(session_id: int):
    """The live leaderboard for the projector and phones: anyone; it shows only what the audience may see."""
    session = get_session(session_id)
    pitch = live_state.pitch_state(session)
    # Audience visibility, even for an organizer's laptop driving the projector.
    visible = live_state.leaderboard_visible_to_audience(session)
    board = live_state.leaderboard_message_data(session)
    vote_url = url_for(".vote", session_id=session.id, _external=True)
    return render_template(
        "judging/screen.html", session=session, pitch=pitch, board=board, visible=visible,
        entries=board["entries"] if visible else [], remaining=_clock(_remaining_seconds(session)),
        phase_labels=_phase_labels(), status_notes=_status_notes(), strings=_screen_strings(),
        state={"pitch": pitch, "leaderboard": board,
               "taglines": {str(p.id): p.venture.tagline for p in session.pitches}},
        vote_url=vote_url, qr=_qr(vote_url), bare=request.args.get("chrome") == "0",
        many=len(board["entries"]) > MANY_ROWS, many_rows=MANY_ROWS, number=_number,
    )


def _my_vote(session: PitchSession) -> AudienceVote | None:
    key = votes.voter_key()
    g.pop("new_voter_cookie", None)  # looking issues no cookie; a browser gets one with its vote
    return db.session.scalar(
        select(AudienceVote).where(AudienceVote.session_id == session.id, AudienceVote.voter_key == key)
    )


@bp.route("/sessions/<int:session_id>/vote", methods=["GET", "POST"])
def vote(session_id: int):
    """People's Choice on a phone: anyone, one vote per person (account or browser) and session."""
    session = get_session(session_id)
    error, status = None, 200
    if request.method == "POST":
        try:
            pitch_id = int(request.form.get("pitch_id", ""))
        except ValueError:
            error, status = _("Choose the pitch you vote for."), 422
        else:
            try:
                votes.cast(session, pitch_id, votes.voter_key())
                db.session.commit()
            except (Conflict, NotFound) as refused:
                db.session.rollback()
                g.pop("new_voter_cookie", None)
                error, status = refused.message, refused.status
            else:
                # The page it leads to says whom this person voted for, and thanks them.
                return votes.remember_voter(redirect(url_for(".vote", session_id=session.id)))
    mine = _my_vote(session)
    voted_for = next((p for p in session.pitches if mine and p.id == mine.pitch_id), None)
    return render_template(
        "judging/vote.html", session=session, voted_for=voted_for, has_voted=mine is not None, error=error,
        is_live=session.status == SessionStatus.LIVE,
        api_url=url_for("api.vote", session_id=session.id),
        results_url=url_for(".results", session_id=session.id)
        if session.status == SessionStatus.PUBLISHED else None,
    ), status


TIE_BREAK_LABELS = {
    "raw_mean": lambda: _("Same score: the higher raw mean goes first."),
    "judges_scored": lambda: _("Same score and raw mean: the pitch scored by more judges goes first."),
    "pitch_order": lambda: _("Fully tied: the pitch that presented earlier goes first."),
}


def _feedback_pitch_ids(session: PitchSession) -> set[int]:
    """The pitches whose feedback the visitor may open from the results page."""
    if not current_user.is_authenticated:
        return set()
    if _is_organizer():
        return {p.id for p in session.pitches}
    return {p.id for p in session.pitches if p.venture.owner_id == current_user.id}


@bp.route("/sessions/<int:session_id>/results", endpoint="results")
def published_results(session_id: int):
    """The frozen results for anyone once published; before that 404, except organizers, who see a notice (200)."""
    session = get_session(session_id)
    snapshot = results.snapshot_of(session) if session.status == SessionStatus.PUBLISHED else None
    if snapshot is None:
        if not _is_organizer():
            raise NotFound(_("The results of this session have not been published yet."))
        return render_template("judging/results.html", session=session, snapshot=None)
    board: dict[str, Any] = snapshot.leaderboard
    entries = board.get("entries", [])
    tie_labels = {key: label() for key, label in TIE_BREAK_LABELS.items()}
    return render_template(
        "judging/results.html", session=session, snapshot=snapshot, entries=entries,
        tie_labels=tie_labels, rule=board.get("tie_break_rule", {}).get(_lang(), ""),
        any_tie=any(e.get("tie_break") for e in entries),
        any_disagreement=any(e.get("disagreement") for e in entries),
        peoples_choice=board.get("peoples_choice", []),
        total_votes=sum(item["votes"] for item in board.get("peoples_choice", [])),
        feedback_ids=_feedback_pitch_ids(session), number=_number,
    )


def _criteria_rows(criteria: dict[str, dict[str, Any]]) -> tuple[list[dict], list[dict]]:
    """(weighted criteria, questions without weight), each with its name in the page language."""
    name_key = "name_en" if _lang() == "en" else "name_es"
    rows = [{"key": key, "name": item.get(name_key) or item.get("name_es", key), **item}
            for key, item in criteria.items()]
    return [r for r in rows if r.get("weight")], [r for r in rows if not r.get("weight")]


@bp.route("/pitches/<int:pitch_id>/feedback")
def feedback(pitch_id: int):
    """Per-criterion means and anonymous comments for the venture's owner and organizers; a notice (200) before publishing."""
    # Anonymous visitors go to the login page; another entrepreneur gets 404 (the pitch is
    # not even confirmed to exist), judges and investors 403.
    require_login()
    pitch = db.session.get(Pitch, pitch_id)
    is_owner = pitch is not None and pitch.venture.owner_id == current_user.id
    if pitch is None or not (is_owner or _is_organizer()):
        if pitch is None or current_user.has_role(Role.ENTREPRENEUR):
            raise NotFound(_("We could not find that page."))
        raise PermissionDenied(_("Only the venture's team sees its feedback."))
    session = pitch.session
    snapshot = results.snapshot_of(session) if session.status == SessionStatus.PUBLISHED else None
    data = (snapshot.feedback.get(str(pitch.id)) if snapshot else None) or {"criteria": {}, "comments": []}
    weighted, questions = _criteria_rows(data.get("criteria", {}))
    entries = snapshot.leaderboard.get("entries", []) if snapshot else []
    entry = next((e for e in entries if e["pitch_id"] == pitch.id), None)
    return render_template(
        "judging/feedback.html", pitch=pitch, session=session, published=snapshot is not None,
        weighted=weighted, questions=questions, comments=data.get("comments", []), entry=entry,
        pitch_count=len(entries), number=_number,
    )
