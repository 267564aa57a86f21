"""Merged partition sketches rank like an exact computation over all customers."""

from __future__ import annotations

import bisect
import random
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from streams.pipeline.ranks import (
    ClosedThrough,
    RankSummary,
    SketchPopulation,
    parse_ranks_record,
    summarize,
    unix_seconds,
)
from tiering import RankedMetric

AS_OF = datetime(2026, 1, 31, 23, 59, tzinfo=UTC)


def _split(values: list[float], partitions: int) -> list[list[float]]:
    return [values[index::partitions] for index in range(partitions)]


def _population(values: list[float], partitions: int = 4) -> SketchPopulation:
    summaries = [
        summarize(p, AS_OF, {"monetary": part, "frequency": part, "last_purchase": part})
        for p, part in enumerate(_split(values, partitions))
    ]
    return SketchPopulation(summaries, AS_OF)


def test_strict_shares_with_ties_match_a_hand_count() -> None:
    """Values 10, 20, 20, 30: above 20 is one of four (0.25), below 20 is one of four."""
    population = _population([10.0, 20.0, 20.0, 30.0], partitions=2)
    assert population.active_count == 4
    assert population.share_greater("monetary", 20.0) == pytest.approx(0.25)
    assert population.share_smaller("monetary", 20.0) == pytest.approx(0.25)


def test_a_share_exactly_at_a_cut_is_the_exact_ratio_of_counts() -> None:
    """17 of 85 customers above: p = 0.2 exactly, as batch's count / n gives it (1 − 68/85
    in floats is 0.19999999999999996, which would put the customer in the class above)."""
    population = _population([2.0] * 17 + [1.0] * 68)
    assert population.share_greater("monetary", 1.0) == 17 / 85 == 0.2


def test_largest_value_has_nothing_above_it() -> None:
    population = _population([1.0, 2.0, 3.0])
    assert population.share_greater("monetary", 3.0) == 0.0


def test_empty_population_ranks_everything_at_zero() -> None:
    population = SketchPopulation([], AS_OF)
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
        3, AS_OF, {"monetary": [5.0, 7.0], "frequency": [1, 2], "last_purchase": [0, 9]}
    )
    restored = parse_ranks_record(summary.model_dump_json().encode())
    assert isinstance(restored, RankSummary)
    assert SketchPopulation([restored], AS_OF).share_smaller("monetary", 7.0) == pytest.approx(0.5)


def test_closed_through_survives_its_json_round_trip() -> None:
    marker = ClosedThrough(partition=2, closed_through=AS_OF)
    assert parse_ranks_record(marker.model_dump_json().encode()) == marker


def test_a_version_one_summary_is_refused() -> None:
    """Version 1 sketched recency_days, which a later boundary cannot reuse."""
    old = (
        '{"partition": 0, "as_of": "2026-01-31T00:00:00+00:00", "first_boundary": '
        '"2026-01-31T00:00:00+00:00", "active_count": 0, "sketches_b64": {}}'
    )
    with pytest.raises(ValidationError):
        parse_ranks_record(old.encode())


def _recency_population(last_purchases: list[datetime], as_of: datetime) -> SketchPopulation:
    values = [unix_seconds(instant) for instant in last_purchases]
    summary = summarize(
        0, as_of, {"monetary": values, "frequency": values, "last_purchase": values}
    )
    return SketchPopulation([summary], as_of)


def test_recency_shares_count_whole_days_since_the_last_purchase_at_the_boundary() -> None:
    """At E = day 10 00:00, purchases at day 8 00:00, day 8 06:00 and day 9 23:59 have
    recency_days 2, 1 and 0: strictly more than 1 day is one of three, strictly fewer than
    2 days two of three."""
    day = timedelta(days=1)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    boundary = start + 10 * day
    population = _recency_population(
        [start + 8 * day, start + 8 * day + timedelta(hours=6), boundary - timedelta(minutes=1)],
        boundary,
    )
    assert population.share_greater(RankedMetric.RECENCY_DAYS, 1) == pytest.approx(1 / 3)
    assert population.share_smaller(RankedMetric.RECENCY_DAYS, 2) == pytest.approx(2 / 3)
    assert population.share_greater(RankedMetric.RECENCY_DAYS, 2) == 0.0


def test_recency_shares_move_with_the_boundary_the_population_is_taken_at() -> None:
    """The same summary a day later: every purchase is one day older."""
    day = timedelta(days=1)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    purchases = [start + 8 * day, start + 8 * day + timedelta(hours=6), start + 9 * day]
    earlier = _recency_population(purchases, start + 10 * day)
    later = _recency_population(purchases, start + 11 * day)
    for days in range(4):
        assert later.share_greater(RankedMetric.RECENCY_DAYS, days + 1) == pytest.approx(
            earlier.share_greater(RankedMetric.RECENCY_DAYS, days)
        )
