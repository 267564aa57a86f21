"""Ranks within a profile dimension in the stream (`rank_within: region`): the in-process
stages rank each customer among the active customers of its region, as the batch fold does."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from schemas import FeedbackEvent, OrderEvent
from schemas.profile import ProfileDimensions
from streams.data.csv_input import CsvReport, read_feedback, read_orders
from streams.data.history import FEEDBACK_HEADER, ORDER_HEADER, generate_history, write_csv
from streams.pipeline.epochs import boundary_at_or_before
from streams.pipeline.headers import Watermark
from streams.pipeline.local_pipeline import LocalPipeline
from streams.pipeline.partition import MeasurePipeline
from streams.pipeline.ranks import RankSummary, summarize
from streams.pipeline.records import BatchResult, InputRecord
from tests.unit.builders import POLICY, REGIONS, purchase, regional_profiles
from tests.unit.pipeline_runs import feed_interleaved, held_tiers_if_equal_to_batch
from tests.unit.test_partition_pipeline import TOPICS, DictStore
from tiering import score_history
from tiering.measure import measure, measurement_from_json, measurement_to_json
from tiering.state import CustomerState

DAY_SECONDS = 86_400
PARTITIONS = 3
BY_REGION = POLICY.model_copy(update={"rank_within": "region"})

Event = OrderEvent | FeedbackEvent


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> list[Event]:
    directory = tmp_path_factory.mktemp("regional-history")
    generated = generate_history(300, 5_000, seed=23, span_days=700)
    orders = write_csv(directory / "orders.csv", ORDER_HEADER, generated.orders)
    feedback = write_csv(directory / "feedback.csv", FEEDBACK_HEADER, generated.feedback)
    events: list[Event] = [
        *read_orders(orders, CsvReport(orders)),
        *read_feedback(feedback, CsvReport(feedback)),
    ]
    events.sort(key=lambda event: event.occurred_at)
    return events


def test_stream_ranks_within_regions_as_the_batch_fold_does_at_the_final_boundary(
    history: list[Event],
) -> None:
    profiles = regional_profiles({event.customer_id for event in history})
    assert {p.region for p in profiles.values()} == {*REGIONS, None}
    pipeline = LocalPipeline(BY_REGION, PARTITIONS, DAY_SECONDS, profiles=profiles.get)
    final = boundary_at_or_before(history[-1].occurred_at, DAY_SECONDS) + timedelta(days=1)
    feed_interleaved(pipeline, PARTITIONS, history, "round-robin", final)
    batch = score_history(
        [e for e in history if isinstance(e, OrderEvent)],
        [e for e in history if isinstance(e, FeedbackEvent)],
        BY_REGION,
        final,
        profiles=profiles,
    )
    everyone = score_history(
        [e for e in history if isinstance(e, OrderEvent)],
        [e for e in history if isinstance(e, FeedbackEvent)],
        POLICY,
        final,
    )
    held = held_tiers_if_equal_to_batch(pipeline, batch)
    assert held < len(batch.evaluations) * 0.05
    # Ranking within regions changes classes: the comparison above is not the global one.
    regional = {e.customer_id: e.classification.abc_class for e in batch.evaluations}
    assert sum(regional[e.customer_id] != e.classification.abc_class for e in everyone.evaluations)


def test_restoring_both_stages_under_rank_within_changes_no_event(
    history: list[Event],
) -> None:
    """The groups live in the checkpoint records (the measurements carry them), so a
    restarted pipeline ranks every customer in the same group as an uninterrupted one.
    The first half of the history: two restarts in it are as telling as in the whole."""
    history = history[: len(history) // 2]
    profiles = regional_profiles({event.customer_id for event in history})
    final = boundary_at_or_before(history[-1].occurred_at, DAY_SECONDS) + timedelta(days=1)
    uninterrupted = LocalPipeline(BY_REGION, PARTITIONS, DAY_SECONDS, profiles=profiles.get)
    restarted = LocalPipeline(BY_REGION, PARTITIONS, DAY_SECONDS, profiles=profiles.get)
    restart_at = {len(history) // 3, 2 * len(history) // 3}
    for position, event in enumerate(history):
        if position in restart_at:
            restarted.restart()
        uninterrupted.feed(event)
        restarted.feed(event)
    for pipeline in (uninterrupted, restarted):
        for partition in range(PARTITIONS):
            pipeline.watermark(partition, final + timedelta(microseconds=1))

    assert [c.event_id for c in restarted.emitted] == [c.event_id for c in uninterrupted.emitted]


def test_a_customer_moving_region_is_ranked_in_its_new_region_from_its_next_measurement() -> None:
    """'mover' (100) starts in emea beside 'big' (1,000): B or C there. Moved to apac, where
    only 'small' (10) buys, it is ranked A from the boundary after its next purchase."""
    start = datetime(2026, 1, 5, 9, tzinfo=UTC)
    regions = {"big": "emea", "mover": "emea", "small": "apac"}

    def profile(customer_id: str) -> ProfileDimensions | None:
        return ProfileDimensions(region=regions[customer_id])

    pipeline = LocalPipeline(BY_REGION, 2, DAY_SECONDS, profiles=profile)
    pipeline.feed(purchase(start, "1000", customer="big"))
    pipeline.feed(purchase(start, "100", customer="mover"))
    pipeline.feed(purchase(start, "10", customer="small"))
    for partition in range(2):
        pipeline.watermark(partition, start + timedelta(days=1))
    before = pipeline.classification("mover")
    assert before is not None and before.abc_class != "A"

    regions["mover"] = "apac"
    pipeline.feed(purchase(start + timedelta(days=2), "1", customer="mover"))
    for partition in range(2):
        pipeline.watermark(partition, start + timedelta(days=4))
    after = pipeline.classification("mover")
    assert after is not None and after.abc_class == "A"
    small = pipeline.classification("small")
    assert small is not None and small.abc_class != "A"


def test_a_profile_moving_a_customer_to_another_region_reranks_it_at_the_next_boundary() -> None:
    """As above, but 'mover' buys nothing more: the stored profile alone (as the worker's
    customers agent applies it) moves it to apac at the next boundary stream time passes."""
    start = datetime(2026, 1, 5, 9, tzinfo=UTC)
    regions = {"big": "emea", "mover": "emea", "small": "apac"}

    def profile(customer_id: str) -> ProfileDimensions | None:
        return ProfileDimensions(region=regions[customer_id])

    pipeline = LocalPipeline(BY_REGION, 2, DAY_SECONDS, profiles=profile)
    for customer, amount in (("big", "1000"), ("mover", "100"), ("small", "10")):
        pipeline.feed(purchase(start, amount, customer=customer))
    for partition in range(2):
        pipeline.watermark(partition, start + timedelta(days=1))
    first = len(pipeline.emitted)

    regions["mover"] = "apac"
    pipeline.profile_changed("mover")
    for partition in range(2):
        pipeline.watermark(partition, start + timedelta(days=2))
    moves = [c for c in pipeline.emitted[first:] if c.customer_id == "mover"]
    assert [(c.occurred_at, c.current.abc_class) for c in moves] == [
        (boundary_at_or_before(start, DAY_SECONDS) + timedelta(days=2), "A")
    ]


def test_summaries_and_measurements_without_rank_within_encode_as_before() -> None:
    summary = summarize(0, datetime(2026, 1, 5, tzinfo=UTC), {"monetary": [1.0]})
    assert "groups" not in summary.model_dump_json()
    measured = measure(CustomerState("c1"), POLICY, datetime(2026, 1, 5, tzinfo=UTC))
    assert b"group" not in measurement_to_json(measured)


def test_group_sketches_and_measurement_groups_survive_their_wire_formats() -> None:
    as_of = datetime(2026, 1, 5, tzinfo=UTC)
    summary = summarize(
        0,
        as_of,
        {"monetary": [1.0, 2.0, 3.0]},
        groups={None: {"monetary": [1.0]}, "emea": {"monetary": [2.0, 3.0]}},
    )
    decoded = RankSummary.model_validate_json(summary.model_dump_json())
    assert [(g.group, g.active_count) for g in decoded.groups or ()] == [(None, 1), ("emea", 2)]
    measured = replace(measure(CustomerState("c1"), BY_REGION, as_of), group="emea")
    assert measurement_from_json(measurement_to_json(measured)) == measured


def test_a_regrouped_customer_stays_marked_for_the_next_close_across_a_restart() -> None:
    """Stage 1's regroup writes the customer's `measured` record dirty: a pipeline rebuilt
    from the tables before the next close still measures it there, in its new group."""
    start = datetime(2026, 1, 5, 9, tzinfo=UTC)
    regions = {"mover": "emea"}
    groups = lambda customer_id: regions.get(customer_id)  # noqa: E731 - a table lookup
    store = DictStore()
    pipeline = MeasurePipeline(0, BY_REGION, TOPICS, DAY_SECONDS, store, groups=groups)
    order = purchase(start, "100", customer="mover")
    records = [
        InputRecord(TOPICS.orders, 0, 0, b"mover", order.model_dump_json().encode()),
        _mark(TOPICS.orders, start + timedelta(days=1), 1),
        _mark(TOPICS.feedback, start + timedelta(days=1), 0),
    ]
    store.commit(pipeline.process(records, start))

    regions["mover"] = "apac"
    writes = pipeline.regroup("mover")
    assert pipeline.regroup("unknown") == {}
    store.commit(BatchResult((), writes, {}))
    restarted = MeasurePipeline(0, BY_REGION, TOPICS, DAY_SECONDS, store, groups=groups)
    later = [
        _mark(TOPICS.orders, start + timedelta(days=2), 2),
        _mark(TOPICS.feedback, start + timedelta(days=2), 1),
    ]
    outputs = restarted.process(later, start).outputs
    measured = [o.value for o in outputs if o.topic == TOPICS.measurements and o.key == b"mover"]
    assert len(measured) == 1 and b'"group":"apac"' in measured[0]


def _mark(topic: str, instant: datetime, offset: int) -> InputRecord:
    mark = Watermark(stream_time=instant).model_dump_json().encode()
    return InputRecord(topic, 0, offset, None, mark, tuple(Watermark.headers()))


def test_a_policy_reading_no_profile_reads_it_only_for_the_changes_it_emits(
    history: list[Event],
) -> None:
    """The profile rides on TierChanged.profile; under the default policy nothing else needs
    it, so a boundary's re-evaluations without a change do not read the profiles table."""
    profiles = regional_profiles({event.customer_id for event in history})
    reads: list[str] = []

    def counted(customer_id: str) -> ProfileDimensions | None:
        reads.append(customer_id)
        return profiles.get(customer_id)

    pipeline = LocalPipeline(POLICY, PARTITIONS, DAY_SECONDS, profiles=counted)
    final = boundary_at_or_before(history[-1].occurred_at, DAY_SECONDS) + timedelta(days=1)
    feed_interleaved(pipeline, PARTITIONS, history[: len(history) // 4], "round-robin", final)
    assert len(pipeline.emitted) > 0
    assert len(reads) == len(pipeline.emitted)
    assert all(e.profile == profiles.get(e.customer_id) for e in pipeline.emitted)
