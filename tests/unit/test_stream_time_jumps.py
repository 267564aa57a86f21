"""Jumps of stream time with short epochs: a partition closes only the boundaries at which
something of its own can change, so a long gap costs nothing per elapsed epoch."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta

import pytest

from schemas import FeedbackEvent, OrderEvent
from streams.data.csv_input import CsvReport, read_feedback, read_orders
from streams.data.history import FEEDBACK_HEADER, ORDER_HEADER, generate_history, write_csv
from streams.pipeline.epochs import boundary_at_or_after, boundary_before
from streams.pipeline.headers import Watermark
from streams.pipeline.local_pipeline import LocalPipeline
from streams.pipeline.measure_stage import PartitionMeasurer
from streams.pipeline.partition import MeasurePipeline
from streams.pipeline.rank_schedule import BoundaryEnd, ClosedThroughMark
from streams.pipeline.ranks import ClosedThrough, RankSummary, parse_ranks_record
from streams.pipeline.records import InputRecord, StageOneTopics, parse_measurements_record
from tests.unit.builders import POLICY, purchase
from tests.unit.pipeline_runs import feed_interleaved
from tests.unit.test_partition_pipeline import NOW, DictStore
from tiering import CustomerState, score_history

MINUTE = 60
PARTITIONS = 3
TOPICS = StageOneTopics("orders", "feedback", "clock", "measurements", "ranks", "dlq")
Event = OrderEvent | FeedbackEvent


def test_a_seven_day_gap_with_minute_epochs_ranks_the_purchase_after_it() -> None:
    """10,080 epochs pass between the two purchases; the second is ranked at the minute
    boundary after it."""
    pipeline = LocalPipeline(POLICY, 1, MINUTE)
    first = datetime(2026, 1, 1, 10, 0, 30, tzinfo=UTC)
    second = datetime(2026, 1, 8, 10, 0, 30, tzinfo=UTC)
    pipeline.feed(purchase(first, "100", customer="c1"))
    pipeline.feed(purchase(second, "500", customer="c2"))
    pipeline.watermark(0, second + timedelta(minutes=1))
    ranked = {(change.customer_id, change.occurred_at) for change in pipeline.emitted}
    assert ("c1", boundary_at_or_after(first, MINUTE)) in ranked
    assert ("c2", boundary_at_or_after(second, MINUTE)) in ranked


def _measurer_with_purchases(
    instants: list[datetime],
) -> tuple[PartitionMeasurer, dict[str, CustomerState]]:
    measurer = PartitionMeasurer(0, POLICY, MINUTE)
    states: dict[str, CustomerState] = {}
    for instant in instants:
        measurer.advance(instant, states.get)
        state, _ = measurer.apply(states.get("c1"), purchase(instant, customer="c1"))
        states["c1"] = state
    return measurer, states


def test_a_two_year_jump_closes_only_boundaries_where_a_customer_changes() -> None:
    """Two purchases a year apart, then stream time jumps two years (about a million minute
    epochs): each closed boundary measures someone, so the closes are bounded by the
    events plus the due instants (window exits, lifecycle half, `new` ending, overdue)."""
    start = datetime(2024, 1, 1, 12, tzinfo=UTC)
    measurer, states = _measurer_with_purchases([start, start + timedelta(days=365)])
    advance = measurer.advance(start + timedelta(days=365 * 3), states.get)
    assert all(sum(epoch.causes.values()) >= 1 for epoch in advance.closed)
    assert advance.closed[0].causes == {"event": 1, "due": 0}
    dues = sum(epoch.causes["due"] for epoch in advance.closed)
    assert len(advance.closed) <= 1 + dues < 20
    assert advance.skipped_through == boundary_before(start + timedelta(days=365 * 3), MINUTE)
    assert measurer.clock.closed_through == advance.skipped_through


def test_a_purchase_leaving_the_window_during_a_jump_empties_the_summary_from_then_on() -> None:
    """The window exit (purchase + window_days) is a due instant: it is closed inside the
    jump, and its summary has no active customer."""
    start = datetime(2024, 1, 1, 12, tzinfo=UTC)
    measurer, states = _measurer_with_purchases([start])
    advance = measurer.advance(start + timedelta(days=2 * POLICY.window_days), states.get)
    exit_boundary = boundary_at_or_after(start + timedelta(days=POLICY.window_days), MINUTE)
    closes = {epoch.boundary: epoch for epoch in advance.closed}
    assert closes[exit_boundary].summary.active_count == 0
    assert all(
        epoch.summary.active_count == 1
        for boundary, epoch in closes.items()
        if boundary < exit_boundary
    )


def test_the_batch_stage_publishes_a_jump_as_one_close_and_a_progress_marker_on_both_topics() -> (
    None
):
    """A purchase, then a wall-clock tick seven days later, with minute epochs: stage 1
    sends the purchase's measurement, its end marker and summary, then `closed through`
    (the last minute before the tick) on the measurements and the ranks topics."""
    pipeline = MeasurePipeline(0, POLICY, TOPICS, MINUTE, DictStore())
    at = datetime(2026, 1, 1, 10, 0, 30, tzinfo=UTC)
    tick = at + timedelta(days=7)
    event = purchase(at, customer="c1")
    mark = Watermark(stream_time=tick).model_dump_json().encode()
    feedback_mark = Watermark(stream_time=at).model_dump_json().encode()
    headers = tuple(Watermark.headers())
    result = pipeline.process(
        [
            InputRecord("feedback", 0, 0, None, feedback_mark, headers),
            InputRecord("orders", 0, 0, b"c1", event.model_dump_json().encode()),
            InputRecord("clock", 0, 0, None, mark, headers),
        ],
        NOW,
    )
    boundary = boundary_at_or_after(at, MINUTE)
    through = boundary_before(tick, MINUTE)
    measurements = [
        parse_measurements_record(o.value) for o in result.outputs if o.topic == "measurements"
    ]
    ranks = [parse_ranks_record(o.value) for o in result.outputs if o.topic == "ranks"]
    assert [type(record) for record in measurements] == [tuple, BoundaryEnd, ClosedThroughMark]
    assert measurements[1] == BoundaryEnd(boundary)
    assert measurements[2] == ClosedThroughMark(through)
    assert [type(record) for record in ranks] == [ClosedThrough, RankSummary, ClosedThrough]
    assert ranks[1].partition == 0 and isinstance(ranks[1], RankSummary)
    assert ranks[1].as_of == boundary
    assert ranks[2] == ClosedThrough(partition=0, closed_through=through)


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> list[Event]:
    directory = tmp_path_factory.mktemp("jump-history")
    generated = generate_history(120, 1_200, seed=34, span_days=730)
    orders = write_csv(directory / "orders.csv", ORDER_HEADER, generated.orders)
    feedback = write_csv(directory / "feedback.csv", FEEDBACK_HEADER, generated.feedback)
    events: list[Event] = [
        *read_orders(orders, CsvReport(orders)),
        *read_feedback(feedback, CsvReport(feedback)),
    ]
    events.sort(key=lambda event: event.occurred_at)
    return events


def _run(events: list[Event], interleave: str) -> tuple[LocalPipeline, datetime]:
    """Each partition in event-time order, partitions interleaved as asked; minute epochs."""
    pipeline = LocalPipeline(POLICY, PARTITIONS, MINUTE)
    final = boundary_at_or_after(events[-1].occurred_at, MINUTE)
    feed_interleaved(pipeline, PARTITIONS, events, interleave, final)
    return pipeline, final


@pytest.fixture(scope="module")
def two_year_run(history: list[Event]) -> tuple[LocalPipeline, datetime]:
    return _run(history, "round-robin")


def test_two_years_with_minute_epochs_agree_with_the_batch_scorer_at_the_final_boundary(
    history: list[Event], two_year_run: tuple[LocalPipeline, datetime]
) -> None:
    pipeline, final = two_year_run
    batch = score_history(
        [e for e in history if isinstance(e, OrderEvent)],
        [e for e in history if isinstance(e, FeedbackEvent)],
        POLICY,
        final,
    )
    agreeing = 0
    for evaluation in batch.evaluations:
        streamed = pipeline.classification(evaluation.customer_id)
        assert streamed is not None, evaluation.customer_id
        expected = evaluation.classification
        if streamed.tier != streamed.abc_class:
            # A tier hold (hysteresis): the batch has no history to hold.
            streamed = streamed.model_copy(update={"tier": expected.tier})
        agreeing += streamed == expected
    assert agreeing >= 0.995 * len(batch.evaluations)


def test_two_years_with_minute_epochs_close_far_fewer_boundaries_than_elapsed(
    history: list[Event], two_year_run: tuple[LocalPipeline, datetime]
) -> None:
    """About a million minute boundaries elapse; each partition closes at most one per
    event and one per due measurement."""
    pipeline, _ = two_year_run
    for partition in range(PARTITIONS):
        events = sum(1 for e in history if pipeline.partition_of(e.customer_id) == partition)
        closed = pipeline.closed_boundaries[partition]
        assert len(closed) == len(set(closed))
        assert len(closed) <= events + pipeline.due_measurements[partition]


def test_replaying_two_years_with_minute_epochs_in_another_interleaving_emits_the_same_events(
    history: list[Event], two_year_run: tuple[LocalPipeline, datetime]
) -> None:
    first, _ = two_year_run
    second, _ = _run(history, "partition-major")

    def per_customer(pipeline: LocalPipeline) -> dict[str, list[str]]:
        sequences: dict[str, list[str]] = defaultdict(list)
        for change in pipeline.emitted:
            sequences[change.customer_id].append(change.event_id)
        return dict(sequences)

    assert per_customer(first) == per_customer(second)
    assert len(first.emitted) > len(history) / 20
