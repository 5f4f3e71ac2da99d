"""The live show through the API: rubric, control, scores, recusal, leaderboard and votes."""

from __future__ import annotations

import pytest

from pitchtank.accounts.models import Role
from pitchtank.judging import rubrics


def rubric_body():
    return {"criteria": [
        {"key": "problem", "name": "Problema", "name_en": "Problem", "weight": 30, "min": 1, "max": 10},
        {"key": "team", "name": "Equipo", "name_en": "Team", "weight": 40, "min": 1, "max": 10},
        {"key": "market", "name": "Mercado", "name_en": "Market", "weight": 30, "min": 1, "max": 10},
        {"key": "invest", "name": "¿Invertiría?", "name_en": "Would invest?", "weight": 0, "min": 0, "max": 1,
         "anchors": {"0": {"es": "No", "en": "No"}, "1": {"es": "Sí", "en": "Yes"}}},
    ]}


@pytest.fixture
def live_session(make, db, client, api_token):
    """A started session with scoring open for the first pitch, and its people's tokens."""
    session, judges = make.pitching_session(pitches=3, judges=2)
    rubrics.set_rubric(session, rubrics.default_rubric())
    organizer = api_token(Role.ORGANIZER)
    db.session.commit()
    for action in ("start", "open_scoring"):
        response = client.post(f"/api/v1/sessions/{session.id}/control", json={"action": action}, headers=organizer)
        assert response.status_code == 200, response.get_json()
    return session, [api_token(j) for j in judges], organizer


def put_scores(client, pitch_id, headers, seq, value=7, **extra):
    scores = {"problem": value, "solution": value, "market": value, "team": value, "pitch": value}
    return client.put(f"/api/v1/pitches/{pitch_id}/scores/me",
                      json={"scores": scores, "client_seq": seq, **extra}, headers=headers)


def test_a_judge_scores_and_the_leaderboard_counts_it(live_session, client):
    session, judges, _organizer = live_session
    pitch_id = session.pitches[0].id
    response = put_scores(client, pitch_id, judges[0], seq=1, value=8, comment="Muy claro")
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["scores"]["team"] == 8
    board = client.get(f"/api/v1/sessions/{session.id}/leaderboard").get_json()
    top = board["entries"][0]
    assert top["pitch_id"] == pitch_id and top["judges_scored"] == 1 and top["judges_expected"] == 2
    assert top["score_raw"] == 8.0


def test_a_stale_resend_never_overwrites_a_newer_score(live_session, client):
    session, judges, _ = live_session
    pitch_id = session.pitches[0].id
    assert put_scores(client, pitch_id, judges[0], seq=2, value=9).status_code == 200
    stale = put_scores(client, pitch_id, judges[0], seq=1, value=3)
    assert stale.status_code == 200
    assert stale.get_json()["scores"]["team"] == 9 and stale.get_json()["stored"] is False
    repeat = put_scores(client, pitch_id, judges[0], seq=2, value=9)
    assert repeat.get_json()["stored"] is False


