"""Pages: the organizer's console for a live session, the rubric editor, exports and the audit log."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import select

from pitchtank.accounts.models import Role
from pitchtank.audit.services import record
from pitchtank.core import spreadsheets
from pitchtank.core.authz import roles_required
from pitchtank.core.errors import Conflict, DomainError, NotFound, ValidationFailed
from pitchtank.core.labels import label
from pitchtank.core.types import utcnow
from pitchtank.events.models import (
    Event,
    LivePhase,
    PitchSession,
    PitchStatus,
    ScoringState,
    SessionStatus,
)
from pitchtank.events.services import get_session
from pitchtank.extensions import db
from pitchtank.judging import exports, live_state, results, rubrics, show
from pitchtank.judging.forms import ActionForm, CopyRubricForm, RubricForm, VoidForm
from pitchtank.judging.models import WEIGHT_MAX, RubricCriterion
from pitchtank.judging.show import ACTION_NAMES, available_actions, pitch_actions

bp = Blueprint("judging_console", __name__)

# The main controls, in the order the show uses them.
MAIN_ACTIONS = ("start", "qa", "open_scoring", "close_scoring", "next", "pause", "resume", "end", "publish")
PER_PITCH_ACTIONS = ("open_scoring", "close_scoring")

ACTION_LABELS = {
    "start": _l("Start the session"),
    "qa": _l("Start Q&A"),
    "open_scoring": _l("Open scoring"),
    "close_scoring": _l("Close scoring"),
    "next": _l("Next pitch"),
    "pause": _l("Pause the timer"),
    "resume": _l("Resume the timer"),
    "end": _l("End the session"),
    "publish": _l("Publish the results"),
    "show_leaderboard": _l("Show the live leaderboard"),
    "hide_leaderboard": _l("Show only the published results"),
}
ACTION_DONE = {
    "start": _l("The session is live: the first pitch is on stage."),
    "qa": _l("Questions and answers have started."),
    "open_scoring": _l("Scoring is open."),
    "close_scoring": _l("Scoring is closed."),
    "next": _l("The next pitch is on stage."),
    "pause": _l("The timer is paused."),
    "resume": _l("The timer is running again."),
    "end": _l("The session has ended. Check the results, then publish them."),
    "publish": _l("The results are published and can no longer change."),
    "show_leaderboard": _l("The audience now sees the live leaderboard."),
    "hide_leaderboard": _l("The audience now sees only the published results."),
}
ACTION_CONFIRM = {
    "end": _l("End the session? No pitch can go on stage afterwards."),
    "publish": _l("Publish the results? They are frozen from then on."),
}
PHASE_LABELS = {
    LivePhase.PITCH: _l("Pitch"),
    LivePhase.QA: _l("Questions and answers"),
    LivePhase.SCORING: _l("Judges are scoring"),
    LivePhase.SCORING_CLOSED: _l("Scores are in"),
}
SCORING_LABELS = {
    ScoringState.NOT_OPENED: _l("Scoring not opened"),
    ScoringState.OPEN: _l("Scoring open"),
    ScoringState.CLOSED: _l("Scoring closed"),
}
JUDGE_STATE_LABELS = {
    "scored": _l("Scored"),
    "missing": _l("Missing"),
    "recused": _l("Recused"),
    "voided": _l("Voided"),
}
EXPORT_KINDS = {"scores": "calificaciones", "results": "resultados", "audit": "auditoria"}


# ---------- What fits the session's state (mirrors the rules in show.py) ----------

def _remaining_seconds(session: PitchSession) -> int | None:
    if session.paused_remaining_seconds is not None:
        return session.paused_remaining_seconds
    if session.phase_ends_at is not None:
        return max(0, int((session.phase_ends_at - utcnow()).total_seconds()))
    return None


def _status_payload(session: PitchSession) -> dict[str, Any]:
    return {
        "judge_status": results.judge_status(session),
        "pitch_state": live_state.pitch_state(session),
        "actions": available_actions(session),
        "pitches": [
            {"id": p.id, "position": p.position, "status": p.status.value, "scoring": p.scoring.value,
             "actions": pitch_actions(session, p)}
            for p in session.pitches
        ],
    }


def _client_labels() -> dict[str, Any]:
    """The words console.js shows, in the page's language."""
    return {
        "status": {s.value: label(s) for s in SessionStatus},
        "phase": {p.value: str(text) for p, text in PHASE_LABELS.items()},
        "scoring": {s.value: str(text) for s, text in SCORING_LABELS.items()},
        "pitch_status": {s.value: label(s) for s in PitchStatus},
        "judge": {k: str(v) for k, v in JUDGE_STATE_LABELS.items()},
        "open": str(ACTION_LABELS["open_scoring"]),
        "reopen": _("Reopen scoring"),
        "paused": _("paused"),
        "visibility_public": _("The live leaderboard, updated as judges score."),
        "visibility_hidden": _("Only the results, once they are published."),
        "no_pitch": _("No pitch is on stage."),
        "no_timer": _("No timer running"),
        "offline": _("Connection to the server lost; retrying…"),
        "updated": _("Updated"),
        "summary": _("%(scored)s scored · %(missing)s missing · %(recused)s recused · %(voided)s voided",
                     scored="{scored}", missing="{missing}", recused="{recused}", voided="{voided}"),
        "progress": _("%(scored)s of %(expected)s", scored="{scored}", expected="{expected}"),
    }


