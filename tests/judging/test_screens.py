"""Audience pages: the live screen, People's Choice voting, published results and feedback."""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser

import pytest
from sqlalchemy import func, select

from pitchtank.accounts.models import Role, User
from pitchtank.judging import rubrics, scoring
from pitchtank.judging.models import AudienceVote
from pitchtank.judging.votes import VOTER_COOKIE

BOARD_MESSAGE = re.compile(r'<p class="board__message" data-board-message( hidden)?>(.*?)</p>', re.S)
NOW_VENTURE = re.compile(r'<p class="now__venture" data-now-venture>(.*?)</p>', re.S)
RANKING_ROW = re.compile(r'<tr data-pitch-id="(\d+)".*?</tr>', re.S)


def browser(app, user: User | None = None, lang: str = "en"):
    """A separate browser (its own cookies), in the given language, optionally logged in."""
    client = app.test_client()
    with client.session_transaction() as session:
        session["lang"] = lang
        if user is not None:
            session["_user_id"] = user.get_id()
            session["_fresh"] = True
            session["tfa_user_id"] = user.id  # as if two-factor was verified
    return client


def text_of(response) -> str:
    return html.unescape(response.get_data(as_text=True))


class InlineCode(HTMLParser):
    """What the strict Content-Security-Policy would block."""

    def __init__(self) -> None:
        super().__init__()
        self.problems: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag == "script" and not dict(attrs).get("src"):
            self.problems.append("inline <script>")
        if tag == "style":
            self.problems.append("<style>")
        for name, _value in attrs:
            if name == "style" or name.startswith("on"):
                self.problems.append(f"{name}= on <{tag}>")


def assert_no_inline_code(response) -> None:
    parser = InlineCode()
    parser.feed(response.get_data(as_text=True))
    assert parser.problems == []


def scores(value: int) -> dict[str, int]:
    return {key: value for key in ("problem", "solution", "market", "team", "pitch")}


@pytest.fixture
def show(make, db, client, api_token):
    """A session with a rubric, three pitches and two judges, and the tokens to run it."""
    session, judges = make.pitching_session(pitches=3, judges=2)
    rubrics.set_rubric(session, rubrics.default_rubric())
    organizer = api_token(Role.ORGANIZER)
    tokens = [api_token(judge) for judge in judges]
    db.session.commit()

    class Show:
        def __init__(self) -> None:
            self.session, self.judges, self.organizer, self.tokens = session, judges, organizer, tokens
            self.pitches = list(session.pitches)

        def control(self, *actions: str) -> None:
            for action in actions:
                response = client.post(f"/api/v1/sessions/{session.id}/control", json={"action": action},
                                       headers=organizer)
                assert response.status_code == 200, (action, response.get_json())

        def score(self, pitch, judge_index: int, value: int, comment: str = "", would_invest: int = 1) -> None:
            body = {"scores": {**scores(value), "would_invest": would_invest}, "comment": comment, "client_seq": 1}
            response = client.put(f"/api/v1/pitches/{pitch.id}/scores/me", json=body,
                                  headers=tokens[judge_index])
            assert response.status_code == 200, response.get_json()

    return Show()


def vote_count(db, session_id: int) -> int:
    return db.session.scalar(select(func.count(AudienceVote.id)).where(AudienceVote.session_id == session_id))


# ---------- the live screen ----------

def test_the_screen_shows_anyone_the_pitch_on_stage_and_the_live_ranking(show, app):
    show.control("start", "open_scoring")
    first = show.pitches[0]
    show.score(first, 0, 8)
    response = browser(app).get(f"/sessions/{show.session.id}/screen")
    assert response.status_code == 200
    assert_no_inline_code(response)
    body = text_of(response)
    assert NOW_VENTURE.search(body).group(1) == first.venture.name
    assert "Judges are scoring" in body
    message = BOARD_MESSAGE.search(body)
    assert message.group(1) == " hidden" and message.group(2) == ""
    rows = RANKING_ROW.findall(body)
    assert rows[0] == str(first.id) and len(rows) == 3
    first_row = RANKING_ROW.search(body).group(0)
    assert ">8.0<" in first_row and "1 of 2" in first_row and "On stage" in first_row
    # The People's Choice QR code leads to the absolute vote URL while the session is live.
    assert 'src="data:image/svg+xml' in body
    assert f'href="http://pitchtank.test/sessions/{show.session.id}/vote"' in body
    assert "QR code that opens the People's Choice vote page" in body
    assert re.search(r'<aside class="screen__vote"[^>]*data-vote>', body)
    # What screen.js needs: the API addresses and the state it starts from.
    assert f'data-stream-url="/api/v1/sessions/{show.session.id}/stream"' in body
    assert f'data-leaderboard-url="/api/v1/sessions/{show.session.id}/leaderboard"' in body


