"""The organizer's console: running the show, judges' status, voids, visibility and the rubric editor.

Messages are checked in English (after POST /language lang=en): the msgids are English and the
Spanish catalog translates them.
"""

from __future__ import annotations

import html
import itertools
import re
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select

from pitchtank.accounts.models import Role
from pitchtank.audit.models import AuditEntry
from pitchtank.events.models import (
    LivePhase,
    PitchSession,
    PitchStatus,
    ScoringState,
    SessionStatus,
)
from pitchtank.extensions import db
from pitchtank.judging import results, rubrics, sheets
from pitchtank.judging.forms import format_anchors, parse_anchors
from pitchtank.judging.models import ScoreSheet

_seq = itertools.count(1)
KEYS = ("problem", "solution", "market", "team", "pitch")


# ---------- helpers ----------

@pytest.fixture(autouse=True)
def _fresh_standings_cache():
    """Ids restart with every test, so a cached standings of an earlier test could match."""
    results.cache.clear()
    yield
    results.cache.clear()


@pytest.fixture
def show_session(make, db):
    """A scheduled session: three ventures, three judges and the default rubric."""
    session, judges = make.pitching_session(pitches=3, judges=3)
    rubrics.set_rubric(session, rubrics.default_rubric())
    db.session.commit()
    return session, judges


@pytest.fixture
def organizer(client, login_as):
    user = login_as(Role.ORGANIZER)
    assert client.post("/language", data={"lang": "en"}).status_code == 302
    return user


def text(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def act(client, session, action, **data):
    response = client.post(f"/sessions/{session.id}/console/{action}", data=data)
    assert response.status_code == 302, (action, response.status_code)
    assert urlsplit(response.headers["Location"]).path == f"/sessions/{session.id}/console"
    return response


def act_and_read(client, session, action, **data) -> str:
    """Post an action, then read the console it redirects to (with the flashed message)."""
    act(client, session, action, **data)
    page = client.get(f"/sessions/{session.id}/console")
    assert page.status_code == 200
    return text(page)


def fresh(session) -> PitchSession:
    db.session.expire_all()
    return db.session.get(PitchSession, session.id)


def score(pitch, judge, value=7, comment=""):
    values = dict.fromkeys(KEYS, value) | {"would_invest": 1}
    sheets.submit(pitch.id, judge, scores=values, comment=comment, client_seq=next(_seq))
    db.session.commit()


def button_tag(body: str, action: str) -> str:
    match = re.search(rf'data-action-form="{action}"[^>]*>.*?(<button[^>]*>)', body, re.S)
    assert match, action
    return match.group(1)


def enabled(body: str, action: str) -> bool:
    return " disabled" not in button_tag(body, action)


def audit(action: str) -> list[AuditEntry]:
    return list(db.session.scalars(select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)))


# ---------- access ----------

def console_routes(session_id: int, pitch_id: int) -> list[tuple[str, str, dict]]:
    base = f"/sessions/{session_id}"
    return [
        ("GET", f"{base}/console", {}),
        ("GET", f"{base}/console/status.json", {}),
        ("POST", f"{base}/console/start", {}),
        ("POST", f"{base}/console/hide_leaderboard", {}),
        ("POST", f"{base}/console/void", {"judge_id": "1", "pitch_id": str(pitch_id), "reason": "x"}),
        ("GET", f"{base}/rubric", {}),
        ("POST", f"{base}/rubric", {}),
        ("POST", f"{base}/rubric/copy", {"source_session_id": "1"}),
        ("GET", f"{base}/audit", {}),
    ]


def test_the_console_renders_for_an_organizer(client, organizer, show_session):
    session, judges = show_session
    response = client.get(f"/sessions/{session.id}/console")
    assert response.status_code == 200
    body = text(response)
    assert session.title in body
    for pitch in session.pitches:
        assert pitch.venture.name in body
    for judge in judges:
        assert judge.name in body
    for link in (f"/sessions/{session.id}/screen", f"/sessions/{session.id}/judge", f"/sessions/{session.id}/rubric",
                 f"/sessions/{session.id}/export/scores.csv", f"/sessions/{session.id}/export/scores.xlsx",
                 f"/sessions/{session.id}/export/results.csv", f"/sessions/{session.id}/export/audit.csv",
                 f"/sessions/{session.id}/audit"):
        assert link in body, link
    assert enabled(body, "start")
    assert not enabled(body, "next") and not enabled(body, "publish") and not enabled(body, "end")
    assert 'src="/static/js/console.js"' in body and 'id="console-labels"' in body


