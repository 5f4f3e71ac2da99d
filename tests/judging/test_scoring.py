"""Property-based and hand-computed tests for pitchtank.judging.scoring."""

from __future__ import annotations

import math
from dataclasses import replace
from itertools import permutations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pitchtank.judging.scoring import (
    SCORE_DECIMALS,
    TIE_BREAK_RULE,
    TIE_BREAKS,
    Criterion,
    JudgeScore,
    PitchResult,
    copeland_scores,
    judge_progress,
    judge_totals,
    normalized_scores,
    rank_pitches,
    weighted_total,
)

PROPERTY = settings(max_examples=150, deadline=None)

# A one-criterion rubric makes each value equal to the judge's weighted total.
SINGLE = [Criterion("score", 1.0, 0.0, 10.0)]
NO_Z = 10**6  # a min_pitches_for_z no judge reaches, so everyone is mean-centred

Totals = dict[int, dict[int, float]]


def scorings(totals: Totals) -> list[JudgeScore]:
    return [
        JudgeScore(judge_id, pitch_id, {"score": value})
        for judge_id, by_pitch in totals.items()
        for pitch_id, value in by_pitch.items()
    ]


def rank(totals: Totals, pitch_order: list[int], **options: int) -> list[PitchResult]:
    return rank_pitches(SINGLE, scorings(totals), pitch_order, **options)


def by_id(results: list[PitchResult]) -> dict[int, PitchResult]:
    return {result.pitch_id: result for result in results}


pitch_id_lists = st.lists(st.integers(1, 500), min_size=1, max_size=7, unique=True)
judge_id_lists = st.lists(st.integers(1, 500), min_size=1, max_size=5, unique=True)


@st.composite
def sessions(draw: st.DrawFn) -> tuple[list[int], Totals]:
    """A running order and integer totals per judge, with some pitches left unscored."""
    pitch_order = draw(pitch_id_lists)
    totals: Totals = {}
    for judge_id in draw(judge_id_lists):
        chosen = draw(st.lists(st.sampled_from(pitch_order), unique=True))
        totals[judge_id] = {pitch_id: draw(st.integers(0, 10)) for pitch_id in chosen}
    return pitch_order, totals


@st.composite
def z_scored_sessions(draw: st.DrawFn) -> tuple[list[int], Totals]:
    """Sessions where every judge scored at least two pitches with differing totals."""
    pitch_order = draw(st.lists(st.integers(1, 500), min_size=2, max_size=7, unique=True))
    varied = st.dictionaries(st.sampled_from(pitch_order), st.integers(0, 10), min_size=2).filter(
        lambda by_pitch: len(set(by_pitch.values())) > 1
    )
    judge_ids = draw(judge_id_lists)
    return pitch_order, {judge_id: draw(varied) for judge_id in judge_ids}


def relabel(totals: Totals, judges: dict[int, int], pitches: dict[int, int]) -> Totals:
    """Rename judges and pitches; judges come out sorted by new id, so in a different order."""
    renamed = {
        judges[judge_id]: {pitches[pitch_id]: value for pitch_id, value in by_pitch.items()}
        for judge_id, by_pitch in totals.items()
    }
    return dict(sorted(renamed.items()))


# --- invariances -------------------------------------------------------------------------


@PROPERTY
@given(sessions(), st.data())
def test_relabelling_judges_changes_nothing(
    session: tuple[list[int], Totals], data: st.DataObject
) -> None:
    pitch_order, totals = session
    new_ids = data.draw(st.permutations([*totals, *(j + 1000 for j in totals)]))
    judges = dict(zip(totals, new_ids, strict=False))
    identity = {pitch_id: pitch_id for pitch_id in pitch_order}
    assert rank(relabel(totals, judges, identity), pitch_order) == rank(totals, pitch_order)