def test_the_projector_view_hides_the_site_chrome(show, app):
    show.control("start")
    body = text_of(browser(app).get(f"/sessions/{show.session.id}/screen?chrome=0"))
    assert 'class="screen-mode screen-mode--bare"' in body
    assert "Projector view" not in body
    assert 'class="screen-mode"' in text_of(browser(app).get(f"/sessions/{show.session.id}/screen"))


def test_a_hidden_leaderboard_shows_only_the_pitch_even_on_the_organizers_laptop(show, app, make, db):
    show.control("start", "open_scoring")
    show.score(show.pitches[0], 0, 8)
    show.control("hide_leaderboard")
    organizer = make.user(Role.ORGANIZER)
    db.session.commit()
    for visitor in (browser(app), browser(app, organizer)):
        response = visitor.get(f"/sessions/{show.session.id}/screen")
        assert response.status_code == 200
        body = text_of(response)
        message = BOARD_MESSAGE.search(body)
        assert message.group(1) is None and message.group(2) == "Results will be shown when published"
        assert RANKING_ROW.findall(body) == []
        assert ">8.0<" not in body
        assert NOW_VENTURE.search(body).group(1) == show.pitches[0].venture.name
    # The audience's JSON refuses as well; the page only ever shows what the audience may see.
    assert browser(app).get(f"/api/v1/sessions/{show.session.id}/leaderboard").status_code == 403


def test_the_screen_before_the_start_and_in_spanish(show, app):
    response = browser(app, lang="es_MX").get(f"/sessions/{show.session.id}/screen")
    assert response.status_code == 200
    body = text_of(response)
    assert '<html lang="es-MX">' in body
    assert re.search(r'<aside class="screen__vote"[^>]*data-vote hidden>', body)  # no voting yet
    assert BOARD_MESSAGE.search(body).group(1) is None
    assert browser(app).get("/sessions/999999/screen").status_code == 404


# ---------- People's Choice ----------

def test_voting_without_javascript_counts_one_vote_per_browser(show, app, db):
    show.control("start")
    url = f"/sessions/{show.session.id}/vote"
    phone = browser(app)
    page = phone.get(url)
    assert page.status_code == 200
    assert_no_inline_code(page)
    body = text_of(page)
    assert 'name="csrf_token"' in body
    assert all(f'name="pitch_id" value="{p.id}"' in body for p in show.pitches)
    assert phone.get_cookie(VOTER_COOKIE, domain="pitchtank.test") is None  # looking issues no voter cookie

    first = phone.post(url, data={"pitch_id": str(show.pitches[1].id)})
    assert first.status_code == 302 and first.headers["Location"].endswith(url)
    assert phone.get_cookie(VOTER_COOKIE, domain="pitchtank.test") is not None
    vote = db.session.scalar(select(AudienceVote).where(AudienceVote.session_id == show.session.id))
    assert vote.pitch_id == show.pitches[1].id and vote.voter_key.startswith("browser:")
    after = text_of(phone.get(url))
    assert f"You voted for {show.pitches[1].venture.name}. Thank you!" in after

    second = phone.post(url, data={"pitch_id": str(show.pitches[2].id)})
    assert second.status_code == 409
    assert "You have already voted in this session." in text_of(second)
    assert vote_count(db, show.session.id) == 1

    other_phone = browser(app)
    assert other_phone.post(url, data={"pitch_id": str(show.pitches[2].id)}).status_code == 302
    assert vote_count(db, show.session.id) == 2