@pytest.mark.parametrize("role", [Role.ENTREPRENEUR, Role.JUDGE, Role.INVESTOR])
def test_the_console_is_refused_to_everyone_but_organizers(client, login_as, show_session, role):
    session, _judges = show_session
    login_as(role)
    for method, path, data in console_routes(session.id, session.pitches[0].id):
        response = client.open(path, method=method, data=data)
        assert response.status_code == 403, (method, path, response.status_code)
    assert fresh(session).status == SessionStatus.SCHEDULED and fresh(session).leaderboard_public is True


def test_anonymous_visitors_are_sent_to_log_in(client, show_session):
    session, _judges = show_session
    for method, path, data in console_routes(session.id, session.pitches[0].id):
        response = client.open(path, method=method, data=data)
        assert response.status_code == 302, (method, path)
        assert urlsplit(response.headers["Location"]).path == "/login", (method, path)
    assert fresh(session).status == SessionStatus.SCHEDULED


def test_an_unknown_action_or_session_is_not_found(client, organizer, show_session):
    session, _judges = show_session
    assert client.post(f"/sessions/{session.id}/console/dance").status_code == 404
    assert client.get(f"/sessions/{session.id + 999}/console").status_code == 404
    assert client.get(f"/sessions/{session.id}/console/start").status_code == 405


# ---------- running the show ----------

def test_the_whole_show_runs_from_the_console(client, organizer, show_session):
    session, judges = show_session
    first, second, third = session.pitches

    body = act_and_read(client, session, "start")
    assert "The session is live: the first pitch is on stage." in body
    live = fresh(session)
    assert live.status == SessionStatus.LIVE and live.current_pitch_id == first.id
    assert live.phase == LivePhase.PITCH and live.phase_ends_at is not None
    assert enabled(body, "qa") and enabled(body, "pause") and not enabled(body, "start")

    act(client, session, "qa")
    assert fresh(session).phase == LivePhase.QA

    act(client, session, "pause")
    paused = fresh(session)
    assert paused.paused_remaining_seconds is not None and paused.phase_ends_at is None
    body = act_and_read(client, session, "resume")
    assert "The timer is running again." in body
    resumed = fresh(session)
    assert resumed.paused_remaining_seconds is None and resumed.phase_ends_at is not None

    body = act_and_read(client, session, "open_scoring")
    assert fresh(session).current_pitch.scoring == ScoringState.OPEN
    assert enabled(body, "close_scoring") and not enabled(body, "next") and not enabled(body, "end")
    score(first, judges[0], 8)

    act(client, session, "close_scoring")
    assert fresh(session).current_pitch.scoring == ScoringState.CLOSED
    body = act_and_read(client, session, "next")
    assert "The next pitch is on stage." in body
    moved = fresh(session)
    assert moved.current_pitch_id == second.id and moved.phase == LivePhase.PITCH
    assert db.session.get(type(first), first.id).status == PitchStatus.DONE

    for action in ("open_scoring", "close_scoring", "next", "open_scoring", "close_scoring"):
        act(client, session, action)
    assert fresh(session).current_pitch_id == third.id
    body = client.get(f"/sessions/{session.id}/console").get_data(as_text=True)
    assert not enabled(body, "next")  # the last pitch

    body = act_and_read(client, session, "end")
    ended = fresh(session)
    assert ended.status == SessionStatus.ENDED and ended.current_pitch_id is None
    assert enabled(body, "publish") and "Results to publish" in body

    body = act_and_read(client, session, "publish")
    assert "The results are published and can no longer change." in body
    published = fresh(session)
    assert published.status == SessionStatus.PUBLISHED
    assert results.snapshot_of(published) is not None
    assert audit("results.published")


def test_an_action_that_does_not_fit_explains_why_and_changes_nothing(client, organizer, show_session):
    session, _judges = show_session
    body = act_and_read(client, session, "next")
    assert "The session is not live." in body
    assert fresh(session).status == SessionStatus.SCHEDULED

    act(client, session, "start")
    act(client, session, "open_scoring")
    before = fresh(session).state_version
    for action, message in (
        ("next", "Close scoring for the current pitch first."),
        ("end", "Close scoring before ending the session."),
        ("publish", "Results are published once the session has ended, and only once."),
        ("start", "The session has already started."),
        ("resume", "The timer is not paused."),
        ("open_scoring", "Scoring is already open for this pitch."),
    ):
        body = act_and_read(client, session, action)
        assert message in body, action
    after = fresh(session)
    assert after.state_version == before and after.current_pitch_id == session.pitches[0].id
    assert after.current_pitch.scoring == ScoringState.OPEN


