"""Many judges at once: no error, no lost and no duplicated score (run on PostgreSQL in CI)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import func, select

from pitchtank.accounts.models import Role
from pitchtank.judging import rubrics
from pitchtank.judging.models import Score, ScoreSheet

JUDGES = 12
PITCHES = 4


def test_judges_scoring_at_once_store_every_score_exactly_once(make, db, app, api_token, client):
    session, judges = make.pitching_session(pitches=PITCHES, judges=JUDGES)
    rubrics.set_rubric(session, rubrics.default_rubric())
    organizer = api_token(Role.ORGANIZER)
    tokens = [api_token(judge) for judge in judges]
    pitch_ids = [p.id for p in session.pitches]
    for pitch_id in [None, *pitch_ids[1:]]:
        body = {"action": "open_scoring", **({"pitch_id": pitch_id} if pitch_id else {})}
        if pitch_id is None:
            assert client.post(f"/api/v1/sessions/{session.id}/control", json={"action": "start"},
                               headers=organizer).status_code == 200
        assert client.post(f"/api/v1/sessions/{session.id}/control", json=body,
                           headers=organizer).status_code == 200

    def judge_scores(index: int) -> list[int]:
        http = app.test_client()
        statuses = []
        for pitch_id in pitch_ids:
            # Every revision is sent twice, as a flaky tablet would; the final one has seq 3.
            for seq in (1, 2, 2, 3, 1, 3):
                value = (index + seq) % 10 + 1
                body = {"scores": dict.fromkeys(("problem", "solution", "market", "team", "pitch"), value)
                        | {"would_invest": seq % 2}, "client_seq": seq}
                statuses.append(http.put(f"/api/v1/pitches/{pitch_id}/scores/me", json=body,
                                         headers=tokens[index]).status_code)
        return statuses

    with ThreadPoolExecutor(max_workers=JUDGES) as pool:
        results = list(pool.map(judge_scores, range(JUDGES)))

    assert all(status == 200 for statuses in results for status in statuses)
    assert db.session.scalar(select(func.count(ScoreSheet.id))) == JUDGES * PITCHES
    assert db.session.scalar(select(func.count(Score.id))) == JUDGES * PITCHES * 6
    sheets = db.session.scalars(select(ScoreSheet)).all()
    assert {sheet.client_seq for sheet in sheets} == {3}
    by_judge = {judge.id: index for index, judge in enumerate(judges)}
    for sheet in sheets:
        assert sheet.values["team"] == (by_judge[sheet.judge_id] + 3) % 10 + 1
    board = client.get(f"/api/v1/sessions/{session.id}/leaderboard").get_json()
    assert all(entry["judges_scored"] == JUDGES for entry in board["entries"])
