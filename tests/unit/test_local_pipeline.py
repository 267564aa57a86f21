"""The stream's two stages, wired in-process, agree with the batch scorer and are deterministic."""

from __future__ import annotations

import itertools
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from schemas import Classification, FeedbackEvent, OrderEvent, Risk
from streams.data.csv_input import CsvReport, read_feedback, read_orders
from streams.data.history import FEEDBACK_HEADER, ORDER_HEADER, generate_history, write_csv
from streams.pipeline.epochs import boundary_at_or_before
from streams.pipeline.local_pipeline import LocalPipeline
from tests.unit.builders import POLICY, purchase
from tests.unit.pipeline_runs import feed_interleaved, held_tiers_if_equal_to_batch
from tiering import load_policy, score_history

DAY_SECONDS = 86_400
# A four-layer value policy (seed 003's premium / developing / potential / marginal).
FOUR_LAYER_POLICY = Path(__file__).parents[2] / "examples" / "policies" / "value_layers.yaml"
PARTITIONS = 3


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> list[OrderEvent | FeedbackEvent]:
    directory = tmp_path_factory.mktemp("stream-history")
    generated = generate_history(300, 5_000, seed=21, span_days=700)
    orders = write_csv(directory / "orders.csv", ORDER_HEADER, generated.orders)
    feedback = write_csv(directory / "feedback.csv", FEEDBACK_HEADER, generated.feedback)
    events: list[OrderEvent | FeedbackEvent] = [
        *read_orders(orders, CsvReport(orders)),
        *read_feedback(feedback, CsvReport(feedback)),
    ]
    events.sort(key=lambda event: event.occurred_at)
    return events


def _run(
    events: list[OrderEvent | FeedbackEvent], interleave: str
) -> tuple[LocalPipeline, datetime]:
    """Feed events keeping each partition in event-time order, partitions interleaved as asked."""
    pipeline = LocalPipeline(POLICY, PARTITIONS, DAY_SECONDS)
    final = boundary_at_or_before(events[-1].occurred_at, DAY_SECONDS) + timedelta(days=1)
    feed_interleaved(pipeline, PARTITIONS, events, interleave, final)
    return pipeline, final


def test_stream_classification_equals_batch_at_the_final_boundary(
    history: list[OrderEvent | FeedbackEvent],
) -> None:
    pipeline, final = _run(history, "round-robin")
    batch = score_history(
        [e for e in history if isinstance(e, OrderEvent)],
        [e for e in history if isinstance(e, FeedbackEvent)],
        POLICY,
        final,
    )
    held = held_tiers_if_equal_to_batch(pipeline, batch)
    assert held < len(batch.evaluations) * 0.05


def test_replaying_the_same_history_in_another_interleaving_emits_the_same_events(
    history: list[OrderEvent | FeedbackEvent],
) -> None:
    first, _ = _run(history, "round-robin")
    second, _ = _run(history, "partition-major")

    def per_customer(pipeline: LocalPipeline) -> dict[str, list[str]]:
        sequences: dict[str, list[str]] = defaultdict(list)
        for event in pipeline.emitted:
            sequences[event.customer_id].append(event.event_id)
        return dict(sequences)

    assert per_customer(first) == per_customer(second)
    assert len(first.emitted) > len(history) / 20


