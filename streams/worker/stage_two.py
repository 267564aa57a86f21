"""Stage 2 in the Faust worker: the rank barrier fed from the ranks topic, and each assigned
partition's rank schedule (streams.pipeline.rank_schedule) driven by its measurements stream.

Faust transports; what is ranked and when is the pure schedule's. Every worker reads the
whole ranks topic with a plain consumer (`read_ranks_topic`); the `rank` agent's loop
(`consume`) waits for the barrier outside the transaction gate and ranks under it, then
sends the TierChanged events to the tier-changes topic.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from schemas.tier_changed import TierChanged
from streams.kafka.security import client_options
from streams.pipeline.barrier import RankBarrier
from streams.pipeline.checkpoints import RankedRecord, restore_ranker
from streams.pipeline.headers import cloudevent_headers
from streams.pipeline.rank_schedule import BoundaryEnd, ClosedThroughMark, PartitionRankSchedule
from streams.pipeline.rank_stage import ManagerLookup, PartitionRanker, ProfileLookup
from streams.pipeline.ranks import parse_ranks_record
from streams.pipeline.records import parse_measurements_record
from streams.settings import Settings
from streams.worker.model_source import ModelSource
from streams.worker.observe import WorkerObserver
from streams.worker.revocation_fence import RevocationFence
from tiering import Policy
from tiering.value import ValueModel

__all__ = ["PendingMeasurements", "StageTwo"]

log = logging.getLogger("tierstream.worker")

MeasurementsItem = BoundaryEnd | ClosedThroughMark


def point_of(item: MeasurementsItem) -> datetime:
    """The instant the barrier must cover before `item` can be ranked."""
    return item.boundary if isinstance(item, BoundaryEnd) else item.through


def _progress_key(partition: int) -> bytes:
    return f"ranked-{partition}".encode()


def _erased_key(partition: int) -> bytes:
    """Progress-table key of a partition's erased customers whose measurements published
    before the erase may still be ranked (`PartitionRankSchedule.erased`): kept only until
    that boundary is ranked, so a restart in between still drops them."""
    return f"erased-{partition}".encode()


def _erased_json(erased: dict[str, datetime]) -> bytes:
    return json.dumps({customer: at.isoformat() for customer, at in erased.items()}).encode()


def _erased_from_json(raw: bytes) -> dict[str, datetime]:
    return {customer: datetime.fromisoformat(at) for customer, at in json.loads(raw).items()}


class PendingMeasurements:
    """Each partition's measurements waiting for the end marker of their boundary, kept for
    the revocation generation they were taken in.

    After a revocation the consumer goes back to the committed offsets and delivers the
    uncommitted measurements and markers again. Measurements taken before it must go: kept,
    they joined the re-delivered *earlier* boundary's marker, and a customer was ranked a
    boundary early (seen: an `initial` TierChanged a day early, then an extra `lateral` one,
    when a second worker joined).
    """

    def __init__(self) -> None:
        self._generation = 0
        self._by_partition: dict[int, list[tuple[Any, Any]]] = defaultdict(list)

    def add(self, generation: int, partition: int, entry: tuple[Any, Any]) -> None:
        """Hold (measurement, source event) of `partition`, taken in `generation`."""
        self._forget_before(generation)
        self._by_partition[partition].append(entry)

    def take(self, generation: int, partition: int) -> list[tuple[Any, Any]]:
        """What `partition` holds for the marker taken now, in `generation`."""
        self._forget_before(generation)
        return self._by_partition.pop(partition, [])

    def _forget_before(self, generation: int) -> None:
        if generation != self._generation:
            self._by_partition.clear()
            self._generation = generation


class StageTwo:
    """The barrier and the assigned partitions' rank schedules of one worker."""

    def __init__(
        self,
        policy: Policy,
        partitions: int,
        ranked: Any,
        progress: Any,
        managers: ManagerLookup,
        tier_changes: Any,
        observer: WorkerObserver,
        value_models: ModelSource | None = None,
        profiles: ProfileLookup | None = None,
    ) -> None:
        """`ranked`, `progress`: the Faust tables; `tier_changes`: the Faust topic;
        `value_models`: the value model file, re-read when it changes (None: the value
        fields of the metrics stay null)."""
        self._policy = policy
        self._value_models = value_models
        self._partitions = partitions
        self._ranked = ranked
        self._progress = progress
        self._managers = managers
        self._profiles = profiles
        self._tier_changes = tier_changes
        self._observer = observer
        self.barrier = RankBarrier(partitions)
        # Set on each assignment: the ranks topic is read again from its start.
        self._rewind_requested = asyncio.Event()
        self._rewind_requested.set()
        self._covered = asyncio.Condition()
        self._schedules: dict[int, PartitionRankSchedule] = {}

    # --- the barrier --------------------------------------------------------------------------

    def rewind(self) -> None:
        """Start the barrier afresh (the ranks topic is read again from its start)."""
        self.barrier = RankBarrier(self._partitions)

    def request_rewind(self) -> None:
        """Have the reader rebuild the barrier from the ranks topic's start (each assignment)."""
        self._rewind_requested.set()

    async def read_ranks_topic(self, settings: Settings, topic: str) -> None:
        """Every worker reads every partition's summaries and progress (no consumer group)."""
        from aiokafka import AIOKafkaConsumer, TopicPartition

        consumer = AIOKafkaConsumer(
            bootstrap_servers=settings.kafka.bootstrap,
            **client_options(settings.kafka),
            enable_auto_commit=False,
            # Under exactly_once a summary counts only once its transaction commits.
            isolation_level=(
                "read_committed"
                if settings.processing_guarantee == "exactly_once"
                else "read_uncommitted"
            ),
        )
        await consumer.start()
        try:
            partitions = [TopicPartition(topic, p) for p in range(settings.topics.partitions)]
            consumer.assign(partitions)
            while True:
                if self._rewind_requested.is_set():
                    # A new assignment may bring partitions whose next boundary is older
                    # than the populations kept in memory: rebuild them from the start.
                    self._rewind_requested.clear()
                    self.rewind()
                    await consumer.seek_to_beginning(*partitions)
                batches = await consumer.getmany(timeout_ms=500)
                await self.add(r.value for rs in batches.values() for r in rs)
        finally:
            await consumer.stop()

    async def add(self, raw_records: Iterable[bytes]) -> None:
        """Feed records of the ranks topic; wake rankers waiting for what they cover."""
        for raw in raw_records:
            try:
                self.barrier.add(parse_ranks_record(raw))
            except (ValidationError, ValueError) as error:
                # Not ours to rank with (an older release's format, a foreign partition).
                log.error("ranks record skipped: %s", type(error).__name__)
        if self.barrier.release():
            async with self._covered:
                self._covered.notify_all()

    def covers(self, point: datetime) -> bool:
        covered = self.barrier.covered_through
        return covered is not None and covered >= point

    async def wait_covered(self, point: datetime) -> None:
        """Until every partition has handled `point` (never while holding the gate: the
        records that move the barrier are visible only once their transactions commit)."""
        async with self._covered:
            await self._covered.wait_for(lambda: self.covers(point))

    def _value_model(self) -> ValueModel | None:
        return None if self._value_models is None else self._value_models.current()

    # --- schedules ----------------------------------------------------------------------------

    def schedule(self, partition: int) -> PartitionRankSchedule:
        """The partition's schedule, restored from the `ranked` table and the progress mark."""
        if partition not in self._schedules:
            records = (RankedRecord.from_json(value) for value in self._ranked.values())
            ranker = restore_ranker(
                partition,
                self._policy,
                records,
                self._managers,
                self._value_model(),
                self._profiles,
            )
            mark = self._progress.get(_progress_key(partition))
            ranked_through = None if mark is None else datetime.fromisoformat(mark.decode())
            schedule = PartitionRankSchedule(ranker, ranked_through)
            erased = self._progress.get(_erased_key(partition))
            if erased is not None:
                schedule.erased = _erased_from_json(erased)
            self._schedules[partition] = schedule
        return self._schedules[partition]

    def erase(self, partition: int, customer_id: str, erased_through: datetime | None) -> None:
        """Erase a customer from stage 2 of its partition (under the fence lock, in the
        transaction of its tombstone): the ranker forgets it, its `ranked` record goes (so
        `GET /customers/{id}` answers 404), and its measurements published before the erase
        (boundaries up to `erased_through`) are dropped when they are ranked."""
        schedule = self.schedule(partition)
        schedule.erase(customer_id, erased_through)
        key = customer_id.encode()
        if key in self._ranked:
            del self._ranked[key]
        self._save_erased(partition, schedule)
        self._observer.classifications(self.rankers())

    def _save_erased(self, partition: int, schedule: PartitionRankSchedule) -> None:
        key = _erased_key(partition)
        if schedule.erased:
            self._progress[key] = _erased_json(schedule.erased)
        elif key in self._progress:
            del self._progress[key]

    def ranked_already(self, partition: int, item: MeasurementsItem) -> bool:
        """Ranked before a restart, in a committed transaction with its TierChanged events
        (the committed offsets of the measurements may lag behind it, the outputs do not)."""
        ranked_through = self.schedule(partition).ranked_through
        return ranked_through is not None and point_of(item) <= ranked_through

    def rankers(self) -> list[PartitionRanker]:
        return [schedule.ranker for schedule in self._schedules.values()]

    def forget(self, partitions: Iterable[int]) -> None:
        for partition in partitions:
            self._schedules.pop(partition, None)

    def forget_all(self) -> None:
        self._schedules.clear()

    # --- ranking ------------------------------------------------------------------------------

    async def consume(
        self, stream: Any, fence: RevocationFence, assigned: Callable[[], set[int]]
    ) -> None:  # StreamT lacks noack()
        """The `rank` agent: a partition's measurements are held (unacked) until the end
        marker of their boundary, or a progress marker, is ranked; so a crash re-reads them.
        `assigned()`: the measurements partitions assigned to this worker."""
        manual = stream.noack()
        taken_now = fence.track_taken(manual)
        pending = PendingMeasurements()
        async for event in manual.events():
            if not taken_now(event):
                continue  # taken before a revocation: delivered again from the committed offset
            partition = event.message.partition
            record = parse_measurements_record(event.message.value)
            if isinstance(record, tuple):
                pending.add(fence.generation, partition, (record[1], event))
                continue
            held = pending.take(fence.generation, partition)
            item = record
            if isinstance(item, BoundaryEnd):
                item = BoundaryEnd(item.boundary, tuple(measurement for measurement, _ in held))
            sources = [source for _, source in held] + [event]
            if self.ranked_already(partition, item):
                for source in sources:
                    await manual.ack(source)
                self._observer.boundary_done(partition, point_of(item))
                continue
            generation = fence.generation
            await self.wait_covered(point_of(item))
            fence.install_gate()
            async with fence.lock:
                if generation == fence.generation:
                    await self.rank(partition, item, assigned())
                    for source in sources:
                        await manual.ack(source)

    async def rank(self, partition: int, item: MeasurementsItem, assigned: set[int]) -> None:
        """Rank every boundary `item` brings (sweeps of released boundaries, then its own),
        send the TierChanged events, write the `ranked` records and the progress mark."""
        schedule = self.schedule(partition)
        ranker = schedule.ranker
        # A refitted model file applies from this item's first boundary on.
        ranker.use_value_model(self._value_model())
        steps = schedule.rank_item(item, self.barrier)
        while True:
            started = time.perf_counter()
            step = next(steps, None)
            if step is None:
                break
            boundary, changes = step
            seconds = time.perf_counter() - started
            for change in changes:
                await self._send_change(partition, change)
            self._observer.boundary_ranked(partition, boundary, changes, ranker, seconds)
            for customer in ranker.touched:
                record = RankedRecord(partition, *ranker.entry(customer))
                self._ranked[customer.encode()] = record.to_json()
        if schedule.ranked_through is not None:
            self._progress[_progress_key(partition)] = schedule.ranked_through.isoformat().encode()
        if self._progress.get(_erased_key(partition)) is not None:
            self._save_erased(partition, schedule)
        self._observer.boundary_done(partition, point_of(item))
        self._observer.classifications(self.rankers())
        self._forget_populations(assigned)

    async def _send_change(self, partition: int, change: TierChanged) -> None:
        await self._tier_changes.send(
            key=change.customer_id.encode(),
            value=change.model_dump_json().encode(),
            headers=cloudevent_headers(
                "io.tierstream.TierChanged.v1",
                change.event_id,
                change.occurred_at,
                change.customer_id,
            ),
            partition=partition,
        )

    def _forget_populations(self, assigned: set[int]) -> None:
        """Drop populations no assigned partition can ask for any more."""
        if not assigned or not assigned <= self._schedules.keys():
            return
        marks = [self._schedules[partition].ranked_through for partition in assigned]
        if any(mark is None for mark in marks):
            return
        self.barrier.forget_through(min(mark for mark in marks if mark is not None))
