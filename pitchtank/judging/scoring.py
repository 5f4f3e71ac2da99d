"""Scoring math for live judging: weighted totals, judge normalization and rankings.

Pure functions only (no Flask, no database), so results can be recomputed and tested anywhere.

Weighted total
    The weighted mean of a judge's values over the weighted criteria. When every weighted
    criterion shares one scale, this is the plain weighted mean and stays on that scale.
    When scales differ, each value is first mapped linearly to 0..1 and the weighted mean
    of those fractions is re-expressed on [weighted mean of mins, weighted mean of maxes].
    Criteria with weight 0 are questions: they are recorded but never affect totals.

Normalized score (the ranking score)
    Each judge's totals are re-expressed on the session's scale so that a harsh or a
    generous judge counts the same: ``global_mean + global_std * z`` where ``z`` is the
    total's z-score within that judge's totals and the global mean/std (population) are
    over all judges' totals. A judge who scored fewer than ``min_pitches_for_z`` pitches,
    or gave every pitch the same total, is mean-centred instead:
    ``global_mean + (total - judge_mean)``. A pitch's score is the mean over the judges
    who scored it; a missing score is left out, never counted as zero.

Copeland score (the rank-based view)
    For every pair of pitches, the pitch that more judges (among those who scored both)
    placed strictly higher wins the pair. Copeland score = wins - losses, so a drawn pair
    counts 0 for both and the scores of a session sum to zero.

Means and standard deviations sum with ``math.fsum``, which is correctly rounded, so results
do not depend on the order in which judges or scores are given.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import TypeAlias

SCORE_DECIMALS = 6
"""Scores equal to this many decimals count as tied (absorbs floating-point noise)."""

TIE_BREAK_RULE: dict[str, str] = {
    "es": (
        "Si dos presentaciones tienen la misma puntuación normalizada (a 6 decimales), "
        "va primero la de mayor media bruta de los totales de los jueces; si persiste el "
        "empate, la que puntuaron más jueces; y si aún persiste, la que se presentó antes "
        "en el orden de presentación."
    ),
    "en": (
        "If two pitches have the same normalized score (to 6 decimal places), the one with "
        "the higher raw mean of the judges' totals goes first; if still tied, the one scored "
        "by more judges; and if still tied, the one that pitched earlier in the running order."
    ),
}

TIE_BREAKS = ("raw_mean", "judges_scored", "pitch_order")
"""Names used in ``PitchResult.tie_break``, in the order the rules are applied."""

Totals: TypeAlias = Mapping[int, Mapping[int, float]]
"""Weighted totals keyed judge id -> pitch id -> total."""

_SortKey: TypeAlias = tuple[int, float]


@dataclass(frozen=True)
class Criterion:
    """One rubric criterion; weight 0 makes it a question that never affects rankings."""

    key: str
    weight: float
    min: float
    max: float

    def __post_init__(self) -> None:
        # Written as negated comparisons so that NaN is rejected too.
        if not self.weight >= 0:
            raise ValueError(f"criterion {self.key!r}: weight must be >= 0")
        if not self.max > self.min:
            raise ValueError(f"criterion {self.key!r}: max must be greater than min")


@dataclass(frozen=True)
class JudgeScore:
    """One judge's complete or partial scoring of one pitch.

    Pass only scorings that count: leave out recused judges and voided scores.
    """

    judge_id: int
    pitch_id: int
    values: Mapping[str, float]


@dataclass(frozen=True)
class PitchResult:
    """A pitch's place in the final ranking and how it was reached."""

    pitch_id: int
    rank: int
    score: float | None
    score_raw: float | None
    judges_scored: int
    copeland: float
    copeland_rank: int
    disagreement: bool
    tie_break: str | None


def weighted_total(criteria: Sequence[Criterion], values: Mapping[str, float]) -> float | None:
    """Weighted mean of the values on the rubric's scale; None if a weighted value is missing."""
    return _total_function(criteria)(values)


def _total_function(criteria: Sequence[Criterion]) -> Callable[[Mapping[str, float]], float | None]:
    """``weighted_total`` for one rubric, with the rubric's arithmetic done once."""
    weighted = [criterion for criterion in criteria if criterion.weight > 0]
    if not weighted:
        raise ValueError("the rubric has no weighted criteria")
    keys = [c.key for c in weighted]
    total_weight = sum(c.weight for c in weighted)
    if len({(c.min, c.max) for c in weighted}) == 1:
        weights = [(c.key, c.weight) for c in weighted]

        def same_scale(values: Mapping[str, float]) -> float | None:
            if any(key not in values for key in keys):
                return None
            return sum(weight * values[key] for key, weight in weights) / total_weight

        return same_scale
    parts = [(c.key, c.weight, c.min, c.max - c.min) for c in weighted]
    low = sum(c.weight * c.min for c in weighted) / total_weight
    high = sum(c.weight * c.max for c in weighted) / total_weight

    def mixed_scales(values: Mapping[str, float]) -> float | None:
        if any(key not in values for key in keys):
            return None
        fraction = sum(weight * (values[key] - minimum) / span for key, weight, minimum, span in parts)
        return low + (high - low) * fraction / total_weight

    return mixed_scales


