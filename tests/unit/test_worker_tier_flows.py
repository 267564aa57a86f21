"""The worker's tier-flow counter and monetary-per-tier gauge (WorkerObserver).

`tierstream_tier_transitions_total{from,to}` counts each TierChanged that set or moved the
tier; `tierstream_monetary_by_tier{tier}` holds amounts (not shares), so the dashboard can
pool them across workers: share = sum by (tier) / sum.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from prometheus_client import CollectorRegistry

from schemas import Lifecycle, Risk
from streams.metrics import WorkerMetrics
from streams.notifier.testing import classification, tier_changed
from streams.pipeline.rank_stage import ClassificationCounts, PartitionRanker
from streams.worker.observe import WorkerObserver
from tests.unit.builders import POLICY

BOUNDARY = datetime(2026, 3, 2, tzinfo=UTC)
TIERS = ("A", "B", "C")
TRANSITIONS = "tierstream_tier_transitions_total"


def _observer(tier_names: tuple[str, ...] = TIERS) -> tuple[WorkerObserver, CollectorRegistry]:
    registry = CollectorRegistry()
    observer = WorkerObserver(WorkerMetrics.create(registry), (), {}, tier_names=tier_names)
    return observer, registry


def _transitions(registry: CollectorRegistry) -> dict[tuple[str, str], float]:
    return {
        (sample.labels["from"], sample.labels["to"]): sample.value
        for family in registry.collect()
        for sample in family.samples
        if sample.name == TRANSITIONS
    }


def _rank(observer: WorkerObserver, *changes: object) -> None:
    observer.boundary_ranked(0, BOUNDARY, changes, PartitionRanker(POLICY), 0.01)  # type: ignore[arg-type]


class _Ranked:
    """A partition's counts as the rank stage reports them (`PartitionRanker.counts()`)."""

    def __init__(self, monetary: dict[str, str]) -> None:
        self._counts = ClassificationCounts(
            tiers=dict.fromkeys(("A", "B", "C"), 1),
            risks=dict.fromkeys(Risk, 0),
            lifecycles=dict.fromkeys(Lifecycle, 0),
            monetary_by_tier={tier: Decimal(amount) for tier, amount in monetary.items()},
        )

    def counts(self) -> ClassificationCounts:
        return self._counts


def test_an_upgrade_counts_one_transition_from_the_previous_to_the_current_tier() -> None:
    observer, registry = _observer()
    _rank(observer, tier_changed("c1", classification("B"), classification("A")))
    moved = {pair: value for pair, value in _transitions(registry).items() if value}
    assert moved == {("B", "A"): 1.0}


def test_a_first_classification_counts_a_transition_from_none() -> None:
    observer, registry = _observer()
    _rank(observer, tier_changed("c1", None, classification("C")))
    assert _transitions(registry)[("none", "C")] == 1.0


def test_a_change_of_risk_alone_counts_no_transition() -> None:
    observer, registry = _observer()
    same_tier = tier_changed("c1", classification("B"), classification("B", risk=Risk.AT_RISK))
    _rank(observer, same_tier)
    assert set(_transitions(registry).values()) == {0.0}


def test_every_move_between_two_tiers_and_every_first_tier_is_exported_at_zero_from_start() -> None:
    _, registry = _observer()
    expected = {(source, to) for source in ("none", *TIERS) for to in TIERS if source != to}
    assert _transitions(registry) == dict.fromkeys(expected, 0.0)


def test_the_tier_series_made_at_start_use_the_policys_tier_names() -> None:
    # Policy-defined names (not A, B and C) label the series from the first scrape.
    _, registry = _observer(("premium", "marginal"))
    assert set(_transitions(registry)) == {
        ("none", "premium"),
        ("none", "marginal"),
        ("premium", "marginal"),
        ("marginal", "premium"),
    }
    for tier in ("premium", "marginal"):
        assert registry.get_sample_value("tierstream_monetary_by_tier", {"tier": tier}) == 0.0


def test_monetary_by_tier_is_the_sum_over_the_local_partitions_in_currency_units() -> None:
    observer, registry = _observer()
    observer.classifications(
        [  # type: ignore[list-item]
            _Ranked({"A": "900", "B": "0", "C": "150.50"}),
            _Ranked({"A": "100", "B": "40", "C": "0"}),
        ]
    )
    amounts = {
        tier: registry.get_sample_value("tierstream_monetary_by_tier", {"tier": tier})
        for tier in TIERS
    }
    assert amounts == {"A": 1000.0, "B": 40.0, "C": 150.5}