def test_a_logged_in_person_votes_once_whatever_the_browser(show, app, make, db):
    show.control("start")
    person = make.user(Role.INVESTOR)
    db.session.commit()
    url = f"/sessions/{show.session.id}/vote"
    assert browser(app, person).post(url, data={"pitch_id": str(show.pitches[0].id)}).status_code == 302
    refused = browser(app, person).post(url, data={"pitch_id": str(show.pitches[1].id)})
    assert refused.status_code == 409
    assert vote_count(db, show.session.id) == 1


def test_voting_before_the_session_is_live_is_refused(show, app, db):
    url = f"/sessions/{show.session.id}/vote"
    phone = browser(app)
    page = phone.get(url)
    assert page.status_code == 200
    assert "Voting opens when the session is live." in text_of(page)
    assert 'name="pitch_id"' not in page.get_data(as_text=True)
    refused = phone.post(url, data={"pitch_id": str(show.pitches[0].id)})
    assert refused.status_code == 409
    assert "Voting is open only while the session is live." in text_of(refused)
    assert vote_count(db, show.session.id) == 0
    assert phone.get_cookie(VOTER_COOKIE, domain="pitchtank.test") is None


def test_a_bad_vote_is_refused_with_a_message(show, app, make, db):
    show.control("start")
    other_session, _judges = make.pitching_session(pitches=1, judges=1)
    db.session.commit()
    url = f"/sessions/{show.session.id}/vote"
    missing = browser(app).post(url, data={})
    assert missing.status_code == 422 and "Choose the pitch you vote for." in text_of(missing)
    elsewhere = browser(app).post(url, data={"pitch_id": str(other_session.pitches[0].id)})
    assert elsewhere.status_code == 404 and "That pitch is not in this session." in text_of(elsewhere)
    assert vote_count(db, show.session.id) == 0


def test_voting_closes_when_the_session_ends(show, app, db):
    show.control("start", "end")
    url = f"/sessions/{show.session.id}/vote"
    assert "Voting for this session has closed." in text_of(browser(app).get(url))
    assert browser(app).post(url, data={"pitch_id": str(show.pitches[0].id)}).status_code == 409
    assert vote_count(db, show.session.id) == 0


# ---------- published results ----------

def run_to_publication(show, app) -> None:
    """Three pitches: the third best; the first two tied on every key but the running order."""
    show.control("start", "open_scoring")
    show.score(show.pitches[0], 0, 7, comment="Buen problema, falta tracción.")
    show.score(show.pitches[0], 1, 7, comment="Equipo sólido.", would_invest=0)
    assert browser(app).post(f"/sessions/{show.session.id}/vote",
                             data={"pitch_id": str(show.pitches[1].id)}).status_code == 302
    show.control("close_scoring", "next", "open_scoring")
    show.score(show.pitches[1], 0, 7)
    show.score(show.pitches[1], 1, 7)
    show.control("close_scoring", "next", "open_scoring")
    show.score(show.pitches[2], 0, 9)
    show.score(show.pitches[2], 1, 9)
    show.control("close_scoring", "end")


def test_results_are_not_found_before_publishing_except_by_organizers(show, app, make, db):
    run_to_publication(show, app)
    url = f"/sessions/{show.session.id}/results"
    assert browser(app).get(url).status_code == 404
    assert browser(app, show.pitches[0].venture.owner).get(url).status_code == 404
    organizer = make.user(Role.ORGANIZER)
    db.session.commit()
    notice = browser(app, organizer).get(url)
    assert notice.status_code == 200
    body = text_of(notice)
    assert "The results of this session have not been published yet." in body
    assert show.pitches[2].venture.name not in body


