"""Stage 0's re-keying: the partition of a customer, the key check of the fast path, and the
progress watermarks that keep a repartitioned input's stream time honest
(streams.pipeline.repartition).
"""

from __future__ import annotations

import json
import random
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any, NamedTuple

import pytest
from aiokafka.partitioner import DefaultPartitioner

from schemas import OrderEvent
from schemas.dead_letter import DeadLetter
from streams.pipeline.checkpoints import ProgressRecord
from streams.pipeline.decode import RecordOrigin
from streams.pipeline.epochs import EpochClock
from streams.pipeline.headers import Watermark
from streams.pipeline.merge import InputMerge
from streams.pipeline.repartition import (
    SourceProgress,
    SourceWatermarks,
    customer_partition,
    key_mismatch,
    source_of,
)
from streams.settings import Settings, TopicSettings
from streams.worker.stage_zero import Repartitioner
from streams.worker.topology import Topology
from streams.worker.transaction_gate import TransactionGate
from tests.unit.builders import purchase

T0 = datetime(2026, 3, 2, tzinfo=UTC)
DAY = 86_400
ORIGIN = RecordOrigin("orders", 1, 41)


def _at(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


# --- the customer's partition -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("customer_id", "of_4", "of_12"),
    [("C1", 1, 9), ("C2", 1, 5), ("customer-42", 1, 9), ("", 1, 9), ("ü-7", 1, 1)],
)
def test_the_customer_partition_is_the_java_clients_default_partition(
    customer_id: str, of_4: int, of_12: int
) -> None:
    """Expected values printed by jshell with kafka-clients 4.1.1 (the broker's jars):
    `Utils.toPositive(Utils.murmur2(key.getBytes(UTF_8))) % n`, for n = 4 and 12."""
    assert customer_partition(customer_id, 4) == of_4
    assert customer_partition(customer_id, 12) == of_12


def test_the_customer_partition_is_where_the_workers_producer_puts_the_key() -> None:
    rng = random.Random(3)
    partitioner = DefaultPartitioner()
    for _ in range(500):
        customer = "".join(rng.choices("abcXYZ019-_é", k=rng.randint(1, 12)))
        partitions = rng.randint(1, 64)
        every = list(range(partitions))
        assert customer_partition(customer, partitions) == partitioner(
            customer.encode(), every, every
        )


# --- the fast path's key check ----------------------------------------------------------------


def test_a_record_keyed_by_its_customer_passes() -> None:
    assert key_mismatch(b"C1", "C1", ORIGIN, T0, b"{}") is None


@pytest.mark.parametrize("key", [b"O-77", None, b"c1"])
def test_a_record_keyed_otherwise_is_a_key_mismatch_naming_the_setting(key: bytes | None) -> None:
    letter = key_mismatch(key, "C1", ORIGIN, T0, b'{"customer_id": "C1"}')
    assert letter is not None
    assert letter.error_type == "key_mismatch"
    assert (letter.topic, letter.partition, letter.offset) == ("orders", 1, 41)
    assert letter.key_b64 == DeadLetter.encode(key)
    assert letter.value == b'{"customer_id": "C1"}'
    assert "KEYED_BY_CUSTOMER" in letter.reason


# --- stage 0: when every target hears a source ------------------------------------------------


def test_a_source_announces_its_first_event_and_each_new_epoch_only() -> None:
    progress = SourceProgress(DAY)
    assert progress.event(_at(1)) is True
    progress.announced()
    assert progress.event(_at(5)) is False
    assert progress.event(_at(30)) is True
    progress.announced()
    assert progress.event(_at(40)) is False
    assert progress.high_water == _at(40)


def test_an_older_event_never_moves_a_sources_high_water_back() -> None:
    progress = SourceProgress(DAY)
    progress.event(_at(30))
    progress.announced()
    assert progress.event(_at(2)) is False
    assert progress.high_water == _at(30)


def test_a_watermark_moves_the_source_and_is_announced_from_there() -> None:
    progress = SourceProgress(DAY)
    progress.event(_at(1))
    progress.announced()
    progress.watermark(_at(50))
    progress.announced()
    assert progress.high_water == _at(50)
    assert progress.event(_at(51)) is False


# --- the target: minimum over the sources -----------------------------------------------------


def test_the_inputs_high_water_waits_for_every_source_then_is_their_minimum() -> None:
    marks = SourceWatermarks(3)
    assert marks.observe(0, _at(10)) is None
    assert marks.observe(2, _at(4)) is None
    assert marks.observe(1, _at(7)) == _at(4)
    assert marks.observe(2, _at(20)) == _at(7)
    assert marks.observe(1, _at(30)) == _at(10)


def test_a_sources_high_water_never_moves_back() -> None:
    marks = SourceWatermarks(2)
    marks.observe(0, _at(10))
    marks.observe(1, _at(10))
    assert marks.observe(0, _at(3)) == _at(10)