def test_leaderboard_etag_gives_304_until_a_score_changes(live_session, client):
    session, judges, _ = live_session
    first = client.get(f"/api/v1/sessions/{session.id}/leaderboard")
    etag = first.headers["ETag"]
    assert client.get(f"/api/v1/sessions/{session.id}/leaderboard",
                      headers={"If-None-Match": etag}).status_code == 304
    put_scores(client, session.pitches[0].id, judges[0], seq=1)
    changed = client.get(f"/api/v1/sessions/{session.id}/leaderboard", headers={"If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["ETag"] != etag


def test_scoring_closed_and_wrong_people_are_refused(live_session, client, api_token):
    session, judges, organizer = live_session
    pitch_id = session.pitches[0].id
    assert put_scores(client, pitch_id, api_token(Role.JUDGE), seq=1).status_code == 403
    assert put_scores(client, pitch_id, api_token(Role.ENTREPRENEUR), seq=1).status_code == 403
    assert put_scores(client, pitch_id, {}, seq=1).status_code == 401
    bad = client.put(f"/api/v1/pitches/{pitch_id}/scores/me", json={"scores": {"nope": 3}, "client_seq": 1},
                     headers=judges[0])
    assert bad.status_code == 422 and "scores.nope" in bad.get_json()["errors"]
    out_of_range = put_scores(client, pitch_id, judges[0], seq=1, value=11)
    assert out_of_range.status_code == 422
    client.post(f"/api/v1/sessions/{session.id}/control", json={"action": "close_scoring"}, headers=organizer)
    assert put_scores(client, pitch_id, judges[0], seq=5).status_code == 409


def test_recused_judge_stops_counting_and_cannot_score(live_session, client):
    session, judges, _ = live_session
    pitch_id = session.pitches[0].id
    put_scores(client, pitch_id, judges[0], seq=1, value=2)
    assert client.post(f"/api/v1/pitches/{pitch_id}/recusal", json={"reason": "Socio"},
                       headers=judges[0]).status_code == 201
    assert put_scores(client, pitch_id, judges[0], seq=2).status_code == 403
    top = client.get(f"/api/v1/sessions/{session.id}/leaderboard").get_json()["entries"]
    entry = next(e for e in top if e["pitch_id"] == pitch_id)
    assert entry["judges_scored"] == 0 and entry["judges_expected"] == 1


def test_control_actions_that_do_not_fit_answer_409(live_session, client):
    session, _judges, organizer = live_session
    url = f"/api/v1/sessions/{session.id}/control"
    assert client.post(url, json={"action": "next"}, headers=organizer).status_code == 409  # scoring open
    assert client.post(url, json={"action": "publish"}, headers=organizer).status_code == 409
    assert client.post(url, json={"action": "start"}, headers=organizer).status_code == 409
    assert client.post(url, json={"action": "dance"}, headers=organizer).status_code == 422


def test_publishing_freezes_the_results(live_session, client, db):
    session, judges, organizer = live_session
    url = f"/api/v1/sessions/{session.id}/control"
    pitch_id = session.pitches[0].id
    put_scores(client, pitch_id, judges[0], seq=1, value=6)
    for action in ("close_scoring", "end", "publish"):
        assert client.post(url, json={"action": action}, headers=organizer).status_code == 200, action
    frozen = client.get(f"/api/v1/sessions/{session.id}/leaderboard").get_json()
    assert frozen["published"] is True
    # Even a voided sheet cannot change the published results.
    assert client.post(url, json={"action": "open_scoring", "pitch_id": pitch_id},
                       headers=organizer).status_code == 409
    assert client.get(f"/api/v1/sessions/{session.id}/leaderboard").get_json()["entries"] == frozen["entries"]


def test_one_audience_vote_per_browser(live_session, client, app):
    session, _judges, _ = live_session
    url = f"/api/v1/sessions/{session.id}/votes"
    first = client.post(url, json={"pitch_id": session.pitches[1].id})
    assert first.status_code == 201
    assert client.post(url, json={"pitch_id": session.pitches[2].id}).status_code == 409
    with app.test_client() as other_browser:
        assert other_browser.post(url, json={"pitch_id": session.pitches[2].id}).status_code == 201


def test_the_stream_starts_with_both_snapshots_and_honours_last_event_id(live_session, client, app):
    session, _judges, _ = live_session
    app.config["STREAM_MAX_SECONDS"] = 0.2
    try:
        body = client.get(f"/api/v1/sessions/{session.id}/stream").get_data(as_text=True)
        assert "event: pitch" in body and "event: leaderboard" in body
        last_id = [line for line in body.splitlines() if line.startswith("id: ")][-1][4:]
        again = client.get(f"/api/v1/sessions/{session.id}/stream",
                           headers={"Last-Event-ID": last_id}).get_data(as_text=True)
        assert "event:" not in again
    finally:
        app.config["STREAM_MAX_SECONDS"] = 300


def test_a_hidden_leaderboard_keeps_the_stream_open_without_entries(live_session, client, app):
    session, judges, organizer = live_session
    put_scores(client, session.pitches[0].id, judges[0], seq=1)
    client.post(f"/api/v1/sessions/{session.id}/control", json={"action": "hide_leaderboard"}, headers=organizer)
    assert client.get(f"/api/v1/sessions/{session.id}/leaderboard").status_code == 403
    assert client.get(f"/api/v1/sessions/{session.id}/leaderboard", headers=organizer).status_code == 200
    app.config["STREAM_MAX_SECONDS"] = 0.2
    try:
        body = client.get(f"/api/v1/sessions/{session.id}/stream").get_data(as_text=True)
    finally:
        app.config["STREAM_MAX_SECONDS"] = 300
    assert "event: pitch" in body and '"hidden":true' in body and '"entries":[]' in body


def test_standings_cache_serves_recent_standings_while_scores_pour_in():
    from pitchtank.judging.results import Standings, _StandingsCache

    cache = _StandingsCache()
    cache.put(Standings(7, 3, False, [], {}))
    assert cache.get(7, 3).version == 3
    assert cache.get(7, 4) is None  # exact by default: a reader sees its own write
    assert cache.get(7, 4, max_age=60).version == 3  # under load, recent enough is served
    cache.put(Standings(7, 2, False, [], {}))  # an older computation never replaces a newer one
    assert cache.get(7, 3).version == 3