def _flash_error(error: DomainError) -> None:
    messages = [error.message] if error.message else []
    if isinstance(error, ValidationFailed):
        messages += [m for field_messages in error.errors.values() for m in field_messages]
    for message in messages or [_("That could not be done. Nothing was changed.")]:
        flash(message, "error")


def _flash_form_errors(form) -> None:
    for name, messages in form.errors.items():
        field = getattr(form, name, None) if name else None
        for message in messages:
            flash(f"{field.label.text}: {message}" if field is not None and field.label.text else message, "error")


def _console_url(session_id: int, anchor: str = "") -> str:
    return url_for("judging_console.console", session_id=session_id) + (f"#{anchor}" if anchor else "")


def _void_form(session: PitchSession) -> VoidForm:
    form = VoidForm()
    form.judge_id.choices = [(j.id, j.name) for j in session.judges]
    form.pitch_id.choices = [(p.id, f"{p.position}. {p.venture.name}") for p in session.pitches]
    if form.pitch_id.data is None and session.current_pitch_id:
        form.pitch_id.data = session.current_pitch_id
    return form


# ---------- The console ----------

@bp.route("/sessions/<int:session_id>/console")
@roles_required(Role.ORGANIZER)
def console(session_id: int):
    """Run a live session: timers, scoring, judges' progress, voids and visibility."""
    session = get_session(session_id)
    payload = _status_payload(session)
    judges = payload["judge_status"]["judges"]
    counts = {state: sum(1 for j in judges if j["current"] == state) for state in JUDGE_STATE_LABELS}
    weighted = [c for c in rubrics.criteria_of(session) if c.weight > 0]
    checklist = [
        (len(weighted) >= rubrics.MIN_CRITERIA, _("Rubric with at least %(n)s weighted criteria", n=rubrics.MIN_CRITERIA)),
        (bool(session.judge_assignments), _("Judges assigned")),
        (bool(session.pitches), _("Ventures in the running order")),
    ]
    standings = results.standings(session) if session.status in {SessionStatus.ENDED, SessionStatus.PUBLISHED} else None
    return render_template(
        "judging/console.html", session=session, payload=payload, counts=counts, checklist=checklist,
        actions=set(payload["actions"]), main_actions=MAIN_ACTIONS, action_labels=ACTION_LABELS,
        action_confirm=ACTION_CONFIRM, phase_labels=PHASE_LABELS, scoring_labels=SCORING_LABELS,
        judge_labels=JUDGE_STATE_LABELS, remaining=_remaining_seconds(session), standings=standings,
        void_form=_void_form(session), client_labels=_client_labels(),
        pitch_actions={p.id: pitch_actions(session, p) for p in session.pitches},
        screen_url=url_for("judging_screens.screen", session_id=session.id),
        judge_url=url_for("judging_tablet.tablet", session_id=session.id, _external=True),
    )


@bp.route("/sessions/<int:session_id>/console/status.json")
@roles_required(Role.ORGANIZER)
def status(session_id: int):
    """The console's live data: judges' status, the pitch on stage and the actions that fit."""
    session = get_session(session_id)
    response = jsonify(_status_payload(session))
    response.headers["Cache-Control"] = "private, no-store"
    return response


