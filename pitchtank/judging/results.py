"""Standings: computed in one place from the counting scores, cached per version, frozen on publish."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from flask import current_app
from sqlalchemy import func, select

from pitchtank.core.types import utcnow
from pitchtank.events.models import Pitch, PitchSession, SessionJudge, SessionStatus, Submission
from pitchtank.extensions import db
from pitchtank.judging import scoring
from pitchtank.judging.models import (
    AudienceVote,
    Recusal,
    ResultSnapshot,
    RubricCriterion,
    Score,
    ScoreSheet,
)
from pitchtank.judging.rubrics import criteria_of, scoring_criteria
from pitchtank.ventures.models import Venture


@dataclass(frozen=True)
class Standings:
    session_id: int
    version: int
    published: bool
    entries: list[dict[str, Any]]
    tie_break_rule: dict[str, str]
    # The JSON body, encoded once however many readers fetch this version.
    _body: bytes | None = field(default=None, init=False, compare=False, repr=False)

    def as_dict(self) -> dict[str, Any]:
        return {"session_id": self.session_id, "version": self.version, "published": self.published,
                "entries": self.entries, "tie_break_rule": self.tie_break_rule}

    def json_body(self) -> bytes:
        if self._body is None:
            body = json.dumps(self.as_dict(), separators=(",", ":"), ensure_ascii=False).encode()
            object.__setattr__(self, "_body", body)
        return self._body


class _StandingsCache:
    """Per-process memo of the newest standings of each session.

    While judges are scoring, the version moves several times a second; readers are then
    served standings at most ``max_age`` seconds old (with their own version as the ETag)
    instead of every reader ranking the whole session again.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: dict[int, tuple[Standings, float]] = {}

    def get(self, session_id: int, version: int, max_age: float = 0.0) -> Standings | None:
        with self._lock:
            cached = self._items.get(session_id)
        if cached is None:
            return None
        standings, computed_at = cached
        if standings.version == version or (
            standings.version < version and time.monotonic() - computed_at < max_age
        ):
            return standings
        return None

    def put(self, standings: Standings) -> None:
        with self._lock:
            current = self._items.get(standings.session_id)
            if current is None or current[0].version <= standings.version:
                self._items[standings.session_id] = (standings, time.monotonic())

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


cache = _StandingsCache()


class _BoardStateCache:
    """Per-process memo of each session's (status, leaderboard_public, scores_version).

    Readers may use a row up to ``LEADERBOARD_MAX_STALENESS`` seconds old, the staleness the
    standings themselves already allow (and far less than a CDN's ``max-age``); a show-control
    change committed in this process forgets it at once (``broadcast``).
    """

    def __init__(self) -> None:
        self._items: dict[int, tuple[tuple[SessionStatus, bool, int], float]] = {}

    def get(self, session_id: int, max_age: float) -> tuple[SessionStatus, bool, int] | None:
        cached = self._items.get(session_id)
        if cached is None or time.monotonic() - cached[1] >= max_age:
            return None
        return cached[0]

    def put(self, session_id: int, row: tuple[SessionStatus, bool, int]) -> None:
        if len(self._items) > 10_000:
            self._items.clear()
        self._items[session_id] = (row, time.monotonic())

    def forget(self, session_id: int) -> None:
        self._items.pop(session_id, None)

    def clear(self) -> None:
        self._items.clear()


board_states = _BoardStateCache()


def board_state(session_id: int) -> tuple[SessionStatus, bool, int] | None:
    """(status, leaderboard_public, scores_version) of a session, None if it does not exist."""
    max_age = current_app.config["LEADERBOARD_MAX_STALENESS"]
    if max_age > 0 and (cached := board_states.get(session_id, max_age)) is not None:
        return cached
    row = db.session.execute(
        select(PitchSession.status, PitchSession.leaderboard_public, PitchSession.scores_version)
        .where(PitchSession.id == session_id)
    ).one_or_none()
    if row is None:
        return None
    state = (row[0], bool(row[1]), row[2] or 0)
    if max_age > 0:
        board_states.put(session_id, state)
    return state


def current_version(session_id: int) -> tuple[int, SessionStatus] | None:
    row = db.session.execute(
        select(PitchSession.scores_version, PitchSession.status).where(PitchSession.id == session_id)
    ).one_or_none()
    return (row[0], row[1]) if row else None