def test_starting_without_a_rubric_says_so(client, organizer, make, db):
    session, _judges = make.pitching_session(pitches=2, judges=1)
    db.session.commit()
    body = act_and_read(client, session, "start")
    assert "Set the rubric before starting the session." in body
    assert fresh(session).status == SessionStatus.SCHEDULED
    assert "Rubric with at least 3 weighted criteria" in body and "missing" in body


def test_an_unknown_pitch_is_explained_not_an_error_page(client, organizer, show_session, make):
    session, _judges = show_session
    other, _ = make.pitching_session(pitches=1, judges=1)
    db.session.commit()
    act(client, session, "start")
    body = act_and_read(client, session, "open_scoring", pitch_id=str(other.pitches[0].id))
    assert "That pitch is not in this session." in body
    assert fresh(session).current_pitch.scoring == ScoringState.NOT_OPENED


def test_scoring_is_reopened_and_closed_again_for_an_earlier_pitch(client, organizer, show_session):
    session, judges = show_session
    first, second, _third = session.pitches
    for action in ("start", "open_scoring"):
        act(client, session, action)
    score(first, judges[0], 6)
    for action in ("close_scoring", "next"):
        act(client, session, action)

    body = client.get(f"/sessions/{session.id}/console").get_data(as_text=True)
    reopen = re.search(rf'<li id="pitch-{first.id}".*?</li>', body, re.S).group(0)
    assert "Reopen scoring" in reopen
    assert re.search(r'data-pitch-action="open_scoring"(?! hidden)>', reopen)

    body = act_and_read(client, session, "close_scoring", pitch_id=str(first.id))
    assert "Scoring is not open for this pitch." in body

    body = act_and_read(client, session, "open_scoring", pitch_id=str(first.id))
    assert "Scoring is open." in body
    now = fresh(session)
    assert now.current_pitch_id == second.id
    assert db.session.get(type(first), first.id).scoring == ScoringState.OPEN
    [entry] = audit("scoring.reopened")
    assert entry.subject_id == first.id and entry.actor_id == organizer.id
    score(first, judges[1], 9)  # a judge can fix a score while it is reopened

    body = act_and_read(client, session, "end")
    assert "Close scoring before ending the session." in body
    act(client, session, "close_scoring", pitch_id=str(first.id))
    assert db.session.get(type(first), first.id).scoring == ScoringState.CLOSED
    assert fresh(session).current_pitch_id == second.id


def test_the_leaderboard_can_be_hidden_from_the_audience_and_shown_again(client, organizer, show_session):
    session, _judges = show_session
    act(client, session, "start")
    body = act_and_read(client, session, "hide_leaderboard")
    assert "The audience now sees only the published results." in body
    assert fresh(session).leaderboard_public is False
    assert re.search(r'data-action-form="hide_leaderboard" hidden', body)
    assert client.get(f"/api/v1/sessions/{session.id}/leaderboard").status_code == 200  # organizers always
    act(client, session, "show_leaderboard")
    assert fresh(session).leaderboard_public is True
    assert [e.details["public"] for e in audit("leaderboard.visibility")] == [False, True]


# ---------- voiding ----------

