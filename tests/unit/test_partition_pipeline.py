"""Stage 1 as a pure batch function (streams.pipeline.partition): raw records in batches,
with crashes before and after commits, gives what the in-process pipeline gives."""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

import pytest

from schemas import FeedbackEvent, OrderEvent
from schemas.tier_changed import TierChanged
from streams.data.csv_input import CsvReport, read_feedback, read_orders
from streams.data.history import FEEDBACK_HEADER, ORDER_HEADER, generate_history, write_csv
from streams.pipeline.barrier import RankBarrier
from streams.pipeline.epochs import boundary_at_or_before
from streams.pipeline.headers import Watermark
from streams.pipeline.local_pipeline import LocalPipeline
from streams.pipeline.partition import MeasurePipeline
from streams.pipeline.rank_schedule import BoundaryEnd, PartitionRankSchedule
from streams.pipeline.rank_stage import PartitionRanker
from streams.pipeline.ranks import parse_ranks_record
from streams.pipeline.records import (
    BatchResult,
    InputRecord,
    Outgoing,
    StageOneTopics,
    Tables,
    parse_measurements_record,
)
from tests.unit.builders import POLICY, purchase
from tiering import Measurement

DAY_SECONDS = 86_400
PARTITIONS = 2
TOPICS = StageOneTopics("orders", "feedback", "clock", "measurements", "ranks", "dlq")
NOW = datetime(2030, 1, 1, tzinfo=UTC)

Event = OrderEvent | FeedbackEvent


class DictStore:
    """The tables as of the last commit: what a restarted worker recovers."""

    def __init__(self) -> None:
        self.tables: dict[str, dict[bytes, bytes]] = defaultdict(dict)

    def get(self, table: str, key: bytes) -> bytes | None:
        return self.tables[table].get(key)

    def items(self, table: str) -> Iterable[tuple[bytes, bytes]]:
        return list(self.tables[table].items())

    def commit(self, result: BatchResult) -> None:
        for table, entries in result.writes.items():
            for key, value in entries.items():
                if value is None:
                    self.tables[table].pop(key, None)
                else:
                    self.tables[table][key] = value


@pytest.fixture(scope="module")
def events(tmp_path_factory: pytest.TempPathFactory) -> list[Event]:
    directory = tmp_path_factory.mktemp("partition-history")
    generated = generate_history(80, 1_200, seed=5, span_days=400)
    orders = write_csv(directory / "orders.csv", ORDER_HEADER, generated.orders)
    feedback = write_csv(directory / "feedback.csv", FEEDBACK_HEADER, generated.feedback)
    return [
        *read_orders(orders, CsvReport(orders)),
        *read_feedback(feedback, CsvReport(feedback)),
    ]


def _event_order(event: Event) -> tuple[datetime, int]:
    return (event.occurred_at, 0 if isinstance(event, OrderEvent) else 1)


def _final(events: list[Event]) -> datetime:
    last = max(event.occurred_at for event in events)
    return boundary_at_or_before(last, DAY_SECONDS) + timedelta(days=1, microseconds=1)


def _expected(events: list[Event]) -> list[TierChanged]:
    local = LocalPipeline(POLICY, PARTITIONS, DAY_SECONDS)
    for event in sorted(events, key=_event_order):
        local.feed(event)
    for partition in range(PARTITIONS):
        local.watermark(partition, _final(events))
    return local.emitted


def _records(events: list[Event], partition: int, rng: random.Random) -> list[InputRecord]:
    """The partition's two inputs as Kafka would hold them (each in event-time order), then
    delivered interleaved in random chunks, as Faust's fetches do."""
    local = LocalPipeline(POLICY, PARTITIONS, DAY_SECONDS)
    mine = sorted(
        (e for e in events if local.partition_of(e.customer_id) == partition), key=_event_order
    )
    per_topic: dict[str, list[InputRecord]] = {TOPICS.orders: [], TOPICS.feedback: []}
    for event in mine:
        topic = TOPICS.orders if isinstance(event, OrderEvent) else TOPICS.feedback
        records = per_topic[topic]
        value = event.model_dump_json().encode()
        records.append(
            InputRecord(topic, partition, len(records), event.customer_id.encode(), value)
        )
    mark = Watermark(stream_time=_final(events)).model_dump_json().encode()
    for topic, records in per_topic.items():
        records.append(
            InputRecord(topic, partition, len(records), None, mark, tuple(Watermark.headers()))
        )
    delivered: list[InputRecord] = []
    queues = [list(records) for records in per_topic.values()]
    while any(queues):
        queue = rng.choice([queue for queue in queues if queue])
        chunk = rng.randint(1, 40)
        delivered.extend(queue[:chunk])
        del queue[:chunk]
    return delivered