def _counts_in(session_id: int) -> tuple:
    """The sheets of a session that count: not voided, not from a judge who recused from that
    pitch (for a query that joins ``ScoreSheet`` to ``Pitch``)."""
    recused = select(Recusal.id).where(Recusal.pitch_id == ScoreSheet.pitch_id, Recusal.judge_id == ScoreSheet.judge_id)
    return Pitch.session_id == session_id, ScoreSheet.voided_at.is_(None), ~recused.exists()


def counting_sheets(session: PitchSession) -> list[ScoreSheet]:
    """Sheets that count: not voided, not from a judge who recused from that pitch."""
    return list(db.session.scalars(select(ScoreSheet).join(Pitch).where(*_counts_in(session.id))))


def recusals_of(session: PitchSession) -> set[tuple[int, int]]:
    rows = db.session.execute(
        select(Recusal.judge_id, Recusal.pitch_id).join(Pitch).where(Pitch.session_id == session.id)
    )
    return {(judge_id, pitch_id) for judge_id, pitch_id in rows}


def _counting_values(session_id: int) -> list[scoring.JudgeScore]:
    """The counting scores as plain rows: one query, no ORM objects (this runs on every change)."""
    rows = db.session.execute(
        select(ScoreSheet.judge_id, ScoreSheet.pitch_id, RubricCriterion.key, Score.value)
        .join(Pitch, Pitch.id == ScoreSheet.pitch_id)
        .join(Score, Score.sheet_id == ScoreSheet.id)
        .join(RubricCriterion, RubricCriterion.id == Score.criterion_id)
        .where(*_counts_in(session_id))
    )
    values: dict[tuple[int, int], dict[str, float]] = {}
    for judge_id, pitch_id, key, value in rows:
        values.setdefault((judge_id, pitch_id), {})[key] = value
    return [scoring.JudgeScore(judge_id=j, pitch_id=p, values=v) for (j, p), v in values.items()]


def _running_order(session_id: int) -> list[tuple[int, int, int, str]]:
    """(pitch id, position, venture id, venture name) in order, in one query."""
    rows = db.session.execute(
        select(Pitch.id, Pitch.position, Venture.id, Venture.name)
        .join(Submission, Submission.id == Pitch.submission_id)
        .join(Venture, Venture.id == Submission.venture_id)
        .where(Pitch.session_id == session_id).order_by(Pitch.position)
    )
    return [tuple(row) for row in rows]


def compute(session: PitchSession, version: int) -> Standings:
    """Rank the session's pitches from the scores that count right now."""
    criteria = scoring_criteria(criteria_of(session))
    pitches = _running_order(session.id)
    judge_ids = list(db.session.scalars(select(SessionJudge.user_id).where(SessionJudge.session_id == session.id)))
    recused = recusals_of(session)
    judge_scores = _counting_values(session.id)
    ranked = scoring.rank_pitches(criteria, judge_scores, [p[0] for p in pitches]) if criteria else []
    by_id = {p[0]: p for p in pitches}
    entries = []
    for result in ranked:
        pitch_id, position, venture_id, venture_name = by_id[result.pitch_id]
        expected = sum(1 for judge_id in judge_ids if (judge_id, pitch_id) not in recused)
        entries.append({
            "rank": result.rank,
            "pitch_id": pitch_id,
            "position": position,
            "venture": {"id": venture_id, "name": venture_name},
            "score": _round(result.score),
            "score_raw": _round(result.score_raw),
            "judges_scored": result.judges_scored,
            "judges_expected": expected,
            "copeland": result.copeland,
            "copeland_rank": result.copeland_rank,
            "disagreement": result.disagreement,
            "tie_break": result.tie_break,
        })
    return Standings(session.id, version, session.status == SessionStatus.PUBLISHED, entries,
                     scoring.TIE_BREAK_RULE)


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def cached_standings(session_id: int, version: int, *, published: bool = False) -> Standings | None:
    """The standings a reader may be served without loading the session (None: compute).

    Published results are frozen: served from the cache only as the very snapshot.
    """
    if published:
        found = cache.get(session_id, version)
        return found if found is not None and found.published else None
    return cache.get(session_id, version, current_app.config["LEADERBOARD_MAX_STALENESS"])