def test_voiding_records_the_reason_and_the_scores_stop_counting(client, organizer, show_session):
    session, judges = show_session
    first = session.pitches[0]
    for action in ("start", "open_scoring"):
        act(client, session, action)
    score(first, judges[0], 9)
    score(first, judges[1], 5)
    before = next(e for e in results.standings(fresh(session)).entries if e["pitch_id"] == first.id)
    assert before["judges_scored"] == 2 and before["score_raw"] == 7.0

    response = client.post(f"/sessions/{session.id}/console/void", data={
        "judge_id": str(judges[0].id), "pitch_id": str(first.id), "reason": "  Es socio del emprendimiento  "})
    assert response.status_code == 302
    assert "The scores were voided" in text(client.get(response.headers["Location"]))

    sheet = db.session.scalar(select(ScoreSheet).where(ScoreSheet.pitch_id == first.id,
                                                       ScoreSheet.judge_id == judges[0].id))
    assert sheet.voided_at is not None and sheet.void_reason == "Es socio del emprendimiento"
    [entry] = audit("scores.voided")
    assert entry.reason == "Es socio del emprendimiento" and entry.subject_id == first.id
    assert entry.details["judge_id"] == judges[0].id and entry.actor_id == organizer.id

    after = next(e for e in results.standings(fresh(session)).entries if e["pitch_id"] == first.id)
    assert after["judges_scored"] == 1 and after["score_raw"] == 5.0
    status = client.get(f"/sessions/{session.id}/console/status.json").get_json()
    states = {j["id"]: j["current"] for j in status["judge_status"]["judges"]}
    assert states[judges[0].id] == "voided" and states[judges[1].id] == "scored"

    body = text(client.get(f"/sessions/{session.id}/audit"))
    assert "Es socio del emprendimiento" in body and "Scores voided" in body and judges[0].name in body

    again = client.post(f"/sessions/{session.id}/console/void", data={
        "judge_id": str(judges[0].id), "pitch_id": str(first.id), "reason": "Otra vez"})
    assert "These scores were already voided." in text(client.get(again.headers["Location"]))
    assert len(audit("scores.voided")) == 1


@pytest.mark.parametrize("reason", ["", "   "])
def test_voiding_without_a_reason_is_refused(client, organizer, show_session, reason):
    session, judges = show_session
    first = session.pitches[0]
    for action in ("start", "open_scoring"):
        act(client, session, action)
    score(first, judges[0], 9)
    response = client.post(f"/sessions/{session.id}/console/void", data={
        "judge_id": str(judges[0].id), "pitch_id": str(first.id), "reason": reason})
    assert response.status_code == 302
    assert "Give a reason for voiding these scores." in text(client.get(response.headers["Location"]))
    sheet = db.session.scalar(select(ScoreSheet).where(ScoreSheet.pitch_id == first.id))
    assert sheet.voided_at is None and audit("scores.voided") == []


def test_voiding_scores_that_do_not_exist_is_explained(client, organizer, show_session):
    session, judges = show_session
    act(client, session, "start")
    response = client.post(f"/sessions/{session.id}/console/void", data={
        "judge_id": str(judges[2].id), "pitch_id": str(session.pitches[0].id), "reason": "Error"})
    assert "That judge has not scored this pitch." in text(client.get(response.headers["Location"]))
    assert audit("scores.voided") == []


# ---------- status.json ----------

def test_status_json_tells_who_scored_who_is_missing_and_who_recused(client, organizer, show_session):
    session, judges = show_session
    first = session.pitches[0]
    for action in ("start", "open_scoring"):
        act(client, session, action)
    score(first, judges[0], 7)
    sheets.recuse(first.id, judges[1], "Familiar")
    db.session.commit()

    response = client.get(f"/sessions/{session.id}/console/status.json")
    assert response.status_code == 200 and response.mimetype == "application/json"
    assert "no-store" in response.headers["Cache-Control"]
    data = response.get_json()
    assert set(data) == {"judge_status", "pitch_state", "actions", "pitches"}
    assert data["judge_status"]["current_pitch_id"] == first.id
    judges_by_id = {j["id"]: j for j in data["judge_status"]["judges"]}
    assert judges_by_id[judges[0].id] == {"id": judges[0].id, "name": judges[0].name, "current": "scored",
                                          "scored": 1, "expected": 3}
    assert judges_by_id[judges[1].id]["current"] == "recused" and judges_by_id[judges[1].id]["expected"] == 2
    assert judges_by_id[judges[2].id]["current"] == "missing" and judges_by_id[judges[2].id]["scored"] == 0
    state = data["pitch_state"]
    assert state["status"] == "live" and state["current_pitch"]["id"] == first.id
    assert state["current_pitch"]["scoring"] == "open" and state["current_pitch"]["phase"] == "scoring"
    assert "close_scoring" in data["actions"] and "next" not in data["actions"]
    assert [p["id"] for p in data["pitches"]] == [p.id for p in session.pitches]
    assert data["pitches"][0]["scoring"] == "open"

    body = text(client.get(f"/sessions/{session.id}/console"))
    assert "1 scored · 1 missing · 1 recused · 0 voided" in body
    assert "Recused" in body and "Missing" in body and "Scored" in body


