"""Merged partition sketches rank like an exact computation over all customers."""

from __future__ import annotations

import bisect
import random
from datetime import UTC, datetime

import pytest

from streams.pipeline.ranks import RankSummary, SketchPopulation, summarize

AS_OF = datetime(2026, 1, 31, 23, 59, tzinfo=UTC)


def _split(values: list[float], partitions: int) -> list[list[float]]:
    return [values[index::partitions] for index in range(partitions)]


def _population(values: list[float], partitions: int = 4) -> SketchPopulation:
    summaries = [
        summarize(p, AS_OF, {"monetary": part, "frequency": part, "recency_days": part})
        for p, part in enumerate(_split(values, partitions))
    ]
    return SketchPopulation(summaries)


def test_strict_shares_with_ties_match_a_hand_count() -> None:
    """Values 10, 20, 20, 30: above 20 is one of four (0.25), below 20 is one of four."""
    population = _population([10.0, 20.0, 20.0, 30.0], partitions=2)
    assert population.active_count == 4
    assert population.share_greater("monetary", 20.0) == pytest.approx(0.25)
    assert population.share_smaller("monetary", 20.0) == pytest.approx(0.25)


def test_largest_value_has_nothing_above_it() -> None:
    population = _population([1.0, 2.0, 3.0])
    assert population.share_greater("monetary", 3.0) == 0.0


def test_empty_population_ranks_everything_at_zero() -> None:
    population = SketchPopulation([])
    assert population.active_count == 0
    assert population.share_greater("frequency", 5.0) == 0.0
    assert population.share_smaller("frequency", 5.0) == 0.0


def test_merged_sketches_agree_with_exact_ranks_on_twenty_thousand_customers() -> None:
    """At 20,000 customers and k = 16,384 the largest rank error stays below 0.1 %."""
    generator = random.Random(7)
    values = [round(generator.lognormvariate(7, 1.5), 2) for _ in range(20_000)]
    population = _population(values)
    ordered = sorted(values)
    count = len(ordered)
    worst = max(
        abs(
            population.share_greater("monetary", v)
            - (count - bisect.bisect_right(ordered, v)) / count
        )
        for v in values[:3_000]
    )
    assert worst < 0.001


def test_summary_survives_its_json_round_trip() -> None:
    summary = summarize(
        3, AS_OF, {"monetary": [5.0, 7.0], "frequency": [1, 2], "recency_days": [0, 9]}
    )
    restored = RankSummary.model_validate_json(summary.model_dump_json())
    assert SketchPopulation([restored]).share_smaller("monetary", 7.0) == pytest.approx(0.5)
