"""Exports for organizers: every score, the results and the audit log, as CSV and Excel files.

Functions here build plain tables (headers and rows); ``to_csv`` and ``to_xlsx`` turn a table
into the bytes of a file. Every text cell goes through ``safe_cell`` so that a judge's comment
such as ``=HYPERLINK(...)`` stays text when the file is opened in a spreadsheet.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from pitchtank.accounts.models import User
from pitchtank.audit.models import AuditEntry
from pitchtank.audit.services import entries_for
from pitchtank.core.timefields import local_zone
from pitchtank.events.models import Pitch, PitchSession
from pitchtank.extensions import db
from pitchtank.judging import results
from pitchtank.judging.models import ScoreSheet
from pitchtank.judging.rubrics import criteria_of

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
CSV_MIMETYPE = "text/csv; charset=utf-8"
XLSX_MIMETYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def safe_cell(value: Any) -> Any:
    """Neutralise spreadsheet formulas: text starting with = + - @ tab or CR gets a leading apostrophe.

    Numbers, dates and None pass unchanged; they are never read as formulas.
    """
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


@dataclass(frozen=True)
class Table:
    """What one export holds: a sheet title, the column headers and the rows."""

    title: str
    headers: list[str]
    rows: list[list[Any]]


def _local(value: datetime | None) -> datetime | None:
    """An aware UTC time as naive America/Mexico_City wall-clock time (what Excel can hold)."""
    return value.astimezone(local_zone()).replace(tzinfo=None, microsecond=0) if value else None


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
                _local(sheet.updated_at), why,
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

def action_label(action: str) -> str:
    labels = {
        "scores.voided": _("Scores voided"),
        "scoring.reopened": _("Scoring reopened"),
        "results.published": _("Results published"),
        "leaderboard.visibility": _("Leaderboard visibility changed"),
        "export.downloaded": _("Export downloaded"),
    }
    return labels.get(action, action)


@dataclass(frozen=True)
class AuditRow:
    created_at: datetime
    actor: str
    action: str
    label: str
    subject: str
    reason: str
    details: str


def _export_label(kind: str) -> str:
    return {"scores": _("Every score"), "results": _("Results"), "audit": _("Audit log")}.get(kind, kind)


def _details_text(details: dict[str, Any], users: dict[int, str]) -> str:
    shown = []
    for key, value in sorted((details or {}).items()):
        if key == "session_id":
            continue  # every row here belongs to this session
        if key == "judge_id" and isinstance(value, int):
            shown.append(f"{_('judge')}: {users.get(value, value)}")
        elif key == "export" and isinstance(value, str):
            shown.append(f"{_('file')}: {_export_label(value)}")
        elif key == "format" and isinstance(value, str):
            shown.append(f"{_('format')}: {value.upper()}")
        elif key == "public" and isinstance(value, bool):
            shown.append(_("leaderboard shown to the audience") if value else _("only published results shown"))
        else:
            shown.append(f"{key}: {value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)}")
    return "; ".join(shown)


def audit_rows(session: PitchSession) -> list[AuditRow]:
    """The session's audit entries (its own and its pitches'), oldest first."""
    pitches = {p.id: p for p in session.pitches}
    entries: list[AuditEntry] = entries_for("session", [session.id])
    if pitches:
        entries += entries_for("pitch", list(pitches))
    entries.sort(key=lambda e: (e.created_at, e.id))
    judge_ids = {(e.details or {}).get("judge_id") for e in entries} - {None}
    users = {u.id: u.name for u in db.session.scalars(select(User).where(User.id.in_(judge_ids)))} if judge_ids else {}
    rows = []
    for entry in entries:
        if entry.subject_type == "pitch" and entry.subject_id in pitches:
            pitch = pitches[entry.subject_id]
            subject = _("Pitch %(position)s: %(venture)s", position=pitch.position, venture=pitch.venture.name)
        else:
            subject = _("Session")
        rows.append(AuditRow(
            created_at=entry.created_at, actor=entry.actor.name if entry.actor else "",
            action=entry.action, label=action_label(entry.action), subject=subject,
            reason=entry.reason or "", details=_details_text(entry.details or {}, users),
        ))
    return rows


def audit_table(session: PitchSession) -> Table:
    headers = [_("When (Mexico City time)"), _("Who"), _("Action"), _("Description"), _("Subject"),
               _("Reason"), _("Details")]
    rows = [[_local(r.created_at), r.actor, r.action, r.label, r.subject, r.reason, r.details]
            for r in audit_rows(session)]
    return Table(_("Audit log"), headers, rows)


# ---------- Files ----------

def _csv_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if value is None:
        return ""
    return safe_cell(value)


def to_csv(table: Table) -> bytes:
    """UTF-8 with a byte-order mark, so that Excel reads accents right; CRLF line ends."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([safe_cell(h) for h in table.headers])
    for row in table.rows:
        writer.writerow([_csv_value(v) for v in row])
    return buffer.getvalue().encode("utf-8-sig")


def to_xlsx(table: Table) -> bytes:
    from openpyxl import Workbook
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    def cell(value: Any) -> Any:
        if isinstance(value, str):
            # Control characters are not allowed in the file's XML; a formula must stay text.
            return safe_cell(ILLEGAL_CHARACTERS_RE.sub("", value))
        return value

    workbook = Workbook()
    sheet = workbook.active
    sheet.title = (table.title or "Sheet")[:31]
    sheet.append([cell(h) for h in table.headers])
    for header in sheet[1]:
        header.font = Font(bold=True)
    widths = [len(str(h)) for h in table.headers]
    for row in table.rows:
        sheet.append([cell(v) for v in row])
        for index, value in enumerate(row):
            if isinstance(value, datetime):
                sheet.cell(row=sheet.max_row, column=index + 1).number_format = "yyyy-mm-dd hh:mm:ss"
                length = 19
            else:
                length = len(str(value)) if value is not None else 0
            widths[index] = max(widths[index], min(length, 60))
    for index, width in enumerate(widths, start=1):
        sheet.column_dimensions[get_column_letter(index)].width = width + 2
    sheet.freeze_panes = "A2"
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def filename(session: PitchSession, kind: str, extension: str) -> str:
    """``sesion-12-calificaciones.csv``: ASCII, so every browser keeps it as it is."""
    return f"sesion-{session.id}-{kind}.{extension}"

