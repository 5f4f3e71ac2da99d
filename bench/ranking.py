"""Cost of ``pitchtank.judging.scoring.rank_pitches`` (pure) as a leaderboard grows.

    python bench/ranking.py --sizes 40x15,200x15,200x50 --repeats 5 --budget 3

Random integer scores on the default rubric's shape (5 weighted criteria, 1 question).
Each size runs ``repeats`` times, or fewer once ``budget`` seconds are spent (at least once);
the median is reported. Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time
from typing import Any

from pitchtank.judging import scoring

CRITERIA = [
    scoring.Criterion("problem", 20, 1, 10),
    scoring.Criterion("solution", 20, 1, 10),
    scoring.Criterion("market", 20, 1, 10),
    scoring.Criterion("team", 25, 1, 10),
    scoring.Criterion("pitch", 15, 1, 10),
    scoring.Criterion("would_invest", 0, 0, 1),
]


def judge_scores(pitches: int, judges: int, seed: int = 7) -> list[scoring.JudgeScore]:
    rng = random.Random(seed)
    return [
        scoring.JudgeScore(judge_id=j, pitch_id=p,
                           values={c.key: rng.randint(int(c.min), int(c.max)) for c in CRITERIA})
        for j in range(1, judges + 1) for p in range(1, pitches + 1)
    ]


def time_size(pitches: int, judges: int, repeats: int, budget: float) -> dict[str, Any]:
    scores = judge_scores(pitches, judges)
    order = list(range(1, pitches + 1))
    timings: list[float] = []
    spent = 0.0
    while len(timings) < repeats and (not timings or spent < budget):
        started = time.perf_counter()
        ranked = scoring.rank_pitches(CRITERIA, scores, order)
        elapsed = time.perf_counter() - started
        spent += elapsed
        timings.append(elapsed * 1000)
        assert len(ranked) == pitches
    return {"pitches": pitches, "judges": judges, "criteria": len(CRITERIA), "runs": len(timings),
            "median_ms": round(statistics.median(timings), 2), "min_ms": round(min(timings), 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="40x15,40x50,200x15,200x50,1000x15,1000x50")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--budget", type=float, default=3.0)
    args = parser.parse_args()
    out = []
    for size in args.sizes.split(","):
        pitches, judges = (int(n) for n in size.lower().split("x"))
        out.append(time_size(pitches, judges, args.repeats, args.budget))
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