def test_a_source_partition_out_of_range_is_refused() -> None:
    with pytest.raises(ValueError, match="source partition 2"):
        SourceWatermarks(2).observe(2, _at(1))


def test_restored_source_marks_and_the_checkpoint_that_holds_them() -> None:
    marks = SourceWatermarks(2)
    marks.observe(0, _at(5))
    marks.observe(1, _at(9))
    record = ProgressRecord(
        {"t-orders-repartition": _at(5)}, EpochClock(DAY), {"t-orders-repartition": marks.by_source}
    )
    restored = ProgressRecord.from_json(record.to_json())
    again = SourceWatermarks(2, restored.sources["t-orders-repartition"])
    assert again.high_water == _at(5)
    assert again.by_source == {0: _at(5), 1: _at(9)}


def test_a_checkpoint_written_before_repartitioning_reads_with_no_sources() -> None:
    old = json.dumps({"v": 1, "hw": {}, "clock": EpochClock(DAY).to_json()}).encode()
    assert ProgressRecord.from_json(old).sources == {}


def test_source_headers_are_read_back() -> None:
    headers = [
        ("ce_id", b"x"),
        ("tierstream-source-partition", b"3"),
        ("tierstream-source-time", _at(2).isoformat().encode()),
    ]
    assert source_of(headers) == (3, _at(2))
    assert source_of([("tierstream-source-partition", b"0")]) == (0, None)
    assert source_of(None) is None


# --- the whole shuffle, simulated -------------------------------------------------------------


@dataclass(frozen=True)
class _Record:
    source: int
    mark: datetime
    event: tuple[datetime, str] | None  # None: a progress watermark


def _stage_zero(
    events: list[tuple[datetime, str]], sources: int, targets: int, rng: random.Random
) -> dict[tuple[int, int], deque[_Record]]:
    """Events in time order, each on a random source partition (random keys); what stage 0
    of each source sends each target, in send order; a closing watermark on every source."""
    by_source: list[list[tuple[datetime, str]]] = [[] for _ in range(sources)]
    for event in events:
        by_source[rng.randrange(sources)].append(event)
    queues: dict[tuple[int, int], deque[_Record]] = {
        (s, t): deque() for s in range(sources) for t in range(targets)
    }
    end = events[-1][0] + timedelta(days=1)
    for source, source_events in enumerate(by_source):
        progress = SourceProgress(DAY)

        def announce(source: int = source, progress: SourceProgress = progress) -> None:
            assert progress.high_water is not None
            for target in range(targets):
                queues[(source, target)].append(_Record(source, progress.high_water, None))
            progress.announced()

        for event in source_events:
            tell_all = progress.event(event[0])
            assert progress.high_water is not None
            target = customer_partition(event[1], targets)
            queues[(source, target)].append(_Record(source, progress.high_water, event))
            if tell_all:
                announce()
        progress.watermark(end)
        announce()
    return queues


@pytest.mark.parametrize("seed", range(20))
def test_a_target_releases_its_events_in_event_time_order_and_never_before_an_older_one_arrived(
    seed: int,
) -> None:
    rng = random.Random(seed)
    sources, targets = rng.randint(1, 4), rng.randint(1, 4)
    instants = sorted(rng.sample(range(0, 20 * 24 * 60), 120))  # distinct minutes, 20 days
    events = [(T0 + timedelta(minutes=m), f"c{rng.randrange(25)}") for m in instants]
    queues = _stage_zero(events, sources, targets, rng)
    marks = [SourceWatermarks(sources) for _ in range(targets)]
    merges: list[InputMerge[tuple[datetime, str]]] = [InputMerge(["in"]) for _ in range(targets)]
    released: list[list[tuple[datetime, str]]] = [[] for _ in range(targets)]

    # Deliver in a random interleaving; each (source, target) stream keeps its order.
    while any(queues.values()):
        source, target = rng.choice([key for key, queue in queues.items() if queue])
        record = queues[(source, target)].popleft()
        high_water = marks[target].observe(record.source, record.mark)
        if high_water is not None:
            merges[target].observe("in", high_water)
        if record.event is not None:
            merges[target].hold("in", record.event[0], record.event)
        for event in merges[target].release():
            still_on_the_way = [
                r.event[0]
                for (_, t), queue in queues.items()
                if t == target
                for r in queue
                if r.event is not None
            ]
            assert all(event[0] <= later for later in still_on_the_way)
            released[target].append(event)

    for target in range(targets):
        mine = [e for e in events if customer_partition(e[1], targets) == target]
        assert released[target] == mine  # all of them, in the order a customer-keyed input has