@bp.route(f"/sessions/<int:session_id>/console/<any({', '.join(ACTION_NAMES)}):action>", methods=["POST"])
@roles_required(Role.ORGANIZER)
def act(session_id: int, action: str):
    """Apply one step of the show (start, Q&A, scoring, next, pause, end, publish, visibility)."""
    get_session(session_id)
    form = ActionForm()
    anchor = "stage"
    if not form.validate_on_submit():
        _flash_form_errors(form)
        return redirect(_console_url(session_id, anchor))
    params: dict[str, Any] = {}
    if action in PER_PITCH_ACTIONS and form.pitch_id.data:
        params["pitch_id"] = form.pitch_id.data
        anchor = f"pitch-{form.pitch_id.data}"
    elif action in {"show_leaderboard", "hide_leaderboard"}:
        anchor = "audience"
    try:
        show.control(session_id, action, current_user, **params)
        db.session.commit()
    except (Conflict, NotFound, ValidationFailed) as error:
        db.session.rollback()
        _flash_error(error)
    else:
        flash(str(ACTION_DONE[action]), "success")
    return redirect(_console_url(session_id, anchor))


@bp.route("/sessions/<int:session_id>/console/void", methods=["POST"])
@roles_required(Role.ORGANIZER)
def void(session_id: int):
    """Void one judge's scores for one pitch, with a reason kept in the audit log."""
    session = get_session(session_id)
    form = _void_form(session)
    if not form.validate_on_submit():
        _flash_form_errors(form)
        return redirect(_console_url(session_id, "void"))
    try:
        locked = show.lock_session(session_id)
        show.void_sheet(locked, current_user, pitch_id=form.pitch_id.data, judge_id=form.judge_id.data,
                        reason=form.reason.data)
        db.session.commit()
    except (Conflict, NotFound, ValidationFailed) as error:
        db.session.rollback()
        _flash_error(error)
    else:
        flash(_("The scores were voided and no longer count. The reason is in the audit log."), "success")
    return redirect(_console_url(session_id, "void"))


# ---------- The rubric ----------

def sorted_anchors(anchors: dict[str, dict[str, str]]) -> list[tuple[str, dict[str, str]]]:
    """Anchored labels in the scale's order (1, 5, 10), not the text order (1, 10, 5)."""
    def value(item: tuple[str, dict[str, str]]) -> int:
        try:
            return int(item[0])
        except ValueError:
            return 0

    return sorted((anchors or {}).items(), key=value)


def _rubric_locked_reason(session: PitchSession) -> str | None:
    if rubrics.has_scores(session):
        return _("Judges have already scored with this rubric, so it can no longer change.")
    if session.status in {SessionStatus.ENDED, SessionStatus.PUBLISHED}:
        return _("The session is over, so its rubric can no longer change.")
    return None


def _copy_form(session: PitchSession) -> CopyRubricForm:
    form = CopyRubricForm()
    with_rubric = select(RubricCriterion.session_id).distinct()
    sources = db.session.scalars(
        select(PitchSession).join(Event)
        .where(PitchSession.id != session.id, PitchSession.id.in_(with_rubric))
        .order_by(Event.starts_at.desc(), PitchSession.starts_at, PitchSession.id)
    )
    form.source_session_id.choices = [(s.id, f"{s.event.name} — {s.title}") for s in sources]
    return form


def _rubric_errors(rows: list, error: ValidationFailed) -> tuple[list[str], dict[str, list[str]]]:
    """Service errors keyed ``criteria.N`` belong to the N-th filled row; the rest to the rubric."""
    general: list[str] = [error.message] if error.message else []
    by_row: dict[str, list[str]] = {}
    for key, messages in error.errors.items():
        prefix, _dot, index = key.partition(".")
        if prefix == "criteria" and index.isdigit() and int(index) < len(rows):
            by_row.setdefault(rows[int(index)].id, []).extend(messages)
        else:
            general.extend(messages)
    return general, by_row