@PROPERTY
@given(sessions(), st.data())
def test_order_of_scores_changes_nothing(
    session: tuple[list[int], Totals], data: st.DataObject
) -> None:
    pitch_order, totals = session
    shuffled = data.draw(st.permutations(scorings(totals)))
    assert rank_pitches(SINGLE, shuffled, pitch_order) == rank(totals, pitch_order)


@PROPERTY
@given(sessions(), st.data())
def test_relabelling_pitches_relabels_results(
    session: tuple[list[int], Totals], data: st.DataObject
) -> None:
    pitch_order, totals = session
    new_ids = data.draw(st.permutations([*pitch_order, *(p + 1000 for p in pitch_order)]))
    pitches = dict(zip(pitch_order, new_ids, strict=False))
    judges = {judge_id: judge_id for judge_id in totals}
    relabelled = rank(relabel(totals, judges, pitches), [pitches[p] for p in pitch_order])
    expected = [replace(r, pitch_id=pitches[r.pitch_id]) for r in rank(totals, pitch_order)]
    assert relabelled == expected


@PROPERTY
@given(sessions(), st.integers(501, 600), st.integers(0, 10))
def test_scores_for_pitches_outside_the_running_order_are_ignored(
    session: tuple[list[int], Totals], stray_pitch: int, value: int
) -> None:
    pitch_order, totals = session
    stray = [JudgeScore(judge_id, stray_pitch, {"score": value}) for judge_id in totals]
    assert rank_pitches(SINGLE, scorings(totals) + stray, pitch_order) == rank(totals, pitch_order)


def shift_one_judge(totals: Totals, judge_id: int, constant: float) -> Totals:
    shifted = {j: dict(by_pitch) for j, by_pitch in totals.items()}
    shifted[judge_id] = {p: value + constant for p, value in totals[judge_id].items()}
    return shifted


def assert_ranking_kept(
    old: dict[int, float], new: dict[int, float], results: list[PitchResult]
) -> None:
    """Pitches whose old scores clearly differed keep their order in new scores and ranks."""
    ranks = {result.pitch_id: result.rank for result in results}
    for a, b in permutations(old, 2):
        if old[a] - old[b] > 1e-3:
            assert new[a] > new[b]
            assert ranks[a] < ranks[b]


@PROPERTY
@given(sessions(), st.data(), st.floats(-5, 5))
def test_shifting_a_mean_centred_judge_keeps_the_ranking(
    session: tuple[list[int], Totals], data: st.DataObject, constant: float
) -> None:
    pitch_order, totals = session
    shifted = shift_one_judge(totals, data.draw(st.sampled_from(sorted(totals))), constant)
    assert_ranking_kept(
        normalized_scores(totals, min_pitches_for_z=NO_Z),
        normalized_scores(shifted, min_pitches_for_z=NO_Z),
        rank(shifted, pitch_order, min_pitches_for_z=NO_Z),
    )


@PROPERTY
@given(z_scored_sessions(), st.data(), st.floats(-5, 5))
def test_shifting_a_z_scored_judge_keeps_the_ranking(
    session: tuple[list[int], Totals], data: st.DataObject, constant: float
) -> None:
    pitch_order, totals = session
    shifted = shift_one_judge(totals, data.draw(st.sampled_from(sorted(totals))), constant)
    assert_ranking_kept(
        normalized_scores(totals, min_pitches_for_z=2),
        normalized_scores(shifted, min_pitches_for_z=2),
        rank(shifted, pitch_order, min_pitches_for_z=2),
    )


@PROPERTY
@given(sessions(), st.data())
def test_copeland_ignores_monotone_changes_to_one_judge(
    session: tuple[list[int], Totals], data: st.DataObject
) -> None:
    pitch_order, totals = session
    judge_id = data.draw(st.sampled_from(sorted(totals)))
    stretched = {j: dict(by_pitch) for j, by_pitch in totals.items()}
    stretched[judge_id] = {p: 3 * value - 7 for p, value in totals[judge_id].items()}
    assert copeland_scores(stretched, pitch_order) == copeland_scores(totals, pitch_order)


