"""A zero-amount purchase (free sample, full discount, replacement) is a purchase (DESIGN.md,
Events): it counts for frequency, recency, lifecycle and risk gaps and adds 0 to monetary, in
the shared measure step, the batch scorer and the stream's two stages alike."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from schemas import Lifecycle, OrderEvent, Risk
from schemas.tier_changed import TierChanged
from streams.data.csv_input import CsvReport, read_orders
from streams.data.history import FREE_PURCHASE_EVERY, ORDER_HEADER, generate_history, write_csv
from streams.pipeline.epochs import boundary_at_or_before
from streams.pipeline.local_pipeline import LocalPipeline
from tests.unit.builders import AS_OF, POLICY, days_before, purchase, state_of
from tests.unit.pipeline_runs import feed_interleaved
from tiering import measure, score_history

DAY_SECONDS = 86_400
PARTITIONS = 2


def test_zero_purchase_counts_for_frequency() -> None:
    result = measure(state_of([purchase(days_before(3), "0")]), POLICY, AS_OF)
    assert (result.frequency, result.active) == (1, True)


def test_zero_purchase_adds_nothing_to_monetary() -> None:
    events = [purchase(days_before(30), "250"), purchase(days_before(3), "0")]
    assert measure(state_of(events), POLICY, AS_OF).monetary == Decimal(250)


def test_zero_purchase_sets_recency_as_the_last_purchase() -> None:
    events = [purchase(days_before(30), "250"), purchase(days_before(3), "0")]
    assert measure(state_of(events), POLICY, AS_OF).recency_days == 3


def test_customer_whose_first_purchase_is_free_is_new() -> None:
    result = measure(state_of([purchase(days_before(3), "0")]), POLICY, AS_OF)
    assert result.lifecycle is Lifecycle.NEW


def test_zero_purchase_is_one_of_the_inter_purchase_gaps() -> None:
    """Paid 100 days ago, free 40 days ago: two purchases, gap (100 - 40) / 1 = 60 days, so
    overdue only after max(30, 2 × 60) = 120 days: recency 40 is ok."""
    events = [purchase(days_before(100), "250"), purchase(days_before(40), "0")]
    result = measure(state_of(events), POLICY, AS_OF)
    assert (result.purchase_count, result.expected_gap_days) == (2, 60.0)
    assert result.risk is Risk.OK


def _free_sample_history() -> list[OrderEvent]:
    """'free' buys once, for 0; a few paying customers around it."""
    start = datetime(2026, 3, 2, 9, tzinfo=UTC)
    events = [
        purchase(start + timedelta(days=day, hours=index), str(50 * (index + 1)), customer=name)
        for day in range(0, 20, 4)
        for index, name in enumerate(("p1", "p2", "p3", "p4"))
    ]
    events.append(purchase(start + timedelta(days=9, hours=5), "0", customer="free"))
    events.sort(key=lambda event: event.occurred_at)
    return events


def _last_change(pipeline: LocalPipeline, customer_id: str) -> TierChanged:
    changes = [event for event in pipeline.emitted if event.customer_id == customer_id]
    assert changes, f"no TierChanged for {customer_id}"
    return changes[-1]


def test_stream_gives_a_free_only_customer_the_batch_frequency_and_monetary() -> None:
    events = _free_sample_history()
    final = boundary_at_or_before(events[-1].occurred_at, DAY_SECONDS) + timedelta(days=1)
    pipeline = LocalPipeline(POLICY, PARTITIONS, DAY_SECONDS)
    feed_interleaved(pipeline, PARTITIONS, list(events), "round-robin", final)
    batch = score_history(events, [], POLICY, final)
    expected = next(e for e in batch.evaluations if e.customer_id == "free")

    streamed = _last_change(pipeline, "free")
    assert (streamed.metrics.frequency, streamed.metrics.monetary) == (1, Decimal(0))
    assert (streamed.metrics.frequency, streamed.metrics.monetary) == (
        expected.metrics.frequency,
        expected.metrics.monetary,
    )


def test_stream_classifies_a_free_only_customer_as_the_batch_does() -> None:
    events = _free_sample_history()
    final = boundary_at_or_before(events[-1].occurred_at, DAY_SECONDS) + timedelta(days=1)
    pipeline = LocalPipeline(POLICY, PARTITIONS, DAY_SECONDS)
    feed_interleaved(pipeline, PARTITIONS, list(events), "round-robin", final)
    batch = score_history(events, [], POLICY, final)
    expected = next(e for e in batch.evaluations if e.customer_id == "free")
    assert pipeline.classification("free") == expected.classification


def test_generated_messy_history_holds_free_purchases_that_read_as_events(tmp_path: Path) -> None:
    """The demo, benchmarks and agreement tests feed these histories: they must exercise
    free purchases, each of which reads as a usable purchase event."""
    orders = 2_000
    history = generate_history(100, orders, seed=5)
    path = write_csv(tmp_path / "orders.csv", ORDER_HEADER, history.orders)
    report = CsvReport(path)
    free = {
        event.order_id
        for event in read_orders(path, report)
        if event.kind.value == "purchase" and event.amount == 0
    }
    assert len(free) == orders // FREE_PURCHASE_EVERY
