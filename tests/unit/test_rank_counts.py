"""The ranker's classification counts (the worker's customer and revenue-share gauges) stay
equal to a scan of the current classifications, across boundaries and a restart."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

from schemas import Lifecycle, Risk
from streams.data.csv_input import CsvReport, read_orders
from streams.data.history import ORDER_HEADER, generate_history, write_csv
from streams.pipeline.epochs import boundary_at_or_before
from streams.pipeline.local_pipeline import LocalPipeline
from tests.unit.builders import AS_OF, POLICY, days_before, purchase

DAY_SECONDS = 86_400
PARTITIONS = 2


def _scan(pipeline: LocalPipeline, customers: set[str], partition: int) -> Counter[object]:
    counted: Counter[object] = Counter()
    for customer in customers:
        if pipeline.partition_of(customer) != partition:
            continue
        classification = pipeline.classification(customer)
        assert classification is not None
        counted.update([classification.tier, classification.risk, classification.lifecycle])
    return counted


def _as_counter(pipeline: LocalPipeline, partition: int) -> Counter[object]:
    counts = pipeline.counts(partition)
    counted: Counter[object] = Counter()
    for mapping in (counts.tiers, counts.risks, counts.lifecycles):
        counted.update({key: value for key, value in mapping.items() if value})
    return counted


def test_counts_equal_a_scan_of_the_classifications_across_boundaries_and_a_restart(
    tmp_path: Path,
) -> None:
    generated = generate_history(120, 1_500, seed=3, span_days=400)
    orders = write_csv(tmp_path / "orders.csv", ORDER_HEADER, generated.orders)
    events = sorted(read_orders(orders, CsvReport(orders)), key=lambda e: e.occurred_at)
    pipeline = LocalPipeline(POLICY, PARTITIONS, DAY_SECONDS)
    seen: set[str] = set()
    checked = 0
    for number, event in enumerate(events):
        pipeline.feed(event)
        seen.add(event.customer_id)
        if number % 250 == 249:
            classified = {c for c in seen if pipeline.classification(c) is not None}
            for partition in range(PARTITIONS):
                assert _as_counter(pipeline, partition) == _scan(pipeline, classified, partition)
                checked += 1
        if number == len(events) // 2:
            pipeline.restart()
    final = boundary_at_or_before(events[-1].occurred_at, DAY_SECONDS) + timedelta(days=1)
    for partition in range(PARTITIONS):
        pipeline.watermark(partition, final + timedelta(microseconds=1))
    for partition in range(PARTITIONS):
        assert _as_counter(pipeline, partition) == _scan(pipeline, seen, partition)
        assert sum(pipeline.counts(partition).tiers.values()) > 0
    assert checked > 4


def test_monetary_per_tier_is_the_sum_of_each_tiers_window_monetary() -> None:
    """Hand case, one partition: BIG spends 900, SMALL 100 + 50 in the window, OLD only
    before it. With 2 active customers BIG has p = 0 (A) and SMALL p = 1/2 (C); OLD is
    inactive (C, monetary 0). So A holds 900 and C holds 150, exactly."""
    pipeline = LocalPipeline(POLICY, 1, DAY_SECONDS)
    events = sorted(
        [
            purchase(days_before(400), "5000", customer="OLD"),
            purchase(days_before(30), "900", customer="BIG"),
            purchase(days_before(20), "100", customer="SMALL"),
            purchase(days_before(10), "50", customer="SMALL"),
        ],
        key=lambda event: event.occurred_at,
    )
    for event in events:
        pipeline.feed(event)
    pipeline.watermark(0, AS_OF + timedelta(days=1))
    counts = pipeline.counts(0)
    assert counts.tiers == {"A": 1, "B": 0, "C": 2}
    assert counts.monetary_by_tier == {
        "A": Decimal("900"),
        "B": Decimal("0"),
        "C": Decimal("150"),
    }
    assert counts.risks[Risk.CHURNED] == 1
    assert counts.lifecycles[Lifecycle.CHURNED] == 1
    assert set(counts.lifecycles) == set(Lifecycle)