# --- structure of the results --------------------------------------------------------------


@PROPERTY
@given(sessions(), st.integers(1, 6))
def test_results_are_a_consistent_ranking(
    session: tuple[list[int], Totals], min_for_z: int
) -> None:
    pitch_order, totals = session
    results = rank(totals, pitch_order, min_pitches_for_z=min_for_z)

    assert sorted(r.pitch_id for r in results) == sorted(pitch_order)
    assert [r.rank for r in results] == list(range(1, len(pitch_order) + 1))
    assert sorted(r.copeland_rank for r in results) == [r.rank for r in results]
    assert sum(r.copeland for r in results) == 0

    keys = [None if r.score is None else round(r.score, 6) for r in results]
    scored = [key for key in keys if key is not None]
    assert keys[: len(scored)] == scored, "unscored pitches come last"
    unscored_copeland_ranks = {r.copeland_rank for r in results if r.score is None}
    assert unscored_copeland_ranks == set(range(len(scored) + 1, len(results) + 1))
    assert scored == sorted(scored, reverse=True)
    for index, result in enumerate(results):
        tied = {keys[i] for i in (index - 1, index + 1) if 0 <= i < len(keys)}
        assert (result.tie_break is None) == (keys[index] not in tied)
        assert result.tie_break in (None, *TIE_BREAKS)
        assert (result.score is None) == (result.judges_scored == 0) == (result.score_raw is None)
        assert result.disagreement == (abs(result.rank - result.copeland_rank) >= 2)


@PROPERTY
@given(sessions())
def test_raw_mean_only_counts_judges_who_scored(session: tuple[list[int], Totals]) -> None:
    pitch_order, totals = session
    for result in rank(totals, pitch_order):
        given_totals = [
            by_pitch[result.pitch_id] for by_pitch in totals.values() if result.pitch_id in by_pitch
        ]
        assert result.judges_scored == len(given_totals)
        if given_totals:
            assert result.score_raw == pytest.approx(sum(given_totals) / len(given_totals))


# --- weighted totals -----------------------------------------------------------------------

RUBRIC = [
    Criterion("team", 2.0, 0.0, 10.0),
    Criterion("market", 1.0, 0.0, 10.0),
    Criterion("would_invest", 0.0, 0.0, 1.0),
]
MIXED = [Criterion("team", 1.0, 0.0, 10.0), Criterion("traction", 1.0, 1.0, 5.0)]


def test_weighted_total_is_the_weighted_mean_and_ignores_questions() -> None:
    assert weighted_total(RUBRIC, {"team": 8, "market": 5}) == pytest.approx(7.0)
    assert weighted_total(RUBRIC, {"team": 8, "market": 5, "would_invest": 1}) == pytest.approx(7.0)


def test_weighted_total_is_none_when_a_weighted_criterion_is_missing() -> None:
    assert weighted_total(RUBRIC, {"team": 8, "would_invest": 1}) is None


def test_mixed_scales_are_mapped_through_zero_to_one() -> None:
    # team 5/10 -> 0.5, traction 5 on 1..5 -> 1.0; mean 0.75 on [0.5, 7.5] -> 0.5 + 0.75 * 7.
    assert weighted_total(MIXED, {"team": 5, "traction": 5}) == pytest.approx(5.75)
    assert weighted_total(MIXED, {"team": 0, "traction": 1}) == pytest.approx(0.5)
    assert weighted_total(MIXED, {"team": 10, "traction": 5}) == pytest.approx(7.5)


@PROPERTY
@given(st.floats(0, 10), st.floats(0, 10), st.floats(-100, 100), st.floats(0, 10), st.floats(1, 5))
def test_weighted_total_stays_on_the_scale(
    team: float, market: float, question: float, mixed_team: float, traction: float
) -> None:
    total = weighted_total(RUBRIC, {"team": team, "market": market})
    assert total is not None
    assert min(team, market) - 1e-9 <= total <= max(team, market) + 1e-9
    assert (
        weighted_total(RUBRIC, {"team": team, "market": market, "would_invest": question}) == total
    )
    mixed = weighted_total(MIXED, {"team": mixed_team, "traction": traction})
    assert mixed is not None
    assert 0.5 - 1e-9 <= mixed <= 7.5 + 1e-9


