"""Injection and escaping: SQL-looking and HTML/JS payloads in every text field are stored as
text, rendered escaped on every page they appear, returned verbatim by the API, survive in
PDFs, and cannot become formulas in a CSV or Excel export."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from decimal import Decimal

import pytest
from openpyxl import load_workbook
from pypdf import PdfReader
from sqlalchemy import func, select

from pitchtank.accounts.models import Role, User
from pitchtank.core.types import utcnow
from pitchtank.events import services as events
from pitchtank.fund import offers
from pitchtank.fund import services as fund
from pitchtank.judging import rubrics, show
from pitchtank.judging.rubrics import CriterionData

SCRIPT = "<script>alert(1)</script>"
IMG = '"><img src=x onerror=alert(1)>'
SQL = "'; DROP TABLE users; --"
SQL_OR = '" OR 1=1 --'
FORMULA = '=HYPERLINK("http://evil.test","x")'
# Payloads, each with markers that must never appear unescaped in HTML.
PAYLOADS = {
    "script": (SCRIPT, ["<script>alert"]),
    "img": (IMG, ["<img src=x"]),
    "sql": (SQL, []),
    "sql-or": (SQL_OR, []),
    "formula": (FORMULA, []),
    "plus": ("+52 477 123 4567 cmd|' /C calc'!A0", []),
    "at": ("@SUM(1+9)*cmd|' /C calc'!A0", []),
    "minus": ("-2+3+cmd|' /C calc'!A0", []),
    "tab": ("\t=1+1", []),
}
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
VALID_CLABE = "002010077777777771"


def _text(payload: str, suffix: str = "") -> str:
    return f"{payload}{suffix}"


def build_injected_world(make, db, api_token, client, payload: str):
    """Every text field people type holds ``payload`` (with a short suffix where names must
    be unique); scores, feedback, offers, money and results exist so that every page shows it."""
    organizer = make.user(Role.ORGANIZER, name=_text(payload, " org"))
    owner = make.user(Role.ENTREPRENEUR, name=_text(payload, " emp"))
    judge = make.user(Role.JUDGE, name=_text(payload, " jur"))
    judge_b = make.user(Role.JUDGE, name=_text(payload, " jur2"))
    company = make.organization(_text(payload, " SA de CV"))
    investor = make.user(Role.INVESTOR, name=_text(payload, " inv"), organization_=company)
    event = make.event(organizer=organizer, name=_text(payload, " evento"), venue=_text(payload, " sede"))
    session = make.session(event, title=_text(payload, " sesión"))
    venture = make.venture(owner, name=_text(payload, " emp1"), tagline=_text(payload, " lema"),
                           description=_text(payload, " descripción"))
    other = make.venture(name=_text(payload, " emp2"))
    subs = []
    for v in (venture, other):
        applied = events.apply(v, event, v.owner, now=event.submissions_open_at)
        events.decide(applied, accept=True, note=_text(payload, " nota"), actor=organizer)
        subs.append(applied)
    events.set_running_order(session, [s.id for s in subs])
    events.set_judges(session, [judge.id, judge_b.id])
    criteria = [CriterionData("team", _text(payload, " equipo"), _text(payload, " team"), 50, 1, 10,
                              _text(payload, " desc"), _text(payload, " desc")),
                CriterionData("market", "Mercado", "Market", 25, 1, 10),
                CriterionData("pitch", "Presentación", "Pitch", 25, 1, 10)]
    rubrics.set_rubric(session, criteria)
    show.control(session.id, "start", organizer)
    show.control(session.id, "open_scoring", organizer)
    pitch = session.pitches[0]
    offer = offers.make_offer(pitch.id, investor, amount_cents=1_000_000_00, equity_pct=Decimal("10"),
                              terms=_text(payload, " términos"))
    the_fund = fund.create_fund(organizer, fund.FundData(
        name=_text(payload, " fondo"), target_cents=50_000_000_00, min_pledge_cents=100_000_00,
        commitment_deadline=utcnow().date() + timedelta(days=90), clabe=VALID_CLABE))
    fund.pledge(the_fund.id, investor, 1_000_000_00)
    call = fund.issue_capital_call(the_fund.id, organizer, percent=Decimal("50"),
                                   due_date=utcnow().date() + timedelta(days=30))
    line = call.lines[0]
    payment = fund.record_transfer(line.id, organizer, amount_cents=300_000_00,
                                   paid_on=utcnow().date() - timedelta(days=1), reference=_text(payload, " ref")[:60])
    fund.allocate(the_fund.id, organizer, venture_id=venture.id, amount_cents=100_000_00, note=_text(payload, " nota"))
    reversed_ = fund.allocate(the_fund.id, organizer, venture_id=other.id, amount_cents=50_000_00)
    fund.reverse_allocation(reversed_.id, organizer, _text(payload, " motivo"))
    db.session.commit()

    # Through the API, as a judge's tablet sends them.
    as_judge, as_judge_b = api_token(judge), api_token(judge_b)
    stored = client.put(f"/api/v1/pitches/{pitch.id}/scores/me", headers=as_judge, json={
        "scores": {"team": 8, "market": 7, "pitch": 6}, "comment": _text(payload, " comentario"), "client_seq": 1})
    assert stored.status_code == 200, stored.get_data(as_text=True)
    assert stored.get_json()["comment"] == _text(payload, " comentario").strip()
    recusal = client.post(f"/api/v1/pitches/{pitch.id}/recusal", headers=as_judge_b,
                          json={"reason": _text(payload, " conflicto")})
    assert recusal.status_code == 201, recusal.get_data(as_text=True)
    for action in ("close_scoring", "next", "end", "publish"):
        show.control(session.id, action, organizer)
    db.session.commit()
    return dict(organizer=organizer, owner=owner, judge=judge, investor=investor, event=event,
                session=session, venture=venture, pitch=pitch, offer=offer, fund=the_fund, line=line,
                payment=payment, company=company)


def _pages(w) -> list[tuple[str, str]]:
    s, e, v, f = w["session"].id, w["event"].id, w["venture"].id, w["fund"].id
    return [
        ("anonymous", "/ventures/"), ("anonymous", f"/ventures/{v}"), ("anonymous", f"/events/{e}"),
        ("anonymous", f"/sessions/{s}"), ("anonymous", f"/sessions/{s}/results"),
        ("anonymous", f"/sessions/{s}/screen"), ("anonymous", f"/sessions/{s}/vote"),
        ("owner", "/dashboard"), ("owner", "/ventures/mine"), ("owner", f"/ventures/{v}/edit"),
        ("owner", f"/pitches/{w['pitch'].id}/feedback"), ("owner", "/fund/offers"),
        ("judge", f"/sessions/{s}/judge"), ("judge", "/dashboard"),
        ("investor", "/fund/dashboard"), ("organizer", f"/fund/sessions/{s}/offers"), ("investor", "/dashboard"),
        ("organizer", "/dashboard"), ("organizer", f"/events/{e}/manage"), ("organizer", f"/sessions/{s}/manage"),
        ("organizer", f"/sessions/{s}/console"), ("organizer", f"/sessions/{s}/rubric"),
        ("organizer", f"/sessions/{s}/audit"), ("organizer", f"/fund/{f}"), ("organizer", "/fund/"),
        ("organizer", "/companies/"), ("organizer", f"/companies/{w['company'].id}"), ("organizer", "/users"),
        ("organizer", f"/users/{w['owner'].id}"), ("organizer", "/audit"), ("organizer", f"/ventures/{v}"),
    ]


def _exports(w) -> list[str]:
    s, f = w["session"].id, w["fund"].id
    return [f"/sessions/{s}/export/scores.csv", f"/sessions/{s}/export/scores.xlsx",
            f"/sessions/{s}/export/results.csv", f"/sessions/{s}/export/results.xlsx",
            f"/sessions/{s}/export/audit.csv", f"/fund/{f}/ledger.csv", f"/fund/{f}/ledger.xlsx",
            "/audit/export.csv", "/audit/export.xlsx"]


def _cells(url: str, body: bytes) -> list[str]:
    if url.endswith(".csv"):
        return [cell for row in csv.reader(io.StringIO(body.decode("utf-8-sig"))) for cell in row]
    workbook = load_workbook(io.BytesIO(body))
    cells = []
    for sheet in workbook.worksheets:
        for row in sheet.iter_rows():
            for cell in row:
                assert cell.data_type != "f", f"{url}: {cell.coordinate} is a formula: {cell.value!r}"
                if isinstance(cell.value, str):
                    cells.append(cell.value)
    return cells


@pytest.mark.parametrize("kind", list(PAYLOADS))
def test_payloads_are_stored_verbatim_and_rendered_inert(kind, app, client, make, db, api_token, login_as):
    payload, markers = PAYLOADS[kind]
    w = build_injected_world(make, db, api_token, client, payload)
    # SQL payloads did nothing to the database: every user is still there.
    assert db.session.scalar(select(func.count()).select_from(User)) == 6

    # The API returns what was typed, byte for byte (JSON escapes it for the client).
    venture = client.get(f"/api/v1/ventures/{w['venture'].id}").get_json()
    assert venture["name"] == _text(payload, " emp1").strip()
    assert venture["tagline"] == _text(payload, " lema").strip()
    board = client.get(f"/api/v1/sessions/{w['session'].id}/leaderboard").get_json()
    assert _text(payload, " emp1").strip() in [e["venture"]["name"] for e in board["entries"]]
    detail = client.get(f"/api/v1/sessions/{w['session'].id}").get_json()
    assert detail["title"] == _text(payload, " sesión").strip()

    shown_somewhere = False
    for who, url in _pages(w):
        with client.session_transaction() as session:
            session.clear()
        if who != "anonymous":
            login_as(w[who])
        response = client.get(url)
        assert response.status_code == 200, (who, url, response.status_code)
        html = response.get_data(as_text=True)
        for marker in markers:
            assert marker not in html, f"{url} as {who} renders {marker!r} unescaped"
        if markers:
            shown_somewhere |= "&lt;script&gt;" in html or "&lt;img src=x" in html
    if markers:
        assert shown_somewhere, "the escaped payload should be visible on the pages"

    login_as(w["organizer"])
    neutralised: list[str] = []
    for url in _exports(w):
        response = client.get(url)
        assert response.status_code == 200, (url, response.status_code)
        cells = _cells(url, response.get_data())
        dangerous = [c for c in cells if c.startswith(FORMULA_START) and not _is_plain_number(c)]
        assert not dangerous, f"{url} has cells a spreadsheet would run: {dangerous[:3]}"
        neutralised += [c for c in cells if c.startswith("'" + payload.strip()[:6])]
    if kind in {"formula", "plus", "at", "minus", "tab"}:
        assert neutralised, "the exports should carry the payload, defused with a leading apostrophe"

    # PDFs (capital call notice, payment receipt) carry the text and stay PDFs.
    login_as(w["investor"])
    for url in (f"/fund/lines/{w['line'].id}/notice.pdf", f"/fund/payments/{w['payment'].id}/receipt.pdf"):
        response = client.get(url)
        assert response.status_code == 200 and response.data.startswith(b"%PDF-"), (url, response.status_code)
        text = "".join(page.extract_text() or "" for page in PdfReader(io.BytesIO(response.data)).pages)
        assert "SA de CV" in text, url


def _is_plain_number(value: str) -> bool:
    try:
        float(value)
    except ValueError:
        return False
    return True


def test_javascript_urls_are_refused_in_url_fields(client, make, db, api_token, login_as):
    owner = make.user(Role.ENTREPRENEUR)
    venture = make.venture(owner)
    db.session.commit()
    for url in ("javascript:alert(1)", "JaVaScRiPt:alert(1)", " javascript:alert(1)", "data:text/html,<script>",
                "vbscript:msgbox", "https://", "//evil.test"):
        api = client.patch(f"/api/v1/ventures/{venture.id}", headers=api_token(owner), json={"website": url})
        assert api.status_code == 422 and api.get_json()["errors"]["website"], (url, api.status_code)
    login_as(owner)
    page = client.get(f"/ventures/{venture.id}/edit").get_data(as_text=True)
    assert "javascript:" not in page.lower()
