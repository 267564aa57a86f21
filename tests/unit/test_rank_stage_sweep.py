"""The ranker re-evaluates exactly the customers a brute-force comparison of every customer's
rank-derived classes finds, across boundaries with random populations and measurements."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from schemas import Lifecycle, Risk
from streams.pipeline.rank_classes import rank_class_functions
from streams.pipeline.rank_stage import PartitionRanker
from streams.pipeline.ranks import SketchPopulation, summarize, unix_seconds
from streams.pipeline.value_index import RANKED_VALUES
from tests.unit.builders import POLICY
from tiering import ExactPopulation, Measurement, Population, RankedMetric
from tiering.rising import growth_projection

FIRST_BOUNDARY = datetime(2026, 3, 1, tzinfo=UTC)
BOUNDARIES = 3
CUSTOMERS = [f"c{number:02d}" for number in range(30)]

# (monetary units, frequency, days of the last purchase before the first boundary):
# small ranges, so ties and values equal to population values are common.
_values = st.tuples(
    st.integers(min_value=0, max_value=40),
    st.integers(min_value=1, max_value=8),
    st.integers(min_value=0, max_value=30),
)


def _measurement(customer_id: str, as_of: datetime, values: tuple[int, int, int]) -> Measurement:
    monetary, frequency, days = values
    last_purchase = FIRST_BOUNDARY - timedelta(days=days, hours=days % 3 * 7)
    return Measurement(
        customer_id=customer_id,
        as_of=as_of,
        active=True,
        recency_days=(as_of - last_purchase) // timedelta(days=1),
        frequency=frequency,
        monetary=Decimal(monetary),
        first_half=Decimal(0),
        second_half=Decimal(monetary),
        first_purchase_at=last_purchase - timedelta(days=200),
        last_purchase_at=last_purchase,
        purchase_count=frequency,
        expected_gap_days=None,
        overdue_after_days=None,
        last_negative_feedback_at=None,
        lifecycle=Lifecycle.MATURE,
        risk=Risk.OK,
    )


def _population(
    boundary: datetime, sketched: bool, others: list[tuple[int, int, int]]
) -> Population:
    """The whole population at `boundary`, as customers of other partitions' values."""
    last_purchases = [FIRST_BOUNDARY - timedelta(days=days) for _, _, days in others]
    if sketched:
        summary = summarize(
            0,
            boundary,
            {
                "monetary": [float(monetary) for monetary, _, _ in others],
                "frequency": [float(frequency) for _, frequency, _ in others],
                "last_purchase": [unix_seconds(instant) for instant in last_purchases],
            },
        )
        return SketchPopulation([summary], boundary)
    return ExactPopulation(
        {
            RankedMetric.MONETARY: [float(monetary) for monetary, _, _ in others],
            RankedMetric.FREQUENCY: [float(frequency) for _, frequency, _ in others],
            RankedMetric.RECENCY_DAYS: [
                float((boundary - instant) // timedelta(days=1)) for instant in last_purchases
            ],
        }
    )


def _brute_force(
    latest: dict[str, Measurement],
    before: tuple[datetime, Population],
    after: tuple[datetime, Population],
) -> set[str]:
    """Every customer whose class given some ranked value (or its rising-star projection)
    differs between the moments."""
    classes_before = rank_class_functions(POLICY, before)
    classes_after = rank_class_functions(POLICY, after)
    valued = (*RANKED_VALUES, ("projected", lambda m: growth_projection(m, POLICY)))
    return {
        customer_id
        for customer_id, measurement in latest.items()
        for name, value_of in valued
        if (value := value_of(measurement)) is not None
        and classes_before[name](value) != classes_after[name](value)
    }


@settings(max_examples=60, deadline=None)
@given(
    sketched=st.booleans(),
    first=st.lists(_values, min_size=len(CUSTOMERS), max_size=len(CUSTOMERS)),
    populations=st.lists(
        st.lists(_values, min_size=1, max_size=60), min_size=BOUNDARIES, max_size=BOUNDARIES
    ),
    remeasured=st.lists(
        st.dictionaries(st.sampled_from(CUSTOMERS), _values, max_size=8),
        min_size=BOUNDARIES - 1,
        max_size=BOUNDARIES - 1,
    ),
)
def test_cut_sweep_touches_exactly_the_customers_whose_rank_classes_change(
    sketched: bool,
    first: list[tuple[int, int, int]],
    populations: list[list[tuple[int, int, int]]],
    remeasured: list[dict[str, tuple[int, int, int]]],
) -> None:
    # Holds set at the first boundary expire after the last one: nothing is due, so every
    # customer touched and not measured was touched by the cut sweep.
    assert POLICY.hysteresis.downgrade_after_days > BOUNDARIES
    ranker = PartitionRanker(POLICY)
    latest = {
        customer_id: _measurement(customer_id, FIRST_BOUNDARY, values)
        for customer_id, values in zip(CUSTOMERS, first, strict=True)
    }
    moment = (FIRST_BOUNDARY, _population(FIRST_BOUNDARY, sketched, populations[0]))
    ranker.rank(*moment, tuple(latest.values()))
    for number, changes in enumerate(remeasured, start=1):
        boundary = FIRST_BOUNDARY + timedelta(days=number)
        measurements = tuple(
            _measurement(customer_id, boundary, values) for customer_id, values in changes.items()
        )
        latest.update((measurement.customer_id, measurement) for measurement in measurements)
        following = (boundary, _population(boundary, sketched, populations[number]))
        ranker.rank(*following, measurements)
        assert ranker.touched == set(changes) | _brute_force(latest, moment, following)
        moment = following
