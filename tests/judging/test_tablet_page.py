"""The judges' tablet page and its state poll: who may open them, what they carry, cheap re-reads."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser

import pytest

from pitchtank.accounts.models import Role
from pitchtank.extensions import db as _db
from pitchtank.judging import rubrics, sheets, show


@pytest.fixture
def judged(make, db):
    """A session with the default rubric, three pitches and two judges; not started yet."""
    session, judges = make.pitching_session(pitches=3, judges=2)
    rubrics.set_rubric(session, rubrics.default_rubric())
    organizer = make.user(Role.ORGANIZER)
    db.session.commit()
    return session, judges, organizer


def control(session, organizer, *actions):
    for action in actions:
        show.control(session.id, action, organizer)
    _db.session.commit()


def page_url(session):
    return f"/sessions/{session.id}/judge"


def state_url(session):
    return f"/sessions/{session.id}/judge/state.json"


class Tags(HTMLParser):
    """Every start tag with its attributes, and the text inside each <script>."""

    def __init__(self):
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.scripts: list[tuple[dict[str, str | None], str]] = []
        self._script: dict[str, str | None] | None = None

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        if tag == "script":
            self._script = dict(attrs)
            self.scripts.append((self._script, ""))

    def handle_data(self, data):
        if self._script is not None:
            attrs, text = self.scripts[-1]
            self.scripts[-1] = (attrs, text + data)

    def handle_endtag(self, tag):
        if tag == "script":
            self._script = None


def parse(html: str) -> Tags:
    tags = Tags()
    tags.feed(html)
    return tags


def json_block(tags: Tags, block_id: str) -> dict:
    (text,) = [text for attrs, text in tags.scripts if attrs.get("id") == block_id]
    return json.loads(text)


# ---------- the page ----------

def test_the_page_shows_an_assigned_judge_the_rubric_in_spanish(judged, client, login_as):
    session, judges, _ = judged
    login_as(judges[0])
    response = client.get(page_url(session))
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert session.title in html
    for name in ("Problema y oportunidad", "Solución e innovación", "Mercado y modelo de negocio", "Equipo",
                 "Presentación", "¿Invertiría?"):
        assert name in html
    assert "Excepcional" in html and "Débil" in html  # the anchored labels, in the page's language
    assert "Problem and opportunity" not in html
    assert response.headers["Cache-Control"] == "private, no-store"


def test_the_page_is_in_english_when_the_judge_chose_english(judged, client, login_as):
    session, judges, _ = judged
    login_as(judges[0])
    with client.session_transaction() as browser_session:
        browser_session["lang"] = "en"
    html = client.get(page_url(session)).get_data(as_text=True)
    assert "Problem and opportunity" in html and "Outstanding" in html
    assert "Problema y oportunidad" not in html
    assert 'lang="en"' in html


def test_the_rubric_is_a_form_that_a_browser_test_can_drive(judged, client, login_as):
    session, judges, _ = judged
    login_as(judges[0])
    tags = parse(client.get(page_url(session)).get_data(as_text=True))
    fieldsets = [attrs for tag, attrs in tags.tags if tag == "fieldset" and attrs.get("data-criterion")]
    assert [f["data-criterion"] for f in fieldsets] == ["problem", "solution", "market", "team", "pitch",
                                                         "would_invest"]
    radios = [attrs for tag, attrs in tags.tags if tag == "input" and attrs.get("type") == "radio"]
    team = [r["value"] for r in radios if r["name"] == "score-team"]
    assert team == [str(v) for v in range(1, 11)]
    assert [r["value"] for r in radios if r["name"] == "score-would_invest"] == ["0", "1"]
    ids = {attrs.get("id") for _, attrs in tags.tags}
    assert {"save-status", "comment", "recuse", "score-form", "tablet", "recuse-dialog", "recuse-reason",
            "recuse-confirm", "timer", "deck-link"} <= ids
    status = next(attrs for _, attrs in tags.tags if attrs.get("id") == "save-status")
    assert status["role"] == "status" and status["aria-live"] == "polite"
    root = next(attrs for _, attrs in tags.tags if attrs.get("id") == "tablet")
    assert root["data-session-id"] == str(session.id) and root["data-judge-id"] == str(judges[0].id)
    assert root["data-scores-url"] == "/api/v1/pitches/{id}/scores/me"
    assert root["data-recusal-url"] == "/api/v1/pitches/{id}/recusal"
    assert root["data-state-url"] == state_url(session)


def test_the_page_has_no_inline_code_and_carries_its_texts_as_json(judged, client, login_as):
    session, judges, _ = judged
    login_as(judges[0])
    response = client.get(page_url(session))
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]
    tags = parse(response.get_data(as_text=True))
    for attrs, text in tags.scripts:
        if attrs.get("src"):
            assert not text.strip()
        else:
            assert attrs.get("type") == "application/json", attrs  # data, never executable
    assert any(attrs.get("src", "").endswith("/static/js/tablet.js") for attrs, _ in tags.scripts)
    for tag, attrs in tags.tags:
        assert "style" not in attrs, tag
        assert not any(name.startswith("on") for name in attrs), (tag, attrs)
        assert not (attrs.get("href") or "").startswith("javascript:")
    texts = json_block(tags, "tablet-i18n")
    assert set(texts) >= {"saved", "pending", "closed", "not_open", "recused", "voided", "logged_out"}
    assert all(isinstance(text, str) and text for text in texts.values())
    # The script fills in the placeholders; the translations keep them.
    assert "{time}" in texts["saved"] and "{n}" in texts["pending"]


def test_the_page_embeds_the_first_state(judged, client, login_as):
    session, judges, organizer = judged
    control(session, organizer, "start")
    login_as(judges[0])
    tags = parse(client.get(page_url(session)).get_data(as_text=True))
    state = json_block(tags, "tablet-state")
    assert state["current_pitch"]["id"] == session.pitches[0].id
    assert state["current_pitch"]["phase"] == "pitch"


@pytest.mark.parametrize("role", [Role.ENTREPRENEUR, Role.INVESTOR, Role.ORGANIZER])
def test_other_roles_are_refused(judged, client, login_as, role):
    session, _, _ = judged
    login_as(role)
    assert client.get(page_url(session)).status_code == 403
    assert client.get(state_url(session)).status_code == 403


def test_a_judge_of_another_session_is_refused(judged, client, login_as):
    session, _, _ = judged
    login_as(Role.JUDGE)
    assert client.get(page_url(session)).status_code == 403
    assert client.get(state_url(session)).status_code == 403


def test_anonymous_visitors_are_sent_to_log_in(judged, client):
    session, _, _ = judged
    for url in (page_url(session), state_url(session)):
        response = client.get(url)
        assert response.status_code == 302
        assert re.search(r"/login\?next=", response.headers["Location"])


def test_an_unknown_session_is_404(judged, client, login_as):
    _, judges, _ = judged
    login_as(judges[0])
    assert client.get("/sessions/999999/judge").status_code == 404
    assert client.get("/sessions/999999/judge/state.json").status_code == 404


# ---------- state.json ----------

def test_state_shows_the_pitch_on_stage_and_its_scoring(judged, client, login_as):
    session, judges, organizer = judged
    login_as(judges[0])
    waiting = client.get(state_url(session)).get_json()
    assert waiting["status"] == "scheduled" and waiting["current_pitch"] is None
    assert waiting["total_pitches"] == 3 and len(waiting["pitches"]) == 3

    control(session, organizer, "start", "open_scoring")
    state = client.get(state_url(session)).get_json()
    first = session.pitches[0]
    current = state["current_pitch"]
    assert current["id"] == first.id and current["position"] == 1
    assert current["venture"] == {"id": first.venture.id, "name": first.venture.name,
                                  "tagline": first.venture.tagline}
    assert current["phase"] == "scoring" and current["scoring"] == "open"
    assert current["deck_url"] is None  # the factory's ventures have no deck
    assert state["scoring_open_pitch_ids"] == [first.id]
    assert state["recused_pitch_ids"] == [] and state["voided_pitch_ids"] == []
    assert state["server_time"] and state["poll_seconds"] == 2
    assert [p["position"] for p in state["pitches"]] == [1, 2, 3]
    # Judges never see scores or standings from here.
    assert "leaderboard_public" not in state
    assert not {"scores", "entries", "leaderboard"} & set(state)


def test_state_answers_304_until_something_changes(judged, client, login_as):
    session, judges, organizer = judged
    control(session, organizer, "start")
    login_as(judges[0])
    first = client.get(state_url(session))
    etag = first.headers["ETag"]
    assert first.headers["Cache-Control"] == "private, no-cache"
    again = client.get(state_url(session), headers={"If-None-Match": etag})
    assert again.status_code == 304 and not again.get_data()
    assert again.headers["ETag"] == etag

    control(session, organizer, "open_scoring")
    changed = client.get(state_url(session), headers={"If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["ETag"] != etag
    assert changed.get_json()["current_pitch"]["scoring"] == "open"


def test_state_carries_the_judges_own_recusals_and_changes_its_etag(judged, client, login_as):
    session, judges, organizer = judged
    control(session, organizer, "start", "open_scoring")
    pitch = session.pitches[0]
    login_as(judges[0])
    etag = client.get(state_url(session)).headers["ETag"]
    sheets.recuse(pitch.id, judges[0], "Socio del fundador")
    _db.session.commit()
    changed = client.get(state_url(session), headers={"If-None-Match": etag})
    assert changed.status_code == 200
    assert changed.get_json()["recused_pitch_ids"] == [pitch.id]

    # Another judge's state does not show it.
    login_as(judges[1])
    assert client.get(state_url(session)).get_json()["recused_pitch_ids"] == []


def test_state_tells_a_judge_their_sheet_was_voided(judged, client, login_as):
    session, judges, organizer = judged
    control(session, organizer, "start", "open_scoring")
    pitch = session.pitches[0]
    sheets.submit(pitch.id, judges[0], scores={"team": 7}, comment="", client_seq=1)
    show.void_sheet(session, organizer, pitch_id=pitch.id, judge_id=judges[0].id, reason="Error de captura")
    _db.session.commit()
    login_as(judges[0])
    assert client.get(state_url(session)).get_json()["voided_pitch_ids"] == [pitch.id]


def test_the_etag_differs_between_judges(judged, client, login_as):
    session, judges, organizer = judged
    control(session, organizer, "start")
    login_as(judges[0])
    mine = client.get(state_url(session)).headers["ETag"]
    login_as(judges[1])
    response = client.get(state_url(session), headers={"If-None-Match": mine})
    assert response.status_code == 200 and response.headers["ETag"] != mine


def test_the_state_follows_the_next_pitch(judged, client, login_as):
    session, judges, organizer = judged
    control(session, organizer, "start", "open_scoring", "close_scoring", "next")
    login_as(judges[0])
    state = client.get(state_url(session)).get_json()
    assert state["current_pitch"]["id"] == session.pitches[1].id
    assert state["current_pitch"]["scoring"] == "not_opened"
    assert [p["scoring"] for p in state["pitches"]] == ["closed", "not_opened", "not_opened"]