def test_restoring_both_stages_from_their_checkpoints_changes_no_event(
    history: list[OrderEvent | FeedbackEvent],
) -> None:
    uninterrupted, final = _run(history, "round-robin")
    restarted = LocalPipeline(POLICY, PARTITIONS, DAY_SECONDS)
    restart_at = {len(history) // 5, len(history) // 2, 4 * len(history) // 5}
    for position, event in enumerate(history):
        if position in restart_at:
            restarted.restart()
        restarted.feed(event)
    for partition in range(PARTITIONS):
        restarted.watermark(partition, final + timedelta(microseconds=1))

    # Each partition's TierChanged topic partition holds the same events in the same order
    # (the two runs interleave partitions differently, so the merged lists need not agree).
    def per_partition(pipeline: LocalPipeline) -> dict[int, list[str]]:
        sequences: dict[int, list[str]] = defaultdict(list)
        for change in pipeline.emitted:
            sequences[pipeline.partition_of(change.customer_id)].append(change.event_id)
        return dict(sequences)

    assert per_partition(restarted) == per_partition(uninterrupted)


def _counted(classification: Classification) -> tuple[object, ...]:
    return tuple(getattr(classification, field.value) for field in POLICY.counted_changes)


def test_no_tier_changed_is_emitted_without_a_change(
    history: list[OrderEvent | FeedbackEvent],
) -> None:
    pipeline, _ = _run(history, "round-robin")
    for customer_id, events in itertools.groupby(
        sorted(pipeline.emitted, key=lambda e: e.customer_id), key=lambda e: e.customer_id
    ):
        # Uncounted updates (a score that leaves the segment as it is) emit nothing, so the
        # counted fields chain from one event to the next and always differ across an event.
        for earlier, later in itertools.pairwise(list(events)):
            assert later.previous is not None
            assert _counted(later.previous) == _counted(earlier.current), customer_id
            assert _counted(later.current) != _counted(later.previous), customer_id


def test_silent_customer_becomes_at_risk_by_stream_time_alone() -> None:
    """'quiet' buys every 10 days, then stops; only others' events move stream time on."""
    start = datetime(2026, 1, 1, 12, tzinfo=UTC)
    pipeline = LocalPipeline(POLICY, 2, DAY_SECONDS)
    for day in range(0, 60, 10):
        pipeline.feed(purchase(start + timedelta(days=day), customer="quiet"))
    last_quiet = start + timedelta(days=50)
    for day in range(50, 140):
        pipeline.feed(purchase(start + timedelta(days=day, hours=1), customer=f"busy{day % 5}"))
    for partition in range(2):
        pipeline.watermark(partition, start + timedelta(days=141))
    changes = [
        e for e in pipeline.emitted if e.customer_id == "quiet" and e.current.risk is Risk.AT_RISK
    ]
    assert changes, "quiet never became at_risk"
    # Gap 10 days → threshold max(30, 20) = 30: at_risk from the first boundary with recency 31.
    assert changes[0].occurred_at == boundary_at_or_before(
        last_quiet + timedelta(days=31), DAY_SECONDS
    ) + timedelta(days=1)
    assert any(reason.code == "risk.overdue" for reason in changes[0].reasons)


def test_a_partition_whose_first_record_is_a_watermark_does_not_hold_the_boundary_back() -> None:
    """As in the worker, a partition announces where its history starts: one with no events
    before the first boundary must not keep that boundary from being ranked."""
    pipeline = LocalPipeline(POLICY, 2, DAY_SECONDS)
    start = datetime(2026, 1, 5, 9, tzinfo=UTC)
    pipeline.feed(purchase(start, "100", customer="c1"))
    busy = pipeline.partition_of("c1")
    pipeline.watermark(busy, start + timedelta(days=1))
    assert pipeline.emitted == []  # the idle partition has not said where it starts
    pipeline.watermark(1 - busy, start + timedelta(days=1))
    assert [change.customer_id for change in pipeline.emitted] == ["c1"]


def test_under_a_four_layer_value_policy_the_stream_classifies_as_batch_does(
    history: list[OrderEvent | FeedbackEvent],
) -> None:
    """Every field but the tier equals batch's (rising stars included); tiers differ only
    where hysteresis holds a higher layer, which batch (no history) cannot."""
    policy = load_policy(FOUR_LAYER_POLICY)
    pipeline = LocalPipeline(policy, PARTITIONS, DAY_SECONDS)
    final = boundary_at_or_before(history[-1].occurred_at, DAY_SECONDS) + timedelta(days=1)
    feed_interleaved(pipeline, PARTITIONS, history, "round-robin", final)
    batch = score_history(
        [e for e in history if isinstance(e, OrderEvent)],
        [e for e in history if isinstance(e, FeedbackEvent)],
        policy,
        final,
    )
    streamed = {e.customer_id: pipeline.classification(e.customer_id) for e in batch.evaluations}
    expected = {e.customer_id: e.classification for e in batch.evaluations}
    assert {c.tier for c in expected.values()} <= set(policy.tier_names)
    assert len({c.tier for c in expected.values()}) == 4
    assert any(c.rising_star for c in expected.values())
    besides_tier = {
        customer: classification.model_copy(update={"tier": expected[customer].tier})
        for customer, classification in streamed.items()
        if classification is not None
    }
    assert besides_tier == expected
    # A held tier is always above the one the conditions give now.
    lower_than_held = [
        customer
        for customer, classification in streamed.items()
        if classification is not None
        and policy.tier_rank(classification.tier) > policy.tier_rank(expected[customer].tier)
    ]
    assert lower_than_held == []
