"""An unexpected error in stage 1 stops only its partition, at the failing record, visibly
(streams.worker.stage_one): the other partitions go on, nothing of the stopped partition
from that record on is acknowledged, and the metric names the partition."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from prometheus_client import CollectorRegistry

from streams.metrics import WorkerMetrics
from streams.pipeline.headers import Watermark
from streams.pipeline.ranks import PartitionStopped, parse_ranks_record
from streams.pipeline.records import StageOneTopics, Tables
from streams.worker.observe import WorkerObserver
from streams.worker.stage_one import FaustTables, StageOne
from tests.unit.builders import POLICY, purchase

TOPICS = StageOneTopics("orders", "feedback", "clock", "measurements", "ranks", "dlq")
START = datetime(2026, 3, 1, tzinfo=UTC)


@dataclass
class _Message:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...] = ()
    time_in: float | None = None


@dataclass
class _Event:
    """What StageOne reads of a Faust event: its message."""

    message: _Message


@dataclass
class _Sent:
    records: list[tuple[str, bytes | None, bytes, int]] = field(default_factory=list)

    async def __call__(self, topic: str, key: bytes | None, value: bytes, partition: int) -> None:
        self.records.append((topic, key, value, partition))


def _order(partition: int, offset: int, customer: str, day: int) -> _Event:
    event = purchase(START + timedelta(days=day), "10", customer=customer, order_id=f"o{offset}")
    value = event.model_dump_json().encode()
    return _Event(_Message("orders", partition, offset, customer.encode(), value))


def _feedback_ahead(partition: int) -> _Event:
    """A feedback watermark far ahead, so the merge releases orders as they come."""
    mark = Watermark(stream_time=START + timedelta(days=30)).model_dump_json().encode()
    return _Event(_Message("feedback", partition, 0, None, mark, tuple(Watermark.headers())))


def _stage_one(
    tables: dict[str, dict[bytes, bytes]], untransacted: _Sent | None = None
) -> tuple[StageOne, CollectorRegistry]:
    registry = CollectorRegistry()
    metrics = WorkerMetrics.create(registry)
    observer = WorkerObserver(metrics, ("orders", "feedback"), {})
    stage = StageOne(
        POLICY,
        TOPICS,
        86_400,
        FaustTables(tables),
        _Sent(),
        metrics,
        observer,
        lambda topic: topic,
        untransacted,
    )
    return stage, registry


def _stopped_gauge(registry: CollectorRegistry, partition: int) -> float | None:
    return registry.get_sample_value("tierstream_partitions_stopped", {"partition": str(partition)})


def _tables() -> dict[str, Any]:
    names = (Tables.STATES, Tables.DAYS, Tables.PROGRESS, Tables.MEASURED, Tables.HELD)
    return {name: {} for name in names}


async def test_a_corrupt_state_stops_its_partition_at_that_record_and_no_other() -> None:
    tables = _tables()
    tables[Tables.STATES][b"broken"] = b"{not json"
    stage, registry = _stage_one(tables)
    ahead = [_feedback_ahead(0), _feedback_ahead(1)]
    before = _order(0, 0, "fine-0", 0)
    failing = _order(0, 1, "broken", 0)
    after = _order(0, 2, "fine-0", 1)
    other = _order(1, 0, "fine-1", 0)

    acked = await stage.process([*ahead, before, failing, after, other])

    assert acked == [ahead[0], before, ahead[1], other]
    assert stage.stopped == {0: ("orders", 1)}
    assert _stopped_gauge(registry, 0) == 1
    assert _stopped_gauge(registry, 1) == 0


async def test_a_stop_is_announced_on_the_ranks_topic_outside_any_transaction() -> None:
    """So that no rank barrier waits for the stopped partition (streams.pipeline.barrier);
    the stopped partition commits nothing more that could carry it in a transaction."""
    tables = _tables()
    tables[Tables.STATES][b"broken"] = b"{not json"
    untransacted = _Sent()
    stage, _ = _stage_one(tables, untransacted)

    await stage.process([_feedback_ahead(0), _order(0, 5, "broken", 0)])

    [(topic, key, value, partition)] = untransacted.records
    assert (topic, key, partition) == ("ranks", b"0", 0)
    assert parse_ranks_record(value) == PartitionStopped(partition=0, topic="orders", offset=5)


async def test_a_revoked_partition_leaves_no_series() -> None:
    stage, registry = _stage_one(_tables())
    await stage.process([_feedback_ahead(0)])
    assert _stopped_gauge(registry, 0) == 0

    stage.forget([0])

    assert _stopped_gauge(registry, 0) is None


async def test_records_of_a_stopped_partition_are_never_acknowledged() -> None:
    tables = _tables()
    tables[Tables.STATES][b"broken"] = b"{not json"
    stage, _ = _stage_one(tables)
    await stage.process([_feedback_ahead(0), _order(0, 1, "broken", 0)])

    later = _order(0, 2, "fine-0", 1)
    assert await stage.process([later]) == []


async def test_a_rebalance_lifts_the_stop_so_the_record_is_tried_again() -> None:
    tables = _tables()
    tables[Tables.STATES][b"broken"] = b"{not json"
    stage, registry = _stage_one(tables)
    await stage.process([_feedback_ahead(0), _order(0, 1, "broken", 0)])
    assert stage.stopped

    stage.forget_all()

    assert stage.stopped == {}
    assert _stopped_gauge(registry, 0) == 0