def judge_totals(
    criteria: Sequence[Criterion], judge_scores: Iterable[JudgeScore], pitch_ids: Iterable[int]
) -> dict[int, dict[int, float]]:
    """Each judge's complete weighted totals for the given pitches, keyed judge -> pitch."""
    wanted = set(pitch_ids)
    total_of = _total_function(criteria)
    seen: set[tuple[int, int]] = set()
    totals: dict[int, dict[int, float]] = {}
    for score in judge_scores:
        if score.pitch_id not in wanted:
            continue
        if (score.judge_id, score.pitch_id) in seen:
            raise ValueError(f"judge {score.judge_id} scored pitch {score.pitch_id} twice")
        seen.add((score.judge_id, score.pitch_id))
        total = total_of(score.values)
        if total is not None:
            totals.setdefault(score.judge_id, {})[score.pitch_id] = total
    return totals


def normalized_scores(totals: Totals, *, min_pitches_for_z: int = 5) -> dict[int, float]:
    """Each scored pitch's mean of its judges' totals re-expressed on the session's scale."""
    every_total = [total for by_pitch in totals.values() for total in by_pitch.values()]
    if not every_total:
        return {}
    global_mean = _mean(every_total)
    global_std = _pstdev(every_total, global_mean)
    rescaled: dict[int, list[float]] = {}
    for by_pitch in totals.values():
        if not by_pitch:
            continue
        judge_mean = _mean(by_pitch.values())
        judge_std = _pstdev(by_pitch.values(), judge_mean)
        use_z = len(by_pitch) >= min_pitches_for_z and judge_std > 0
        for pitch_id, total in by_pitch.items():
            if use_z:
                value = global_mean + global_std * (total - judge_mean) / judge_std
            else:
                value = global_mean + (total - judge_mean)
            rescaled.setdefault(pitch_id, []).append(value)
    return {pitch_id: _mean(values) for pitch_id, values in rescaled.items()}


def _mean(values: Iterable[float]) -> float:
    # math.fsum is correctly rounded, so the result never depends on the order of the values.
    values = list(values)
    return math.fsum(values) / len(values)


def _pstdev(values: Iterable[float], mean: float) -> float:
    values = list(values)
    return math.sqrt(math.fsum((value - mean) ** 2 for value in values) / len(values))


def copeland_scores(totals: Totals, pitch_ids: Sequence[int]) -> dict[int, int]:
    """Wins minus losses per pitch in pairwise majority contests between judges' orderings.

    Each judge's ordering becomes, per pitch, two bitsets over the running order: the pitches
    that judge placed strictly below it and strictly above it. Summing those bitsets lane by
    lane in bit-sliced counters compares a pitch with every other at once, so the work grows
    with pitches × judges × log(judges) big-integer operations instead of pitches² × judges.
    """
    lane = {pitch_id: index for index, pitch_id in enumerate(pitch_ids)}
    below: dict[int, list[int]] = {p: [] for p in pitch_ids}
    above: dict[int, list[int]] = {p: [] for p in pitch_ids}
    for by_pitch in totals.values():
        rounded = sorted(
            (round(total, SCORE_DECIMALS), pitch) for pitch, total in by_pitch.items() if pitch in lane
        )
        scored = 0
        for _total, pitch in rounded:
            scored |= 1 << lane[pitch]
        lower = 0
        index = 0
        while index < len(rounded):
            level = rounded[index][0]
            group = 0
            end = index
            while end < len(rounded) and rounded[end][0] == level:
                group |= 1 << lane[rounded[end][1]]
                end += 1
            for _total, pitch in rounded[index:end]:
                below[pitch].append(lower)
                above[pitch].append(scored & ~lower & ~group)
            lower |= group
            index = end
    scores = {}
    for pitch in pitch_ids:
        wins = _count_lanes(below[pitch])
        losses = _count_lanes(above[pitch])
        greater, lesser = _compare_lanes(wins, losses)
        scores[pitch] = greater.bit_count() - lesser.bit_count()
    return scores


def _count_lanes(masks: list[int]) -> list[int]:
    """Per lane, how many masks have that bit set, as bit planes (least significant first)."""
    planes: list[int] = []
    for mask in masks:
        carry = mask
        for level, plane in enumerate(planes):
            planes[level] = plane ^ carry
            carry &= plane
            if not carry:
                break
        if carry:
            planes.append(carry)
    return planes


def _compare_lanes(first: list[int], second: list[int]) -> tuple[int, int]:
    """Lanes where the first count is greater, and lanes where it is smaller."""
    width = max(len(first), len(second))
    greater = lesser = 0
    undecided = -1  # every lane
    for level in range(width - 1, -1, -1):
        a = first[level] if level < len(first) else 0
        b = second[level] if level < len(second) else 0
        greater |= undecided & a & ~b
        lesser |= undecided & b & ~a
        undecided &= ~(a ^ b)
    return greater, lesser