@PROPERTY
@given(st.sampled_from(["team", "market"]), st.floats(0, 10), st.floats(0, 10))
def test_any_missing_weighted_criterion_gives_none(
    missing: str, team: float, market: float
) -> None:
    values = {"team": team, "market": market, "would_invest": 1.0}
    del values[missing]
    assert weighted_total(RUBRIC, values) is None


def test_incomplete_scorings_do_not_count() -> None:
    scores = [
        JudgeScore(1, 10, {"team": 8, "market": 5}),
        JudgeScore(2, 10, {"team": 2}),
    ]
    assert judge_totals(RUBRIC, scores, [10]) == {1: {10: pytest.approx(7.0)}}
    (result,) = rank_pitches(RUBRIC, scores, [10])
    assert result.judges_scored == 1
    assert result.score_raw == pytest.approx(7.0)


def test_invalid_input_is_rejected() -> None:
    with pytest.raises(ValueError, match="weight"):
        Criterion("team", -1.0, 0.0, 10.0)
    with pytest.raises(ValueError, match="max"):
        Criterion("team", 1.0, 5.0, 5.0)
    with pytest.raises(ValueError, match="no weighted"):
        weighted_total([Criterion("q", 0.0, 0.0, 1.0)], {"q": 1.0})
    with pytest.raises(ValueError, match="twice"):
        rank_pitches(SINGLE, scorings({1: {10: 5}}) * 2, [10])
    with pytest.raises(ValueError, match="more than once"):
        rank_pitches(SINGLE, [], [10, 10])


# --- normalization, by hand ----------------------------------------------------------------


def test_missing_scores_never_count_as_zero() -> None:
    # Global mean 19/3. Judge 1 (mean 7): 9 -> 19/3 + 2, 5 -> 19/3 - 2. Judge 2 (mean 5): 5 -> 19/3.
    results = by_id(rank({1: {10: 9, 20: 5}, 2: {20: 5}}, [10, 20]))
    assert results[10].score == pytest.approx(19 / 3 + 2)
    assert results[20].score == pytest.approx(19 / 3 - 1)
    assert results[10].rank == 1
    assert results[10].judges_scored == 1
    assert results[10].score_raw == pytest.approx(9.0)


FOUR_PITCHES = {1: {1: 2, 2: 4, 3: 6, 4: 8}, 2: {1: 6, 2: 6, 3: 7, 4: 9}}


def test_judge_with_fewer_pitches_than_the_minimum_is_mean_centred() -> None:
    # Global mean 6. Judge 1 (mean 5) -> 3, 5, 7, 9. Judge 2 (mean 7) -> 5, 5, 6, 8.
    results = by_id(rank(FOUR_PITCHES, [1, 2, 3, 4]))
    assert [results[p].score for p in (1, 2, 3, 4)] == pytest.approx([4.0, 5.0, 6.5, 8.5])
    assert normalized_scores(FOUR_PITCHES, min_pitches_for_z=5) == pytest.approx(
        {1: 4.0, 2: 5.0, 3: 6.5, 4: 8.5}
    )


def test_judges_with_enough_pitches_are_z_scored() -> None:
    # Judge 1: 4, 8 (mean 6, std 2); judge 2: 5, 7 (mean 6, std 1); global mean 6, std sqrt(2.5).
    totals = {1: {1: 4, 2: 8}, 2: {1: 5, 2: 7}}
    spread = math.sqrt(2.5)
    assert normalized_scores(totals, min_pitches_for_z=2) == pytest.approx(
        {1: 6 - spread, 2: 6 + spread}
    )
    # Mean-centred instead: pitch 1 -> (4 + 5) / 2, pitch 2 -> (8 + 7) / 2.
    assert normalized_scores(totals, min_pitches_for_z=3) == pytest.approx({1: 4.5, 2: 7.5})


