"""Rank-dependent definitions: ABC class, R/F/M scores, segment, tier hysteresis."""

from __future__ import annotations

from datetime import timedelta

import pytest

from schemas import AbcClass, RfmSegment
from tests.unit.builders import AS_OF, POLICY, days_before, purchase, state_of
from tiering import (
    ExactPopulation,
    RankedMetric,
    TierHold,
    abc_class,
    classify,
    classify_measurement,
    measure,
    score_history,
)
from tiering.classify import score_of


def _population(monetary: list[float]) -> ExactPopulation:
    count = len(monetary)
    return ExactPopulation(
        {
            RankedMetric.MONETARY: monetary,
            RankedMetric.FREQUENCY: [1.0] * count,
            RankedMetric.RECENCY_DAYS: [0.0] * count,
        }
    )


@pytest.mark.parametrize(
    ("share_above", "expected"),
    [
        (0.0, AbcClass.A),
        (0.0499, AbcClass.A),
        (0.05, AbcClass.B),
        (0.1999, AbcClass.B),
        (0.2, AbcClass.C),
    ],
)
def test_abc_class_cuts_are_strict(share_above: float, expected: AbcClass) -> None:
    assert abc_class(share_above, POLICY) is expected


def test_inactive_customer_is_class_c() -> None:
    assert abc_class(None, POLICY) is AbcClass.C


def test_ties_at_the_a_b_cut_share_class_a() -> None:
    """20 customers; the top two tie at 500. For each, p = 0/20 = 0 < 0.05 → both A.

    The next customer (400) has p = 2/20 = 0.10 → B."""
    monetary = [500.0, 500.0, 400.0] + [float(v) for v in range(1, 18)]
    population = _population(monetary)
    assert abc_class(population.share_greater(RankedMetric.MONETARY, 500.0), POLICY) is AbcClass.A
    assert abc_class(population.share_greater(RankedMetric.MONETARY, 400.0), POLICY) is AbcClass.B


def test_customer_exactly_at_the_a_share_is_b() -> None:
    """20 customers with distinct values: the second has p = 1/20 = 0.05, not < 0.05 → B."""
    population = _population([float(v) for v in range(20, 0, -1)])
    assert abc_class(population.share_greater(RankedMetric.MONETARY, 19.0), POLICY) is AbcClass.B


@pytest.mark.parametrize(
    ("share", "score"), [(0.0, 1), (0.1999, 1), (0.2, 2), (0.6, 4), (0.7999, 4), (0.8, 5), (1.0, 5)]
)
def test_score_is_one_plus_floor_of_five_times_the_share_capped_at_five(
    share: float, score: int
) -> None:
    assert score_of(share) == score


def test_score_boundary_is_exact_for_shares_of_whole_counts() -> None:
    """3 of 5 customers below: 1 + floor(5 × 3/5) = 4, never 3 through float rounding."""
    assert score_of(3 / 5) == 4


def test_freshest_customer_gets_the_top_recency_score_and_champions_segment() -> None:
    history = [purchase(days_before(d), "100", customer=f"c{d}") for d in range(1, 11)]
    history += [purchase(days_before(2 + k), "100", customer="c1") for k in range(5)]
    result = score_history(history, [], POLICY, AS_OF)
    best = next(e for e in result.evaluations if e.customer_id == "c1")
    assert best.classification.scores is not None
    assert best.classification.scores.recency == 5
    assert best.classification.scores.frequency == 5
    assert best.classification.segment is RfmSegment.CHAMPIONS


def test_inactive_customer_has_no_scores_and_no_segment() -> None:
    result = score_history(
        [purchase(days_before(400)), purchase(days_before(1), customer="c2")], [], POLICY, AS_OF
    )
    inactive = next(e for e in result.evaluations if e.customer_id == "c1")
    assert inactive.classification.scores is None
    assert inactive.classification.segment is None
    assert inactive.classification.tier == "C"


def test_tier_reason_states_the_rank_in_one_sentence() -> None:
    population = _population([1000.0] + [10.0] * 99)
    measurement = measure(state_of([purchase(days_before(1), "1000")]), POLICY, AS_OF)
    evaluation = classify_measurement(measurement, TierHold(), population, POLICY)
    tier_reason = evaluation.reasons[0]
    assert tier_reason.code == "tier.abc_rank"
    assert "top 0.0 % of 100 active customers" in tier_reason.text
    assert "1,000.00" in tier_reason.text


# --- hysteresis -----------------------------------------------------------------------------


def _evaluate_with_share(share_above: float, hold: TierHold, days_later: float) -> TierHold:
    """Classify a customer whose p is `share_above` at as_of + days_later."""
    count = 1000
    above = round(share_above * count)
    population = _population([2.0] * above + [1.0] * (count - above))
    as_of = AS_OF + timedelta(days=days_later)
    measurement = measure(state_of([purchase(as_of - timedelta(days=1), "1")]), POLICY, as_of)
    return classify_measurement(measurement, hold, population, POLICY).hold


def test_upgrade_applies_at_once() -> None:
    assert _evaluate_with_share(0.01, TierHold("C"), 0).tier == "A"


def test_downgrade_waits_for_downgrade_after_days() -> None:
    """A customer at p = 0.30 (class C) holding A starts a hold; it applies after 14 days."""
    hold = _evaluate_with_share(0.30, TierHold("A"), 0)
    assert hold == TierHold("A", AS_OF + timedelta(days=0))
    assert _evaluate_with_share(0.30, hold, 13.9).tier == "A"
    assert _evaluate_with_share(0.30, hold, 14).tier == "C"


def test_inside_the_margin_band_the_hold_clock_resets() -> None:
    """A's cut is 0.05 and the margin 0.01: p = 0.055 is below the cut but not clearly."""
    started = _evaluate_with_share(0.30, TierHold("A"), 0)
    assert _evaluate_with_share(0.055, started, 5) == TierHold("A", None)


def test_first_classification_takes_the_class_directly() -> None:
    assert _evaluate_with_share(0.30, TierHold(), 0) == TierHold("C", None)


def test_classify_carries_the_hold_in_the_state() -> None:
    state = state_of([purchase(days_before(1), "5")])
    population = _population([5.0])
    updated, evaluation = classify(state, population, POLICY, AS_OF)
    assert (updated.tier, evaluation.classification.tier) == ("A", "A")
