"""Exports for organizers: every score, the results and the audit log, as CSV and Excel files.

Functions here build plain tables (headers and rows); ``to_csv`` and ``to_xlsx`` turn a table
into the bytes of a file. Every text cell goes through ``safe_cell`` so that a judge's comment
such as ``=HYPERLINK(...)`` stays text when the file is opened in a spreadsheet.
"""

from __future__ import annotations

from typing import Any

from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from pitchtank.accounts.models import User
from pitchtank.audit.models import AuditEntry
from pitchtank.audit.services import AuditRow, describe, detail_text, entries_for, names_by_id
from pitchtank.core.spreadsheets import (
    Table,
    local_time,
)
from pitchtank.events.models import Pitch, PitchSession
from pitchtank.extensions import db
from pitchtank.judging import results
from pitchtank.judging.models import ScoreSheet
from pitchtank.judging.rubrics import criteria_of


def _yes_no(value: bool) -> str:
    return _("yes") if value else _("no")


# ---------- Scores ----------

def score_table(session: PitchSession) -> Table:
    """One row per judge × pitch × criterion, counting or not, in running order."""
    order = {c.id: c.position for c in criteria_of(session)}
    sheets = list(db.session.scalars(
        select(ScoreSheet).join(Pitch).where(Pitch.session_id == session.id)
        .options(selectinload(ScoreSheet.judge), selectinload(ScoreSheet.pitch))
    ))
    recused = results.recusals_of(session)
    sheets.sort(key=lambda s: (s.pitch.position, s.judge.name.casefold(), s.judge_id))
    rows: list[list[Any]] = []
    for sheet in sheets:
        if sheet.voided_at is not None:
            why = _("Voided: %(reason)s", reason=sheet.void_reason)
        elif (sheet.judge_id, sheet.pitch_id) in recused:
            why = _("The judge recused")
        else:
            why = ""
        for score in sorted(sheet.scores, key=lambda s: order.get(s.criterion_id, 0)):
            rows.append([
                session.title, sheet.pitch.position, sheet.pitch.venture.name, sheet.judge.name,
                score.criterion.key, score.value, _yes_no(not why), sheet.comment,
                local_time(sheet.updated_at), why,
            ])
    headers = [_("Session"), _("Position"), _("Venture"), _("Judge"), _("Criterion"), _("Value"),
               _("Counted"), _("Comment"), _("Updated (Mexico City time)"), _("Why not counted")]
    return Table(_("Scores"), headers, rows)


# ---------- Results ----------

def results_table(session: PitchSession) -> Table:
    """The standings: the published snapshot once results are out, otherwise the live ones."""
    standings = results.standings(session)
    snapshot = results.snapshot_of(session) if standings.published else None
    tally = (snapshot.leaderboard.get("peoples_choice") if snapshot else None) or results.peoples_choice(session)
    votes = {item["pitch_id"]: item["votes"] for item in tally}
    rows = [
        [
            entry["rank"], entry["position"], entry["venture"]["name"], entry["score"], entry["score_raw"],
            entry["judges_scored"], entry["judges_expected"], entry["copeland"],
            _yes_no(bool(entry["disagreement"])), entry.get("tie_break") or "",
            votes.get(entry["pitch_id"], 0), _yes_no(standings.published),
        ]
        for entry in standings.entries
    ]
    headers = [_("Rank"), _("Position"), _("Venture"), _("Score"), _("Raw mean"), _("Judges who scored"),
               _("Judges expected"), _("Copeland"), _("Judges disagree"), _("Tie broken by"),
               _("Audience votes"), _("Published")]
    return Table(_("Results"), headers, rows)


# ---------- Audit log ----------

def _export_label(kind: str) -> str:
    return {"scores": _("Every score"), "results": _("Results"), "audit": _("Audit log")}.get(kind, kind)


def _session_details(entry: AuditEntry, judges: dict[int, str]) -> str:
    """The details of one of this session's entries, in words where the page knows the key."""
    shown = []
    for key, value in sorted((entry.details or {}).items()):
        if key == "session_id":
            continue  # every row here belongs to this session
        if key == "judge_id" and isinstance(value, int):
            shown.append(f"{_('judge')}: {judges.get(value, value)}")
        elif key == "export" and isinstance(value, str):
            shown.append(f"{_('file')}: {_export_label(value)}")
        elif key == "format" and isinstance(value, str):
            shown.append(f"{_('format')}: {value.upper()}")
        elif key == "public" and isinstance(value, bool):
            shown.append(_("leaderboard shown to the audience") if value else _("only published results shown"))
        else:
            shown.append(detail_text(key, value))
    return "; ".join(shown)


def audit_rows(session: PitchSession) -> list[AuditRow]:
    """The session's audit entries (its own and its pitches'), oldest first."""
    pitches = {p.id: p for p in session.pitches}
    entries: list[AuditEntry] = entries_for("session", [session.id])
    if pitches:
        entries += entries_for("pitch", list(pitches))
    entries.sort(key=lambda e: (e.created_at, e.id))
    judges = names_by_id(User, {(e.details or {}).get("judge_id") for e in entries} - {None})

    def subject_of(entry: AuditEntry) -> str:
        if entry.subject_type == "pitch" and entry.subject_id in pitches:
            pitch = pitches[entry.subject_id]
            return _("Pitch %(position)s: %(venture)s", position=pitch.position, venture=pitch.venture.name)
        return _("Session")

    return describe(entries, subject_of=subject_of, details_of=lambda entry: _session_details(entry, judges))


def audit_table(session: PitchSession) -> Table:
    headers = [_("When (Mexico City time)"), _("Who"), _("Action"), _("Description"), _("Subject"),
               _("Reason"), _("Details")]
    rows = [[local_time(r.created_at), r.actor, r.action, r.label, r.subject, r.reason, r.details]
            for r in audit_rows(session)]
    return Table(_("Audit log"), headers, rows)


# ---------- Files ----------

def filename(session: PitchSession, kind: str, extension: str) -> str:
    """``sesion-12-calificaciones.csv``: ASCII, so every browser keeps it as it is."""
    return f"sesion-{session.id}-{kind}.{extension}"