def test_a_target_no_source_event_reaches_still_moves_with_that_sources_epochs() -> None:
    """Source 1's events all go to target 0; target 1 hears source 1 only through the
    announcements, once per epoch its high water enters."""
    to_target_0 = next(c for c in (f"c{n}" for n in range(100)) if customer_partition(c, 2) == 0)
    marks = SourceWatermarks(2)
    marks.observe(0, _at(100))  # source 0 is far ahead
    progress = SourceProgress(DAY)
    heard: list[datetime] = []
    for hours in range(0, 72, 6):
        if progress.event(_at(hours)):
            assert progress.high_water is not None
            heard.append(progress.high_water)
            progress.announced()
    assert customer_partition(to_target_0, 2) == 0
    for mark in heard:
        marks.observe(1, mark)
    assert heard == [_at(0), _at(24), _at(48)]
    assert marks.high_water == _at(48)


# --- configuration ----------------------------------------------------------------------------


def test_inputs_are_keyed_by_customer_unless_configured_otherwise(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert Topology("app", TopicSettings()).stage_one_inputs == ("orders", "feedback")
    assert Topology("app", TopicSettings()).repartitioned == ()
    monkeypatch.setenv("TIERSTREAM_TOPICS__ORDERS_KEYED_BY_CUSTOMER", "false")
    topology = Topology("app", Settings().topics)
    assert topology.stage_one_inputs == ("app-orders-repartition", "feedback")
    assert topology.repartitioned == (("orders", "app-orders-repartition"),)
    assert "app-orders-repartition" in topology.co_partitioned
    assert "app-feedback-repartition" not in topology.co_partitioned


# --- stage 0 in the worker's hands ------------------------------------------------------------


class _Sent(NamedTuple):
    source: tuple[str, int]
    key: bytes | None
    value: bytes
    partition: int
    headers: list[tuple[str, bytes]]


def _record(partition: int, value: bytes, headers: list[tuple[str, bytes]] | None = None) -> Any:
    message = SimpleNamespace(topic="orders", partition=partition, headers=headers, value=value)
    return SimpleNamespace(message=message)


async def test_stage_zero_sends_events_to_their_customers_partition_and_progress_to_all() -> None:
    sent: list[_Sent] = []
    rejected: list[str] = []

    async def decode(event: Any) -> OrderEvent | None:
        return OrderEvent.model_validate_json(event.message.value)

    async def reject(event: Any, error_type: str, reason: str) -> None:
        rejected.append(error_type)

    async def send(*args: Any) -> None:
        sent.append(_Sent(*args))

    stage = Repartitioner(3, DAY, decode, reject, send)
    first, second = (purchase(_at(hours), customer=f"c{hours}") for hours in (1, 2))
    await stage.handle(_record(1, first.model_dump_json().encode(), [("ce_id", b"x")]))
    await stage.handle(_record(1, second.model_dump_json().encode()))
    closing = Watermark(stream_time=_at(30)).model_dump_json().encode()
    await stage.handle(_record(1, closing, Watermark.headers()))
    await stage.handle(_record(1, b"{", Watermark.headers()))

    event_sends = [s for s in sent if s.key is not None]
    assert [(s.key, s.partition) for s in event_sends] == [
        (b"c1", customer_partition("c1", 3)),
        (b"c2", customer_partition("c2", 3)),
    ]
    assert event_sends[0].headers == [
        ("ce_id", b"x"),
        ("tierstream-source-partition", b"1"),
        ("tierstream-source-time", _at(1).isoformat().encode()),
    ]
    marks = [s for s in sent if s.key is None]
    # The first event's epoch, then the closing watermark, each to every partition.
    assert [(s.partition, Watermark.model_validate_json(s.value).stream_time) for s in marks] == [
        (0, _at(1)),
        (1, _at(1)),
        (2, _at(1)),
        (0, _at(30)),
        (1, _at(30)),
        (2, _at(30)),
    ]
    assert all(source_of(s.headers) == (1, None) for s in marks)
    assert {s.source for s in sent} == {("orders", 1)}
    assert rejected == ["control_invalid"]


async def test_a_repartitioned_send_goes_into_the_source_partitions_transaction() -> None:
    """Faust would choose the destination partition's transaction (`{app}-{group}-{p}`)."""
    calls: list[tuple[Any, ...]] = []

    async def producer_send(*args: Any, transactional_id: str) -> None:
        calls.append((*args, transactional_id))

    app = SimpleNamespace(
        conf=SimpleNamespace(id="app"),
        assignor=SimpleNamespace(group_for_topic=lambda topic: {"orders": 0}[topic]),
        producer=SimpleNamespace(send=producer_send),
    )
    gate = TransactionGate(app)
    await gate.send_for(("orders", 2), "app-orders-repartition", b"c1", b"{}", 0, [])
    assert calls == [("app-orders-repartition", b"c1", b"{}", 0, None, [], "app-0-2")]