# ---------- rubric editor ----------

def rubric_form(criteria, questions=()) -> dict[str, str]:
    """Form data: ``criteria`` and ``questions`` are dicts of a row's fields."""
    data: dict[str, str] = {}
    for prefix, rows in (("criteria", criteria), ("questions", questions)):
        for index, row in enumerate(rows):
            for name, value in row.items():
                data[f"{prefix}-{index}-{name}"] = str(value)
    return data


def criterion(key, weight=30, min=1, max=10, **extra):
    row = {"key": key, "name_es": f"Nombre {key}", "name_en": f"Name {key}", "weight": weight,
           "min": min, "max": max}
    row.update(extra)
    return row


def question(key, min=0, max=1, **extra):
    row = criterion(key, min=min, max=max, **extra)
    del row["weight"]
    return row


@pytest.fixture
def fresh_session(make, db):
    session, judges = make.pitching_session(pitches=2, judges=2)
    db.session.commit()
    return session, judges


def keys_of(session) -> list[str]:
    return [c.key for c in rubrics.criteria_of(fresh(session))]


def test_the_editor_suggests_the_default_rubric_and_saves_a_valid_one(client, organizer, fresh_session):
    session, _judges = fresh_session
    page = client.get(f"/sessions/{session.id}/rubric")
    assert page.status_code == 200
    body = text(page)
    assert "This session has no rubric yet." in body
    assert 'value="problem"' in body and 'value="would_invest"' in body
    assert 'value="1=Débil|Weak; 5=Aceptable|Fair; 10=Excepcional|Outstanding"' in body

    data = rubric_form(
        [criterion("idea", 40, anchors="1=Débil|Weak; 5=Aceptable|Fair; 10=Excepcional|Outstanding",
                   description_es="¿Es original?", description_en="Is it original?"),
         criterion("equipo", 35), criterion("mercado", 25)],
        [question("invertiria", anchors="0=No; 1=Sí|Yes")],
    )
    response = client.post(f"/sessions/{session.id}/rubric", data=data)
    assert response.status_code == 302
    assert "The rubric was saved." in text(client.get(response.headers["Location"]))
    saved = rubrics.criteria_of(fresh(session))
    assert [(c.key, c.weight, c.min_value, c.max_value) for c in saved] == [
        ("idea", 40, 1, 10), ("equipo", 35, 1, 10), ("mercado", 25, 1, 10), ("invertiria", 0, 0, 1)]
    assert saved[0].anchors == {"1": {"es": "Débil", "en": "Weak"}, "5": {"es": "Aceptable", "en": "Fair"},
                                "10": {"es": "Excepcional", "en": "Outstanding"}}
    assert saved[0].description_en == "Is it original?"
    assert saved[3].anchors == {"0": {"es": "No", "en": "No"}, "1": {"es": "Sí", "en": "Yes"}}

    body = text(client.get(f"/sessions/{session.id}/rubric"))
    assert 'value="idea"' in body and 'value="problem"' not in body  # prefilled with the saved rubric


@pytest.mark.parametrize(("rows", "message", "row_id"), [
    ([criterion("idea"), criterion("equipo")], "A rubric has between 3 and 8 weighted criteria.", None),
    ([criterion("idea"), criterion("idea"), criterion("mercado")], "Each criterion needs its own key.", "criteria-1"),
    ([criterion("idea"), criterion("equipo", min=10, max=10), criterion("mercado")],
     "The scale needs a minimum below its maximum", "criteria-1"),
    ([criterion("idea"), criterion("equipo", min=7, max=3), criterion("mercado")],
     "The scale needs a minimum below its maximum", "criteria-1"),
    ([criterion("Idea Mala"), criterion("equipo"), criterion("mercado")],
     "The key uses lowercase letters", "criteria-0"),
    ([criterion("idea", anchors="11=Fuera|Out"), criterion("equipo"), criterion("mercado")],
     "Anchored labels must belong to values on the scale.", "criteria-0"),
    ([criterion("idea", anchors="uno: bueno"), criterion("equipo"), criterion("mercado")],
     "Write each label as value=Spanish|English", None),
    ([criterion("idea", weight=""), criterion("equipo"), criterion("mercado")], "This field is required.", None),
])
def test_the_editor_refuses_an_invalid_rubric_and_changes_nothing(client, organizer, fresh_session, rows,
                                                                  message, row_id):
    session, _judges = fresh_session
    rubrics.set_rubric(session, rubrics.default_rubric())
    db.session.commit()
    before = keys_of(session)
    response = client.post(f"/sessions/{session.id}/rubric", data=rubric_form(rows))
    assert response.status_code == 422
    body = text(response)
    assert message in body
    assert "The rubric was not saved." in body
    if row_id:
        assert f'id="{row_id}-problems"' in body
        problems = re.search(rf'<ul class="errors" id="{row_id}-problems">(.*?)</ul>', body, re.S).group(1)
        assert message in problems
    assert keys_of(session) == before