def test_judge_giving_equal_totals_is_mean_centred() -> None:
    # Global mean 5, std sqrt(5). Judge 1 is flat (-> 5 everywhere); judge 2 (mean 3, std sqrt 2) is z-scored.
    totals = {1: dict.fromkeys(range(1, 6), 7), 2: {p: p for p in range(1, 6)}}
    scores = normalized_scores(totals)
    factor = math.sqrt(5) / math.sqrt(2)
    assert scores == pytest.approx({p: (5 + 5 + factor * (p - 3)) / 2 for p in range(1, 6)})


def test_everyone_giving_equal_totals_ties_everything() -> None:
    results = rank({1: dict.fromkeys((1, 2, 3), 7), 2: dict.fromkeys((1, 2, 3), 3)}, [3, 1, 2])
    assert [r.pitch_id for r in results] == [3, 1, 2]
    assert [r.score for r in results] == pytest.approx([5.0, 5.0, 5.0])
    assert {r.tie_break for r in results} == {"pitch_order"}


# --- tie-breaks, by hand -------------------------------------------------------------------


def test_tie_broken_by_raw_mean() -> None:
    # Judge 1 (mean 7) and judge 2 (mean 3) around a global mean of 5: pitches 1 and 3 both
    # normalize to 6, pitches 2 and 4 to 4; raw means 8 > 4 and 6 > 2 decide.
    results = rank({1: {1: 8, 2: 6}, 2: {3: 4, 4: 2}}, [4, 3, 2, 1])
    assert [(r.pitch_id, r.rank, r.tie_break) for r in results] == [
        (1, 1, "raw_mean"),
        (3, 2, "raw_mean"),
        (2, 3, "raw_mean"),
        (4, 4, "raw_mean"),
    ]


def test_tie_broken_by_judges_scored_before_running_order() -> None:
    # Both judges have mean 5 = global mean, so scores equal totals; 1 and 2 tie at 7, 3 and 4 at 3.
    results = rank({1: {1: 7, 3: 3}, 2: {1: 7, 2: 7, 3: 3, 4: 3}}, [2, 1, 4, 3])
    assert [(r.pitch_id, r.tie_break) for r in results] == [
        (1, "judges_scored"),
        (2, "judges_scored"),
        (3, "judges_scored"),
        (4, "judges_scored"),
    ]


def test_tie_broken_by_running_order_and_unscored_pitches_last() -> None:
    results = rank({1: {1: 9, 2: 5, 3: 5}}, [4, 3, 2, 1, 5])
    assert [(r.pitch_id, r.rank, r.score, r.tie_break) for r in results] == [
        (1, 1, pytest.approx(9.0), None),
        (3, 2, pytest.approx(5.0), "pitch_order"),
        (2, 3, pytest.approx(5.0), "pitch_order"),
        (4, 4, None, "pitch_order"),
        (5, 5, None, "pitch_order"),
    ]
    assert results[3].score_raw is None
    assert results[3].judges_scored == 0
    # Unscored pitches (Copeland 0) still rank below scored pitches with negative Copeland scores.
    assert [(r.copeland, r.copeland_rank) for r in results] == [
        (2.0, 1),
        (-1.0, 2),
        (-1.0, 3),
        (0.0, 4),
        (0.0, 5),
    ]
    assert not any(r.disagreement for r in results)


def test_tie_break_rule_is_documented_in_both_languages() -> None:
    assert set(TIE_BREAK_RULE) == {"es", "en"}
    assert all("6" in text for text in TIE_BREAK_RULE.values())


# --- Copeland, by hand ---------------------------------------------------------------------

# Judge 1 loves pitch D; judges 2 and 3 rank it last. D wins on means but loses every pair.
A, B, C, D = 1, 2, 3, 4
POLARIZED = {
    1: {A: 3, B: 2, C: 1, D: 10},
    2: {A: 10, B: 9, C: 8, D: 7},
    3: {A: 10, B: 9, C: 8, D: 7},
}