def rank_pitches(
    criteria: Sequence[Criterion],
    judge_scores: Iterable[JudgeScore],
    pitch_order: Sequence[int],
    *,
    min_pitches_for_z: int = 5,
    disagreement_threshold: int = 2,
) -> list[PitchResult]:
    """Rank every pitch in the running order; best first, unscored pitches last.

    Only counting scorings should be passed; scorings for pitches outside ``pitch_order``
    are ignored. ``disagreement`` is set when the normalized rank and the Copeland rank
    differ by at least ``disagreement_threshold`` positions. Copeland ranks use the same
    tie-break chain after the Copeland score, and also put unscored pitches last.
    """
    positions = _positions(pitch_order)
    totals = judge_totals(criteria, judge_scores, positions)
    per_pitch = _totals_per_pitch(totals)
    scores = normalized_scores(totals, min_pitches_for_z=min_pitches_for_z)
    copeland = copeland_scores(totals, pitch_order)
    raw_means = {pitch_id: _mean(values) for pitch_id, values in per_pitch.items()}
    tie_keys = {
        pitch_id: (
            -round(raw_means.get(pitch_id, 0.0), SCORE_DECIMALS),
            -len(per_pitch.get(pitch_id, ())),
            positions[pitch_id],
        )
        for pitch_id in pitch_order
    }
    ranks, tie_breaks = _rank(lambda p: _primary_key(scores.get(p)), tie_keys)
    copeland_ranks, _ = _rank(
        lambda p: _primary_key(float(copeland[p]) if p in per_pitch else None), tie_keys
    )
    results = [
        PitchResult(
            pitch_id=pitch_id,
            rank=ranks[pitch_id],
            score=scores.get(pitch_id),
            score_raw=raw_means.get(pitch_id),
            judges_scored=len(per_pitch.get(pitch_id, ())),
            copeland=float(copeland[pitch_id]),
            copeland_rank=copeland_ranks[pitch_id],
            disagreement=abs(ranks[pitch_id] - copeland_ranks[pitch_id]) >= disagreement_threshold,
            tie_break=tie_breaks[pitch_id],
        )
        for pitch_id in pitch_order
    ]
    return sorted(results, key=lambda result: result.rank)


def judge_progress(
    judge_ids: Iterable[int],
    pitch_ids: Iterable[int],
    scored: set[tuple[int, int]],
    recused: set[tuple[int, int]],
) -> dict[int, tuple[int, int]]:
    """(scored, expected) pitch counts per judge; pairs are (judge_id, pitch_id), recusals excluded."""
    pitches = list(pitch_ids)
    progress: dict[int, tuple[int, int]] = {}
    for judge_id in judge_ids:
        expected = [p for p in pitches if (judge_id, p) not in recused]
        done = sum((judge_id, p) in scored for p in expected)
        progress[judge_id] = (done, len(expected))
    return progress


def _positions(pitch_order: Sequence[int]) -> dict[int, int]:
    positions = {pitch_id: index for index, pitch_id in enumerate(pitch_order)}
    if len(positions) != len(pitch_order):
        raise ValueError("pitch_order lists a pitch more than once")
    return positions


def _totals_per_pitch(totals: Totals) -> dict[int, list[float]]:
    per_pitch: dict[int, list[float]] = {}
    for by_pitch in totals.values():
        for pitch_id, total in by_pitch.items():
            per_pitch.setdefault(pitch_id, []).append(total)
    return per_pitch


def _primary_key(value: float | None) -> _SortKey:
    """Sort key putting higher values first and missing values after all others."""
    if value is None:
        return (1, 0.0)
    return (0, -round(value, SCORE_DECIMALS))


def _rank(
    primary: Callable[[int], _SortKey], tie_keys: Mapping[int, tuple[float, int, int]]
) -> tuple[dict[int, int], dict[int, str | None]]:
    """1-based ranks and, per pitch, the rule that separated it from a tied neighbour.

    A tied pitch is labelled with the rule that separated it from the tied pitch directly
    above it; the first pitch of a tied group takes the rule from the pitch directly below.
    """
    order = sorted(tie_keys, key=lambda p: (primary(p), tie_keys[p]))
    tie_breaks: dict[int, str | None] = dict.fromkeys(order)
    for above, below in pairwise(order):
        if primary(above) != primary(below):
            continue
        rule = next(
            name
            for name, key_above, key_below in zip(
                TIE_BREAKS, tie_keys[above], tie_keys[below], strict=True
            )
            if key_above != key_below
        )
        tie_breaks[below] = rule
        if tie_breaks[above] is None:
            tie_breaks[above] = rule
    ranks = {pitch_id: index for index, pitch_id in enumerate(order, start=1)}
    return ranks, tie_breaks