def standings(session: PitchSession) -> Standings:
    """The published snapshot once results are out; otherwise the live standings (cached)."""
    if session.status == SessionStatus.PUBLISHED:
        snapshot = db.session.scalar(select(ResultSnapshot).where(ResultSnapshot.session_id == session.id))
        if snapshot is not None:
            data = snapshot.leaderboard
            frozen = Standings(session.id, session.scores_version, True, data["entries"], data["tie_break_rule"])
            cache.put(frozen)
            return frozen
    cached = cached_standings(session.id, session.scores_version)
    if cached is not None:
        return cached
    fresh = compute(session, session.scores_version)
    cache.put(fresh)
    return fresh


def feedback_for(session: PitchSession) -> dict[str, Any]:
    """Per pitch: the mean of each criterion and the judges' comments, judges anonymous."""
    criteria = criteria_of(session)
    sheets = counting_sheets(session)
    feedback: dict[str, Any] = {}
    for pitch in session.pitches:
        own = [s for s in sheets if s.pitch_id == pitch.id]
        per_criterion = {}
        for criterion in criteria:
            values = [s.values[criterion.key] for s in own if criterion.key in s.values]
            per_criterion[criterion.key] = {
                "name_es": criterion.name_es, "name_en": criterion.name_en,
                "weight": criterion.weight, "min": criterion.min_value, "max": criterion.max_value,
                "mean": round(sum(values) / len(values), 2) if values else None, "count": len(values),
            }
        comments = sorted(s.comment for s in own if s.comment)  # sorted, so order reveals no judge
        feedback[str(pitch.id)] = {"criteria": per_criterion, "comments": comments}
    return feedback


def freeze(session: PitchSession, actor) -> ResultSnapshot:
    """Write the snapshot that the published results show from now on."""
    live = compute(session, session.scores_version + 1)
    snapshot = ResultSnapshot(
        session_id=session.id, published_at=utcnow(), published_by_id=actor.id,
        leaderboard={"entries": live.entries, "tie_break_rule": live.tie_break_rule,
                     "peoples_choice": peoples_choice(session)},
        feedback=feedback_for(session),
    )
    db.session.add(snapshot)
    return snapshot


def snapshot_of(session: PitchSession) -> ResultSnapshot | None:
    return db.session.scalar(select(ResultSnapshot).where(ResultSnapshot.session_id == session.id))


def peoples_choice(session: PitchSession) -> list[dict[str, Any]]:
    """The audience's tally, most votes first; kept apart from the judges' ranking."""
    counts = dict(db.session.execute(
        select(AudienceVote.pitch_id, func.count(AudienceVote.id))
        .where(AudienceVote.session_id == session.id).group_by(AudienceVote.pitch_id)
    ).all())
    tally = [{"pitch_id": p.id, "venture": {"id": p.venture.id, "name": p.venture.name},
              "votes": counts.get(p.id, 0)} for p in session.pitches]
    return sorted(tally, key=lambda item: (-item["votes"], next(
        p.position for p in session.pitches if p.id == item["pitch_id"])))


def judge_status(session: PitchSession) -> dict[str, Any]:
    """For the console: who scored the pitch on stage, who is missing, who recused; and each judge's progress."""
    sheets = db.session.execute(
        select(ScoreSheet.judge_id, ScoreSheet.pitch_id, ScoreSheet.voided_at).join(Pitch)
        .where(Pitch.session_id == session.id)
    ).all()
    scored = {(j, p) for j, p, voided in sheets if voided is None}
    voided = {(j, p) for j, p, v in sheets if v is not None}
    recused = recusals_of(session)
    judges = session.judges
    pitch_ids = [p.id for p in session.pitches]
    progress = scoring.judge_progress([j.id for j in judges], pitch_ids, scored, recused)
    current = session.current_pitch_id
    return {
        "current_pitch_id": current,
        "judges": [
            {
                "id": judge.id, "name": judge.name,
                "current": None if current is None else (
                    "recused" if (judge.id, current) in recused else
                    "voided" if (judge.id, current) in voided else
                    "scored" if (judge.id, current) in scored else "missing"),
                "scored": progress[judge.id][0], "expected": progress[judge.id][1],
            }
            for judge in judges
        ],
    }