def test_copeland_counts_pairwise_majorities() -> None:
    # A beats B, C, D; B beats C, D; C beats D (each 2-1 or 3-0).
    assert copeland_scores(POLARIZED, [A, B, C, D]) == {A: 3, B: 1, C: -1, D: -3}


def test_copeland_draws_and_pairs_nobody_compared_count_zero() -> None:
    # Judges split 1-1 on A vs B; nobody scored both C and A or C and B.
    totals = {1: {A: 5, B: 4}, 2: {A: 4, B: 5}, 3: {C: 9}}
    assert copeland_scores(totals, [A, B, C]) == {A: 0, B: 0, C: 0}


def test_disagreement_is_flagged_when_the_views_differ_by_two_or_more() -> None:
    # Mean-centred scores equal raw means here: A 23/3, B 20/3, C 17/3, D 8.
    results = rank(POLARIZED, [A, B, C, D])
    assert [(r.pitch_id, r.rank, r.copeland, r.copeland_rank, r.disagreement) for r in results] == [
        (D, 1, -3.0, 4, True),
        (A, 2, 3.0, 1, False),
        (B, 3, 1.0, 2, False),
        (C, 4, -1.0, 3, False),
    ]
    assert by_id(results)[D].score == pytest.approx(8.0)
    assert all(r.disagreement for r in rank(POLARIZED, [A, B, C, D], disagreement_threshold=1))


# --- judge progress ------------------------------------------------------------------------


def test_judge_progress_excludes_recused_pitches() -> None:
    scored = {(1, 10), (1, 20), (2, 10)}
    recused = {(2, 20), (2, 30)}
    assert judge_progress([1, 2, 3], [10, 20, 30], scored, recused) == {
        1: (2, 3),
        2: (1, 1),
        3: (0, 3),
    }


pairs = st.sets(st.tuples(st.integers(1, 4), st.integers(1, 6)))


@PROPERTY
@given(pairs, pairs)
def test_judge_progress_never_exceeds_what_is_expected(
    scored: set[tuple[int, int]], recused: set[tuple[int, int]]
) -> None:
    progress = judge_progress(range(1, 5), range(1, 7), scored, recused)
    for judge_id, (done, expected) in progress.items():
        assert 0 <= done <= expected <= 6
        assert expected == 6 - sum(judge == judge_id for judge, _ in recused)


def _copeland_by_pairs(totals, pitch_ids):
    """The definition, pair by pair: the reference the bit-sliced count must match."""
    from itertools import combinations

    def preference(by_pitch, a, b):
        if a not in by_pitch or b not in by_pitch:
            return 0
        total_a, total_b = round(by_pitch[a], SCORE_DECIMALS), round(by_pitch[b], SCORE_DECIMALS)
        return (total_a > total_b) - (total_a < total_b)

    scores = dict.fromkeys(pitch_ids, 0)
    for a, b in combinations(scores, 2):
        margin = sum(preference(by_pitch, a, b) for by_pitch in totals.values())
        if margin:
            scores[a if margin > 0 else b] += 1
            scores[b if margin > 0 else a] -= 1
    return scores


@settings(max_examples=150, deadline=None)
@given(
    st.dictionaries(
        st.integers(1, 12),
        st.dictionaries(st.integers(1, 15), st.sampled_from([1.0, 2.5, 4.0, 4.0000001, 7.0, 9.5]), max_size=15),
        max_size=12,
    ),
    st.integers(1, 15),
)
def test_copeland_count_matches_the_pairwise_definition(totals, extra_pitches):
    pitch_ids = sorted({p for by_pitch in totals.values() for p in by_pitch} | set(range(1, extra_pitches + 1)))
    assert copeland_scores(totals, pitch_ids) == _copeland_by_pairs(totals, pitch_ids)
