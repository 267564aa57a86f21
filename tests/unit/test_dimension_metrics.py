"""`tierstream_customers_by_dimension{dimension,value,tier}`: counts per profile dimension,
for the dimensions the policy lists only, and at most 50 values per dimension."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from prometheus_client import CollectorRegistry

from schemas import Lifecycle, Risk
from schemas.profile import AccountManager, CustomerProfile, ProfileDimensions
from streams.metrics import WorkerMetrics
from streams.pipeline.local_pipeline import LocalPipeline
from streams.pipeline.rank_stage import ClassificationCounts
from streams.worker.dimensions import (
    MAX_DIMENSION_VALUES,
    DimensionCardinalityError,
    ProfileValueCount,
)
from streams.worker.observe import WorkerObserver
from tests.unit.builders import POLICY, purchase
from tiering import PolicyError, parse_policy

GAUGE = "tierstream_customers_by_dimension"
DAY = 86_400
START = datetime(2026, 1, 5, tzinfo=UTC)
REGIONS = {"c1": "emea", "c2": "emea", "c3": "apac"}  # c4 has no profile


def _observer(dimensions: tuple[str, ...]) -> tuple[WorkerObserver, CollectorRegistry]:
    registry = CollectorRegistry()
    metrics = WorkerMetrics.create(registry)
    observer = WorkerObserver(metrics, (), {}, tier_names=("A", "B", "C"), dimensions=dimensions)
    return observer, registry


def _series(registry: CollectorRegistry) -> dict[tuple[str, str, str], float]:
    return {
        (s.labels["dimension"], s.labels["value"], s.labels["tier"]): s.value
        for family in registry.collect()
        for s in family.samples
        if s.name == GAUGE
    }


class _Ranked:
    """A partition's counts as `PartitionRanker.counts()` reports them."""

    def __init__(self, by_dimension: dict[tuple[str, str, str], int]) -> None:
        self._counts = ClassificationCounts(
            tiers=dict.fromkeys(("A", "B", "C"), 0),
            risks=dict.fromkeys(Risk, 0),
            lifecycles=dict.fromkeys(Lifecycle, 0),
            monetary_by_tier=dict.fromkeys(("A", "B", "C"), Decimal(0)),
            by_dimension=by_dimension,
        )

    def counts(self) -> ClassificationCounts:
        return self._counts


def test_the_rank_stage_counts_customers_per_value_and_tier_of_a_listed_dimension() -> None:
    policy = POLICY.model_copy(update={"metrics_dimensions": ("region",)})

    def profiles(customer: str) -> ProfileDimensions | None:
        region = REGIONS.get(customer)
        return None if region is None else ProfileDimensions(region=region, industry="retail")

    pipeline = LocalPipeline(policy, 1, DAY, profiles=profiles)
    for n, customer in enumerate(("c1", "c2", "c3", "c4")):
        pipeline.feed(purchase(START + timedelta(hours=n), "100", customer=customer))
    pipeline.watermark(0, START + timedelta(days=1, microseconds=1))
    tiers = {c: pipeline.classification(c).tier for c in ("c1", "c2", "c3", "c4")}  # type: ignore[union-attr]
    expected: dict[tuple[str, str, str], int] = {}
    for customer, tier in tiers.items():
        key = ("region", REGIONS.get(customer, "none"), tier)
        expected[key] = expected.get(key, 0) + 1
    assert pipeline.counts(0).by_dimension == expected


def test_an_erased_customer_leaves_the_dimension_counts() -> None:
    policy = POLICY.model_copy(update={"metrics_dimensions": ("region",)})
    pipeline = LocalPipeline(policy, 1, DAY, profiles=lambda _: ProfileDimensions(region="emea"))
    pipeline.feed(purchase(START, "100", customer="c1"))
    pipeline.watermark(0, START + timedelta(days=1, microseconds=1))
    assert sum(pipeline.counts(0).by_dimension.values()) == 1
    pipeline.erase("c1")
    assert pipeline.counts(0).by_dimension == {}


def test_without_metrics_dimensions_the_rank_stage_counts_none() -> None:
    pipeline = LocalPipeline(POLICY, 1, DAY, profiles=lambda _: ProfileDimensions(region="emea"))
    pipeline.feed(purchase(START, "100", customer="c1"))
    pipeline.watermark(0, START + timedelta(days=1, microseconds=1))
    assert pipeline.counts(0).by_dimension == {}


def test_the_gauge_sums_the_local_partitions() -> None:
    observer, registry = _observer(("region",))
    observer.classifications(
        [  # type: ignore[list-item]
            _Ranked({("region", "emea", "A"): 2, ("region", "none", "C"): 1}),
            _Ranked({("region", "emea", "A"): 3}),
        ]
    )
    assert _series(registry) == {("region", "emea", "A"): 5.0, ("region", "none", "C"): 1.0}


def test_a_dimension_the_policy_does_not_list_never_labels_the_gauge() -> None:
    observer, registry = _observer(("region",))
    counts = {("region", "emea", "A"): 1, ("industry", "retail", "A"): 1}
    observer.classifications([_Ranked(counts)])  # type: ignore[list-item]
    assert {dimension for dimension, _, _ in _series(registry)} == {"region"}


def test_a_series_whose_customers_left_goes_to_zero() -> None:
    observer, registry = _observer(("region",))
    observer.classifications([_Ranked({("region", "emea", "B"): 1})])  # type: ignore[list-item]
    observer.classifications([_Ranked({("region", "emea", "A"): 1})])  # type: ignore[list-item]
    assert _series(registry) == {("region", "emea", "B"): 0.0, ("region", "emea", "A"): 1.0}


def test_values_beyond_fifty_label_nothing_and_are_counted_as_unlabelled() -> None:
    observer, registry = _observer(("region",))
    counts = {("region", f"r{n:02}", "C"): 1 for n in range(MAX_DIMENSION_VALUES + 3)}
    counts[("region", "none", "C")] = 1
    observer.classifications([_Ranked(counts)])  # type: ignore[list-item]
    values = {value for _, value, _ in _series(registry)}
    assert len(values - {"none"}) == MAX_DIMENSION_VALUES and "none" in values
    unlabelled = registry.get_sample_value(
        "tierstream_dimension_values_unlabelled", {"dimension": "region"}
    )
    assert unlabelled == 3


def _profile(customer: str, region: str) -> bytes:
    manager = AccountManager(id="m-1", name="Ada")
    profile = CustomerProfile(customer_id=customer, account_manager=manager, region=region)
    return profile.model_dump_json().encode()


def test_the_start_count_refuses_the_fifty_first_value_naming_the_dimension() -> None:
    count = ProfileValueCount(("industry", "region"))
    for n in range(MAX_DIMENSION_VALUES):
        count.add(_profile(f"c{n}", f"r{n}"))
    count.add(None)  # a tombstone
    count.add(b"{not json")  # the worker dead-letters it; it carries no value
    assert len(count.values["region"]) == MAX_DIMENSION_VALUES
    with pytest.raises(DimensionCardinalityError, match="'region' has more than 50"):
        count.add(_profile("c-last", "one-too-many"))


def test_a_policy_lists_only_profile_dimensions_as_metrics_dimensions() -> None:
    document = POLICY.model_dump(mode="json")
    assert parse_policy({**document, "metrics_dimensions": ["region", "size"]})
    with pytest.raises(PolicyError, match="metrics_dimensions"):
        parse_policy({**document, "metrics_dimensions": ["customer_id"]})
