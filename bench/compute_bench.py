"""Time ``pitchtank.judging.results.compute`` (database load + ranking) for a seeded session.

    PITCHTANK_CONFIG=... DATABASE_URL=... python bench/compute_bench.py --session S --runs 15

Each run starts from an empty identity map, as a request would. Also counts the SQL
statements one compute issues and times the pure ``rank_pitches`` part alone on the same data.
Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from typing import Any

from sqlalchemy import event, select

from pitchtank import create_app
from pitchtank.events.models import PitchSession
from pitchtank.extensions import db
from pitchtank.judging import results, scoring
from pitchtank.judging.rubrics import criteria_of, scoring_criteria


def measure(session_id: int, runs: int) -> dict[str, Any]:
    statements = 0

    def count(*_args: Any) -> None:
        nonlocal statements
        statements += 1

    engine = db.engine
    timings: list[float] = []
    rank_timings: list[float] = []
    counts: list[int] = []
    sheets = 0
    event.listen(engine, "before_cursor_execute", count)
    try:
        for _ in range(runs + 1):  # the first run warms caches and is discarded
            db.session.remove()
            statements = 0
            started = time.perf_counter()
            session = db.session.scalar(select(PitchSession).where(PitchSession.id == session_id))
            assert session is not None
            standings = results.compute(session, session.scores_version)
            timings.append((time.perf_counter() - started) * 1000)
            counts.append(statements)
            sheets = sum(e["judges_scored"] for e in standings.entries)
            # The pure ranking on the very same inputs, to split database time from math time.
            criteria = scoring_criteria(criteria_of(session))
            judge_scores = [scoring.JudgeScore(s.judge_id, s.pitch_id, s.values)
                            for s in results.counting_sheets(session)]
            pitch_ids = [p.id for p in session.pitches]
            started = time.perf_counter()
            scoring.rank_pitches(criteria, judge_scores, pitch_ids)
            rank_timings.append((time.perf_counter() - started) * 1000)
    finally:
        event.remove(engine, "before_cursor_execute", count)
        db.session.remove()
    return {
        "runs": runs, "median_ms": round(statistics.median(timings[1:]), 2),
        "min_ms": round(min(timings[1:]), 2), "max_ms": round(max(timings[1:]), 2),
        "rank_only_median_ms": round(statistics.median(rank_timings[1:]), 2),
        "sql_statements": counts[-1], "scored_sheets": sheets,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--session", type=int, required=True)
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    app = create_app()
    with app.app_context():
        print(json.dumps(measure(args.session, args.runs)), flush=True)


if __name__ == "__main__":
    main()