def _run_stage_one(
    events: list[Event], seed: int, crash_chance: float = 0.0
) -> dict[int, list[Outgoing]]:
    """Every partition's committed outputs, processed in random batches; with
    `crash_chance`, a batch is lost before its commit and the pipeline rebuilt from the
    store, re-reading from the committed offsets."""
    rng = random.Random(seed)
    sent: dict[int, list[Outgoing]] = {}
    for partition in range(PARTITIONS):
        store = DictStore()
        records = _records(events, partition, rng)
        pipeline = MeasurePipeline(partition, POLICY, TOPICS, DAY_SECONDS, store)
        committed, outputs = 0, []
        while committed < len(records):
            batch = records[committed : committed + rng.randint(1, 120)]
            result = pipeline.process(batch, NOW)
            if rng.random() < crash_chance:
                pipeline = MeasurePipeline(partition, POLICY, TOPICS, DAY_SECONDS, store)
                continue
            store.commit(result)
            outputs.extend(result.outputs)
            committed += len(batch)
            if rng.random() < crash_chance:
                pipeline = MeasurePipeline(partition, POLICY, TOPICS, DAY_SECONDS, store)
        sent[partition] = outputs
    return sent


def _rank(sent: dict[int, list[Outgoing]]) -> list[TierChanged]:
    """Stage 2 over the measurements and summaries stage 1 sent, as LocalPipeline ranks."""
    barrier = RankBarrier(PARTITIONS)
    schedules = [PartitionRankSchedule(PartitionRanker(POLICY)) for _ in range(PARTITIONS)]
    for partition, outputs in sent.items():
        collected: list[Measurement] = []
        for output in outputs:
            if output.topic == TOPICS.ranks:
                barrier.add(parse_ranks_record(output.value))
            elif output.topic == TOPICS.measurements:
                record = parse_measurements_record(output.value)
                if isinstance(record, tuple):
                    collected.append(record[1])
                elif isinstance(record, BoundaryEnd):
                    schedules[partition].push(BoundaryEnd(record.boundary, tuple(collected)))
                    collected = []
                else:
                    schedules[partition].push(record)
    barrier.release()
    emitted: list[TierChanged] = []
    for schedule in schedules:
        for _, changes in schedule.rank_ready(barrier):
            emitted.extend(changes)
    return emitted


def _per_customer(changes: list[TierChanged]) -> dict[str, list[str]]:
    grouped: dict[str, list[str]] = defaultdict(list)
    for change in changes:
        grouped[change.customer_id].append(change.event_id)
    return dict(grouped)


def test_random_batches_of_raw_records_emit_what_the_in_process_pipeline_emits(
    events: list[Event],
) -> None:
    expected = _expected(events)
    assert len(expected) > 100
    assert _per_customer(_rank(_run_stage_one(events, seed=1))) == _per_customer(expected)


def test_crashes_before_and_after_commits_change_no_tier_change(events: list[Event]) -> None:
    expected = _expected(events)
    emitted = _rank(_run_stage_one(events, seed=2, crash_chance=0.2))
    assert _per_customer(emitted) == _per_customer(expected)


def _order_record(offset: int, customer: str, at: datetime, topic: str = "orders") -> InputRecord:
    event = purchase(at, "10", customer=customer, order_id=f"o-{offset}")
    return InputRecord(topic, 0, offset, customer.encode(), event.model_dump_json().encode())


def test_an_event_ahead_of_the_other_input_is_held_in_the_held_table_until_released() -> None:
    store = DictStore()
    pipeline = MeasurePipeline(0, POLICY, TOPICS, DAY_SECONDS, store)
    at = datetime(2026, 3, 1, 12, tzinfo=UTC)
    first = pipeline.process([_order_record(0, "C1", at)], NOW)
    store.commit(first)
    # Feedback has said nothing: the order waits, and is committed as held state.
    assert first.committable == {"orders": 1}
    assert len(store.tables[Tables.HELD]) == 1
    assert b"C1" not in store.tables[Tables.STATES]
    # A restart finds it in the table; the feedback watermark releases it.
    restarted = MeasurePipeline(0, POLICY, TOPICS, DAY_SECONDS, store)
    mark = Watermark(stream_time=at + timedelta(days=2)).model_dump_json().encode()
    second = restarted.process(
        [InputRecord("feedback", 0, 0, None, mark, tuple(Watermark.headers()))], NOW
    )
    store.commit(second)
    assert store.tables[Tables.HELD] == {}
    assert b"C1" in store.tables[Tables.STATES]


def test_a_malformed_record_becomes_a_dead_letter_and_is_committed_past() -> None:
    pipeline = MeasurePipeline(0, POLICY, TOPICS, DAY_SECONDS, DictStore())
    bad = InputRecord("orders", 0, 7, b"C1", b'{"amount": ')
    result = pipeline.process([bad], NOW)
    assert [output.topic for output in result.outputs] == ["dlq"]
    assert result.committable == {"orders": 8}
    assert result.outcomes[("orders", "invalid")] == 1


def test_a_customer_with_many_events_in_a_batch_is_written_once() -> None:
    pipeline = MeasurePipeline(0, POLICY, TOPICS, DAY_SECONDS, DictStore())
    start = datetime(2026, 3, 1, tzinfo=UTC)
    clock = Watermark(stream_time=start + timedelta(days=30)).model_dump_json().encode()
    batch = [
        InputRecord("clock", 0, 0, None, clock, tuple(Watermark.headers())),
        *(_order_record(i, "C1", start + timedelta(days=i)) for i in range(20)),
    ]
    result = pipeline.process(batch, NOW)
    assert list(result.writes[Tables.STATES]) == [b"C1"]
    assert result.outcomes[("orders", "applied")] == 20