def test_published_results_show_the_frozen_ranking_ties_and_the_peoples_choice(show, app):
    run_to_publication(show, app)
    show.control("publish")
    response = browser(app).get(f"/sessions/{show.session.id}/results")
    assert response.status_code == 200
    assert_no_inline_code(response)
    body = text_of(response)
    ranking, choice = body.split('id="choice-heading"')
    names = [p.venture.name for p in show.pitches]
    order = sorted(names, key=ranking.index)
    assert order == [names[2], names[0], names[1]]
    assert "9.00" in ranking and "7.00" in ranking  # raw means
    assert ranking.count("Fully tied: the pitch that presented earlier goes first.") == 2
    assert scoring.TIE_BREAK_RULE["en"] in ranking
    assert scoring.TIE_BREAK_RULE["es"] not in body
    # The audience's tally is its own table, apart from the judges' ranking.
    tally = re.search(r'<table class="table choice-table">.*?</table>', choice, re.S).group(0)
    assert re.search(rf"{re.escape(names[1])}</th>\s*<td class=\"num\">1</td>", tally)
    # The rule in the page's language.
    spanish = text_of(browser(app, lang="es_MX").get(f"/sessions/{show.session.id}/results"))
    assert scoring.TIE_BREAK_RULE["es"] in spanish and scoring.TIE_BREAK_RULE["en"] not in spanish


def test_the_results_flag_where_the_head_to_head_view_disagrees(show, app, db):
    from pitchtank.judging.models import ResultSnapshot

    run_to_publication(show, app)
    show.control("publish")
    snapshot = db.session.scalar(select(ResultSnapshot).where(ResultSnapshot.session_id == show.session.id))
    entries = [dict(e) for e in snapshot.leaderboard["entries"]]
    entries[1].update(disagreement=True, copeland_rank=3)
    snapshot.leaderboard = {**snapshot.leaderboard, "entries": entries}
    db.session.commit()
    body = text_of(browser(app).get(f"/sessions/{show.session.id}/results"))
    assert "The head-to-head view puts this pitch in place 3." in body
    assert body.count('class="results-row is-flagged"') == 1


# ---------- feedback ----------

def test_the_owner_sees_means_and_comments_but_no_judge(show, app, make, db):
    run_to_publication(show, app)
    pitch = show.pitches[0]
    owner = pitch.venture.owner
    url = f"/pitches/{pitch.id}/feedback"
    before = browser(app, owner).get(url)
    assert before.status_code == 200
    assert "Feedback is available once results are published." in text_of(before)
    assert "Equipo sólido." not in text_of(before)

    show.control("publish")
    response = browser(app, owner).get(url)
    assert response.status_code == 200
    assert_no_inline_code(response)
    body = text_of(response)
    assert "Problem and opportunity" in body and "Pitch delivery" in body
    assert "7.0 of 10" in body
    assert "Would you invest?" in body and "0.5 on a scale of 0 to 1" in body
    assert "Buen problema, falta tracción." in body and "Equipo sólido." in body
    for judge in show.judges:
        assert judge.name not in body and judge.email not in body
        assert "judge_id" not in body
    spanish = text_of(browser(app, owner, lang="es_MX").get(url))
    assert "Problema y oportunidad" in spanish and "Problem and opportunity" not in spanish

    organizer = make.user(Role.ORGANIZER)
    db.session.commit()
    assert browser(app, organizer).get(url).status_code == 200


def test_feedback_is_private_to_the_venture(show, app, make, db):
    run_to_publication(show, app)
    show.control("publish")
    url = f"/pitches/{show.pitches[0].id}/feedback"
    other_entrepreneur = make.user(Role.ENTREPRENEUR)
    investor = make.user(Role.INVESTOR)
    db.session.commit()
    assert browser(app, other_entrepreneur).get(url).status_code == 404
    assert browser(app, show.pitches[1].venture.owner).get(url).status_code == 404
    assert browser(app, show.judges[0]).get(url).status_code == 403
    assert browser(app, investor).get(url).status_code == 403
    anonymous = browser(app).get(url)
    assert anonymous.status_code == 302 and "/login" in anonymous.headers["Location"]
    assert browser(app, other_entrepreneur).get("/pitches/999999/feedback").status_code == 404


def test_the_results_link_each_owner_to_their_own_feedback_only(show, app):
    run_to_publication(show, app)
    show.control("publish")
    owner = show.pitches[0].venture.owner
    body = browser(app, owner).get(f"/sessions/{show.session.id}/results").get_data(as_text=True)
    assert f"/pitches/{show.pitches[0].id}/feedback" in body
    assert f"/pitches/{show.pitches[1].id}/feedback" not in body
    assert "/feedback" not in browser(app).get(f"/sessions/{show.session.id}/results").get_data(as_text=True)
