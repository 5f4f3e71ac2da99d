"""The cached scoring rules and cached logins never change an answer, only its cost.

Every test first warms the per-process caches with a write, then changes what decides the next
write, in this process or (simulated with a stale snapshot or raw SQL) in another one.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import func, select, text, update

from pitchtank.accounts import services as accounts
from pitchtank.accounts.auth_loader import cache as auth_cache
from pitchtank.accounts.models import ApiToken, Role
from pitchtank.core.types import utcnow
from pitchtank.events import services as events
from pitchtank.events.models import Pitch, PitchSession, ScoringState
from pitchtank.judging import rubrics, scoring_rules, show
from pitchtank.judging.models import Recusal, ScoreSheet

KEYS = ("problem", "solution", "market", "team", "pitch")


@pytest.fixture
def show_live(make, db, client, api_token):
    """A started session, scoring open for the first pitch; judges (users) and their tokens."""
    session, judges = make.pitching_session(pitches=3, judges=2)
    rubrics.set_rubric(session, rubrics.default_rubric())
    organizer = api_token(Role.ORGANIZER)
    for action in ("start", "open_scoring"):
        assert client.post(f"/api/v1/sessions/{session.id}/control", json={"action": action},
                           headers=organizer).status_code == 200
    return session, judges, [api_token(j) for j in judges], organizer


def put(client, pitch_id, headers, seq, value=7, scores=None):
    body = {"scores": scores if scores is not None else dict.fromkeys(KEYS, value), "client_seq": seq}
    return client.put(f"/api/v1/pitches/{pitch_id}/scores/me", json=body, headers=headers)


def control(client, session, organizer, action, **extra):
    response = client.post(f"/api/v1/sessions/{session.id}/control", json={"action": action, **extra},
                           headers=organizer)
    assert response.status_code == 200, response.get_json()


def state_version(db, session_id):
    return db.session.scalar(select(PitchSession.state_version).where(PitchSession.id == session_id))


def scores_version(db, session_id):
    return db.session.scalar(select(PitchSession.scores_version).where(PitchSession.id == session_id))


# ---------- in this process: every change is seen by the next write ----------

def test_closing_and_reopening_scoring_applies_to_the_next_write(show_live, client):
    session, _judges, tokens, organizer = show_live
    pitch_id = session.pitches[0].id
    assert put(client, pitch_id, tokens[0], 1).get_json()["stored"] is True  # the cache is warm
    control(client, session, organizer, "close_scoring")
    assert put(client, pitch_id, tokens[0], 2).status_code == 409
    # A resend of what was stored before closing is still answered with the stored scores.
    assert put(client, pitch_id, tokens[0], 1).get_json()["stored"] is False
    control(client, session, organizer, "open_scoring", pitch_id=pitch_id)
    assert put(client, pitch_id, tokens[0], 2).get_json()["stored"] is True


def test_a_recusal_applies_to_the_next_write(show_live, client):
    session, _judges, tokens, _organizer = show_live
    pitch_id = session.pitches[0].id
    assert put(client, pitch_id, tokens[0], 1).status_code == 200
    assert client.post(f"/api/v1/pitches/{pitch_id}/recusal", json={"reason": "Socio"},
                       headers=tokens[0]).status_code == 201
    assert put(client, pitch_id, tokens[0], 2).status_code == 403
    assert put(client, pitch_id, tokens[1], 1).status_code == 200  # the other judge is unaffected


def test_a_voided_sheet_refuses_newer_writes_with_a_warm_cache(show_live, client, db, make):
    session, judges, tokens, _organizer = show_live
    pitch_id = session.pitches[0].id
    assert put(client, pitch_id, tokens[0], 1).status_code == 200
    organizer = make.user(Role.ORGANIZER)
    show.void_sheet(db.session.get(PitchSession, session.id), organizer, pitch_id=pitch_id,
                    judge_id=judges[0].id, reason="Error de captura")
    db.session.commit()
    response = put(client, pitch_id, tokens[0], 2)
    assert response.status_code == 409
    assert put(client, pitch_id, tokens[0], 1).get_json()["stored"] is False


def test_removing_a_judge_or_the_judge_role_applies_to_the_next_write(show_live, client, db, make):
    session, judges, tokens, _organizer = show_live
    pitch_id = session.pitches[0].id
    assert put(client, pitch_id, tokens[0], 1).status_code == 200
    assert put(client, pitch_id, tokens[1], 1).status_code == 200
    events.set_judges(db.session.get(PitchSession, session.id), [judges[1].id])
    db.session.commit()
    assert put(client, pitch_id, tokens[0], 2).status_code == 403
    events.set_judges(db.session.get(PitchSession, session.id), [judges[0].id, judges[1].id])
    db.session.commit()
    assert put(client, pitch_id, tokens[0], 2).status_code == 200
    accounts.set_roles(judges[1], [Role.ENTREPRENEUR], actor=make.user(Role.ORGANIZER))
    db.session.commit()
    assert put(client, pitch_id, tokens[1], 2).status_code == 403


def test_a_deactivated_account_is_refused_at_once(show_live, client, db):
    session, judges, tokens, _organizer = show_live
    pitch_id = session.pitches[0].id
    assert put(client, pitch_id, tokens[0], 1).status_code == 200
    judges[0].is_active_account = False
    db.session.commit()
    assert put(client, pitch_id, tokens[0], 2).status_code == 401


def test_a_rubric_change_applies_to_the_next_write(make, db, client, api_token):
    session, judges = make.pitching_session(pitches=2, judges=1)
    rubrics.set_rubric(session, rubrics.default_rubric())
    db.session.commit()
    pitch = session.pitches[0]
    pitch.scoring = ScoringState.OPEN  # straight on the row: the listener still bumps the version
    db.session.commit()
    token = api_token(judges[0])
    # A refused write (unknown criterion) warms the cache without storing a score.
    assert put(client, pitch.id, token, 1, scores={"design": 5}).status_code == 422
    rubrics.set_rubric(db.session.get(PitchSession, session.id), [
        rubrics.CriterionData("design", "Diseño", "Design", 40, 1, 5),
        rubrics.CriterionData("team", "Equipo", "Team", 30, 1, 5),
        rubrics.CriterionData("market", "Mercado", "Market", 30, 1, 5),
    ])
    db.session.commit()
    assert put(client, pitch.id, token, 1, scores={"problem": 5}).status_code == 422
    response = put(client, pitch.id, token, 1, scores={"design": 5, "team": 4, "market": 3})
    assert response.status_code == 200 and response.get_json()["scores"] == {"design": 5, "team": 4, "market": 3}


def test_every_change_to_the_rules_bumps_the_state_version(show_live, db, make):
    session, judges, _tokens, _organizer = show_live
    sid = session.id

    def bumps(change) -> bool:
        before = state_version(db, sid)
        change()
        db.session.commit()
        return state_version(db, sid) > before

    pitch_id = session.pitches[1].id
    assert bumps(lambda: setattr(db.session.get(Pitch, pitch_id), "scoring", ScoringState.OPEN))
    assert bumps(lambda: events.set_judges(db.session.get(PitchSession, sid), [judges[0].id]))
    assert bumps(lambda: db.session.add(Recusal(pitch_id=pitch_id, judge_id=judges[0].id, reason="")))
    assert bumps(lambda: judges[0].revoke(Role.JUDGE))
    assert bumps(lambda: judges[0].grant(Role.JUDGE))
    assert bumps(lambda: setattr(judges[0], "is_active_account", False))
    # Unrelated changes leave it alone, so that the cache stays warm.
    assert not bumps(lambda: setattr(judges[1], "name", "Otro nombre"))


# ---------- a stale snapshot (another process's view) never changes an answer ----------

def _snapshot(pitch_id):
    rules = scoring_rules.fresh_for_pitch(pitch_id)
    assert rules is not None
    return rules


def test_a_stale_snapshot_that_says_open_cannot_store_a_score_after_closing(show_live, client, db):
    session, _judges, tokens, organizer = show_live
    pitch_id = session.pitches[0].id
    assert put(client, pitch_id, tokens[0], 1).status_code == 200
    stale = _snapshot(pitch_id)
    assert stale.is_open(pitch_id)
    control(client, session, organizer, "close_scoring")
    versions = scores_version(db, session.id)
    scoring_rules.cache.put(stale)  # as if this process had not seen the close
    assert put(client, pitch_id, tokens[0], 2).status_code == 409
    db.session.expire_all()
    sheet = db.session.scalar(select(ScoreSheet).where(ScoreSheet.pitch_id == pitch_id))
    assert sheet.client_seq == 1 and scores_version(db, session.id) == versions  # nothing written


def test_a_stale_snapshot_that_says_closed_cannot_refuse_a_score_after_opening(show_live, client, db):
    session, _judges, tokens, organizer = show_live
    pitch_id = session.pitches[1].id
    assert put(client, pitch_id, tokens[0], 1).status_code == 409  # not opened yet
    stale = _snapshot(pitch_id)
    control(client, session, organizer, "open_scoring", pitch_id=pitch_id)
    scoring_rules.cache.put(stale)
    assert put(client, pitch_id, tokens[0], 1).get_json()["stored"] is True


def test_a_stale_snapshot_cannot_let_a_removed_judge_score_or_refuse_an_added_one(show_live, client, db):
    session, judges, tokens, _organizer = show_live
    pitch_id = session.pitches[0].id
    assert put(client, pitch_id, tokens[0], 1).status_code == 200
    with_both = _snapshot(pitch_id)
    events.set_judges(db.session.get(PitchSession, session.id), [judges[1].id])
    db.session.commit()
    scoring_rules.cache.put(with_both)
    assert put(client, pitch_id, tokens[0], 2).status_code == 403
    without_first = _snapshot(pitch_id)
    events.set_judges(db.session.get(PitchSession, session.id), [judges[0].id, judges[1].id])
    db.session.commit()
    scoring_rules.cache.put(without_first)
    assert put(client, pitch_id, tokens[0], 2).get_json()["stored"] is True


def test_a_change_made_outside_the_orm_is_seen_once_it_bumps_the_version(show_live, client, db):
    session, _judges, tokens, _organizer = show_live
    pitch_id = session.pitches[0].id
    assert put(client, pitch_id, tokens[0], 1).status_code == 200
    # Another process (or a hand-written migration) closes scoring with plain SQL.
    db.session.execute(text("UPDATE pitches SET scoring = 'closed' WHERE id = :id"), {"id": pitch_id})
    db.session.execute(text("UPDATE pitch_sessions SET state_version = state_version + 1 WHERE id = :id"),
                       {"id": session.id})
    db.session.commit()
    assert put(client, pitch_id, tokens[0], 2).status_code == 409


def test_writes_stay_exactly_once_across_a_rules_change_between_them(show_live, client, db):
    session, _judges, tokens, organizer = show_live
    first, other = session.pitches[0].id, session.pitches[1].id
    before = scores_version(db, session.id)
    stored = 0
    for seq in range(1, 6):
        stored += put(client, first, tokens[0], seq).get_json()["stored"]
        stored += put(client, first, tokens[0], seq).get_json()["stored"]  # a resend
        # An unrelated change (another pitch opens or closes) makes the snapshot stale.
        control(client, session, organizer, "open_scoring" if seq % 2 else "close_scoring", pitch_id=other)
    assert stored == 5 and scores_version(db, session.id) == before + 5
    assert db.session.scalar(select(func.count()).select_from(ScoreSheet)) == 1


# ---------- cached logins ----------

def test_a_revoked_token_is_refused_at_once(show_live, client):
    session, _judges, tokens, _organizer = show_live
    pitch_id = session.pitches[0].id
    assert put(client, pitch_id, tokens[0], 1).status_code == 200
    assert client.delete("/api/v1/tokens/current", headers=tokens[0]).status_code == 204
    assert put(client, pitch_id, tokens[0], 2).status_code == 401


def test_a_token_revoked_elsewhere_is_refused_within_the_cache_lifetime(show_live, client, db, app):
    session, _judges, tokens, _organizer = show_live
    pitch_id = session.pitches[0].id
    app.config["AUTH_CACHE_SECONDS"] = 0.3
    try:
        assert put(client, pitch_id, tokens[0], 1).status_code == 200
        # Another process revokes it: nothing tells this one, so the copy lives out its lifetime.
        db.session.execute(text("UPDATE api_tokens SET revoked_at = created_at"))
        db.session.commit()
        time.sleep(0.35)
        assert put(client, pitch_id, tokens[0], 2).status_code == 401
    finally:
        app.config["AUTH_CACHE_SECONDS"] = 10.0


def test_a_cached_login_is_a_real_user_of_the_request(show_live, client):
    session, judges, tokens, _organizer = show_live
    for _ in range(2):  # the second answer comes from the cache
        me = client.get("/api/v1/me", headers=tokens[0])
        assert me.status_code == 200 and me.get_json()["id"] == judges[0].id
    assert auth_cache.token  # the cache is in use


# ---------- the public leaderboard ----------

def test_the_public_leaderboard_does_not_vary_by_cookie(show_live, client, make, app):
    session, _judges, tokens, organizer = show_live
    put(client, session.pitches[0].id, tokens[0], 1)
    url = f"/api/v1/sessions/{session.id}/leaderboard"
    anonymous = client.get(url)
    assert anonymous.status_code == 200 and "Set-Cookie" not in anonymous.headers
    assert "Cookie" not in anonymous.headers.get("Vary", "")
    person = make.user(Role.ENTREPRENEUR)
    browser = app.test_client()
    assert browser.post("/login", data={"email": person.email, "password": make.PASSWORD}).status_code == 302
    response = browser.get(url)  # with a login cookie, the public answer is the same for all
    assert response.status_code == 200 and response.get_data() == anonymous.get_data()
    assert "Cookie" not in response.headers.get("Vary", "") and "Set-Cookie" not in response.headers
    assert response.headers["Cache-Control"].startswith("public")
    again = client.get(url, headers={"If-None-Match": response.headers["ETag"]})
    assert again.status_code == 304 and "Cookie" not in again.headers.get("Vary", "")
    control(client, session, organizer, "hide_leaderboard")
    assert client.get(url).status_code == 403
    hidden = client.get(url, headers=organizer)
    assert hidden.status_code == 200 and hidden.headers["Cache-Control"] == "private, no-store"


def test_hiding_the_leaderboard_applies_at_once_with_the_read_cache_on(show_live, client, app):
    session, _judges, _tokens, organizer = show_live
    url = f"/api/v1/sessions/{session.id}/leaderboard"
    app.config["LEADERBOARD_MAX_STALENESS"] = 60.0
    try:
        assert client.get(url).status_code == 200  # the session's visibility is now cached
        control(client, session, organizer, "hide_leaderboard")
        assert client.get(url).status_code == 403
        control(client, session, organizer, "show_leaderboard")
        assert client.get(url).status_code == 200
    finally:
        app.config["LEADERBOARD_MAX_STALENESS"] = 0.0


def test_closing_while_judges_write_loses_nothing_and_stores_nothing_after(make, db, app, client, api_token):
    """Run on PostgreSQL in CI: the close commits between writes that each hold a snapshot."""
    session, judges = make.pitching_session(pitches=1, judges=6)
    rubrics.set_rubric(session, rubrics.default_rubric())
    organizer = api_token(Role.ORGANIZER)
    tokens = [api_token(j) for j in judges]
    for action in ("start", "open_scoring"):
        control(client, session, organizer, action)
    pitch_id = session.pitches[0].id
    before = scores_version(db, session.id)
    closed_at: list[float] = []
    stored_so_far: list[int] = []

    def judge_writes(index: int) -> list[tuple[float, int, bool, int]]:
        http = app.test_client()
        answers = []
        for seq in range(1, 400):
            sent = time.monotonic()
            response = put(http, pitch_id, tokens[index], seq, value=seq % 10 + 1)
            answers.append((sent, response.status_code, response.status_code == 200
                            and response.get_json()["stored"], seq))
            stored_so_far.append(index)
            if response.status_code != 200:
                break
        return answers

    with ThreadPoolExecutor(max_workers=len(judges)) as pool:
        futures = [pool.submit(judge_writes, i) for i in range(len(judges))]
        deadline = time.monotonic() + 20
        while len(set(stored_so_far)) < len(judges) and time.monotonic() < deadline:
            time.sleep(0.02)  # every judge is writing: close in the middle of it
        time.sleep(0.1)
        control(app.test_client(), session, organizer, "close_scoring")
        closed_at.append(time.monotonic())
        answers = [f.result() for f in futures]

    flat = [a for judge in answers for a in judge]
    assert {status for _, status, _, _ in flat} <= {200, 409}
    assert all(status == 409 for sent, status, _, _ in flat if sent > closed_at[0])
    assert all(judge[-1][1] == 409 for judge in answers)  # every judge was stopped by the close
    stored = sum(1 for _, _, ok, _ in flat if ok)
    assert stored > 0 and scores_version(db, session.id) == before + stored
    db.session.expire_all()
    for index, judge in enumerate(judges):
        last = max((seq for _, _, ok, seq in answers[index] if ok), default=None)
        sheet = db.session.scalar(select(ScoreSheet).where(ScoreSheet.judge_id == judge.id))
        if last is None:
            assert sheet is None
        else:
            assert sheet.client_seq == last and sheet.values["team"] == last % 10 + 1


def test_a_bulk_token_revocation_empties_the_login_cache(show_live, client, db):
    session, _judges, tokens, _organizer = show_live
    assert put(client, session.pitches[0].id, tokens[0], 1).status_code == 200
    db.session.execute(update(ApiToken).values(revoked_at=utcnow()))  # as account deletion does
    db.session.commit()
    assert put(client, session.pitches[0].id, tokens[0], 2).status_code == 401