def test_the_rubric_cannot_change_once_a_score_exists(client, organizer, show_session):
    session, judges = show_session
    for action in ("start", "open_scoring"):
        act(client, session, action)
    score(session.pitches[0], judges[0])
    before = keys_of(session)

    page = text(client.get(f"/sessions/{session.id}/rubric"))
    assert "Judges have already scored with this rubric, so it can no longer change." in page
    assert "Save the rubric" not in page and "Problem and opportunity" in page

    data = rubric_form([criterion("idea"), criterion("equipo"), criterion("mercado")])
    response = client.post(f"/sessions/{session.id}/rubric", data=data)
    assert response.status_code == 302
    assert "can no longer change" in text(client.get(response.headers["Location"]))
    assert keys_of(session) == before


def test_a_rubric_is_copied_from_another_session(client, organizer, fresh_session, make, show_session):
    target, _judges = fresh_session
    source, _ = show_session
    rubrics.set_rubric(source, [
        rubrics.CriterionData("alpha", "Alfa", "Alpha", 50, 1, 5),
        rubrics.CriterionData("beta", "Beta", "Beta", 30, 1, 5),
        rubrics.CriterionData("gamma", "Gama", "Gamma", 20, 1, 5, anchors={"5": {"es": "Top", "en": "Top"}}),
    ])
    db.session.commit()
    page = text(client.get(f"/sessions/{target.id}/rubric"))
    assert f'<option value="{source.id}">{source.event.name} — {source.title}</option>' in page
    assert f'value="{target.id}"' not in page.split("Copy the rubric of another session")[1]

    response = client.post(f"/sessions/{target.id}/rubric/copy", data={"source_session_id": str(source.id)})
    assert response.status_code == 302
    assert f"The rubric of {source.title} was copied." in text(client.get(response.headers["Location"]))
    assert keys_of(target) == ["alpha", "beta", "gamma"]
    assert rubrics.criteria_of(fresh(target))[2].anchors == {"5": {"es": "Top", "en": "Top"}}

    # Not into a session whose judges have scored.
    for action in ("start", "open_scoring"):
        act(client, target, action)
    score_target = target.pitches[0]
    sheets.submit(score_target.id, _judges[0], scores={"alpha": 3}, comment="", client_seq=1)
    db.session.commit()
    response = client.post(f"/sessions/{target.id}/rubric/copy", data={"source_session_id": str(source.id)})
    assert "can no longer change" in text(client.get(response.headers["Location"]))
    assert keys_of(target) == ["alpha", "beta", "gamma"]


# ---------- anchored labels ----------

def test_anchors_are_parsed_from_one_line_and_written_back():
    text_ = "1=Débil|Weak; 5=Aceptable|Fair; 10=Excepcional|Outstanding"
    parsed = parse_anchors(text_)
    assert parsed == {"1": {"es": "Débil", "en": "Weak"}, "5": {"es": "Aceptable", "en": "Fair"},
                      "10": {"es": "Excepcional", "en": "Outstanding"}}
    assert format_anchors(parsed) == text_
    assert parse_anchors(" 0 = No ;1=Sí | Yes; ") == {"0": {"es": "No", "en": "No"}, "1": {"es": "Sí", "en": "Yes"}}
    assert parse_anchors("-2=Mal|Bad") == {"-2": {"es": "Mal", "en": "Bad"}}
    assert parse_anchors("") == {}


@pytest.mark.parametrize("bad", ["1 Débil", "x=Malo", "1=", "1=a; 1=b", "²=Dos", f"1={'x' * 61}"])
def test_malformed_anchors_are_refused(app, bad):
    with app.test_request_context(), pytest.raises(ValueError):
        parse_anchors(bad)