@bp.route("/sessions/<int:session_id>/rubric", methods=["GET", "POST"])
@roles_required(Role.ORGANIZER)
def rubric(session_id: int):
    """Build the session's rubric: 3–8 weighted criteria and up to 4 unweighted questions."""
    session = get_session(session_id)
    locked_reason = _rubric_locked_reason(session)
    rubric_errors: list[str] = []
    row_errors: dict[str, list[str]] = {}
    if request.method == "POST":
        form = RubricForm()
        if locked_reason:
            flash(locked_reason, "error")
            return redirect(url_for("judging_console.rubric", session_id=session_id))
        if form.validate_on_submit():
            rows = form.filled_rows()
            try:
                rubrics.set_rubric(show.lock_session(session_id), form.to_data())
                db.session.commit()
            except ValidationFailed as error:
                db.session.rollback()
                rubric_errors, row_errors = _rubric_errors(rows, error)
            except (Conflict, NotFound) as error:
                db.session.rollback()
                _flash_error(error)
                return redirect(url_for("judging_console.rubric", session_id=session_id))
            else:
                flash(_("The rubric was saved."), "success")
                return redirect(url_for("judging_console.rubric", session_id=session_id))
    criteria = rubrics.criteria_of(session)
    if request.method == "GET":
        form = RubricForm.prefilled(criteria or rubrics.default_rubric())
    invalid = bool(rubric_errors or row_errors or form.errors)
    body = render_template(
        "judging/rubric.html", session=session, form=form, criteria=criteria, locked_reason=locked_reason,
        rubric_errors=rubric_errors, row_errors=row_errors, invalid=invalid, copy_form=_copy_form(session),
        min_criteria=rubrics.MIN_CRITERIA, max_criteria=rubrics.MAX_CRITERIA, max_questions=rubrics.MAX_QUESTIONS,
        suggested=not criteria, sorted_anchors=sorted_anchors, weight_max=WEIGHT_MAX,
    )
    return body, 422 if invalid else 200


@bp.route("/sessions/<int:session_id>/rubric/copy", methods=["POST"])
@roles_required(Role.ORGANIZER)
def copy_rubric(session_id: int):
    """Give this session the rubric of another session."""
    session = get_session(session_id)
    form = _copy_form(session)
    back = redirect(url_for("judging_console.rubric", session_id=session_id))
    if not form.validate_on_submit():
        _flash_form_errors(form)
        return back
    try:
        source = get_session(form.source_session_id.data)
        rubrics.copy_rubric(source, show.lock_session(session_id))
        db.session.commit()
    except (Conflict, NotFound, ValidationFailed) as error:
        db.session.rollback()
        _flash_error(error)
    else:
        flash(_("The rubric of %(session)s was copied.", session=source.title), "success")
    return back


# ---------- Exports ----------

def _download(session: PitchSession, kind: str, extension: str, table: spreadsheets.Table) -> Response:
    record("export.downloaded", actor=current_user, subject_type="session", subject_id=session.id,
           export=kind, format=extension)
    db.session.commit()
    return spreadsheets.download(table, extension, exports.filename(session, EXPORT_KINDS[kind], extension))


@bp.route("/sessions/<int:session_id>/export/scores.<any(csv, xlsx):extension>")
@roles_required(Role.ORGANIZER)
def export_scores(session_id: int, extension: str):
    """Download every score: one row per judge, pitch and criterion."""
    session = get_session(session_id)
    return _download(session, "scores", extension, exports.score_table(session))


@bp.route("/sessions/<int:session_id>/export/results.<any(csv, xlsx):extension>")
@roles_required(Role.ORGANIZER)
def export_results(session_id: int, extension: str):
    """Download the standings (the published snapshot once results are out)."""
    session = get_session(session_id)
    return _download(session, "results", extension, exports.results_table(session))


@bp.route("/sessions/<int:session_id>/export/audit.csv")
@roles_required(Role.ORGANIZER)
def export_audit(session_id: int):
    """Download the session's audit log."""
    session = get_session(session_id)
    return _download(session, "audit", "csv", exports.audit_table(session))


# ---------- The audit log ----------

@bp.route("/sessions/<int:session_id>/audit")
@roles_required(Role.ORGANIZER)
def audit(session_id: int):
    """The session's audit log: voids, reopenings, publication, visibility and exports."""
    session = get_session(session_id)
    return render_template("judging/audit.html", session=session, rows=exports.audit_rows(session))
