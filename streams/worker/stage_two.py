"""Stage 2 in the Faust worker: the rank barrier fed from the ranks topic, and each assigned
partition's rank schedule (streams.pipeline.rank_schedule) driven by its measurements stream.

Faust transports; what is ranked and when is the pure schedule's. The agent (in
streams.worker.app) waits for the barrier outside the transaction gate and ranks under it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from schemas.tier_changed import TierChanged
from streams.pipeline.barrier import RankBarrier
from streams.pipeline.checkpoints import RankedRecord, restore_ranker
from streams.pipeline.rank_schedule import BoundaryEnd, ClosedThroughMark, PartitionRankSchedule
from streams.pipeline.rank_stage import ManagerLookup, PartitionRanker
from streams.pipeline.ranks import parse_ranks_record
from streams.worker.observe import WorkerObserver
from tiering import Policy

__all__ = ["StageTwo"]

log = logging.getLogger("tierstream.worker")

MeasurementsItem = BoundaryEnd | ClosedThroughMark


def point_of(item: MeasurementsItem) -> datetime:
    """The instant the barrier must cover before `item` can be ranked."""
    return item.boundary if isinstance(item, BoundaryEnd) else item.through


def _progress_key(partition: int) -> bytes:
    return f"ranked-{partition}".encode()


class StageTwo:
    """The barrier and the assigned partitions' rank schedules of one worker."""

    def __init__(
        self,
        policy: Policy,
        partitions: int,
        ranked: Any,
        progress: Any,
        managers: ManagerLookup,
        send_change: Callable[[int, TierChanged], Awaitable[None]],
        observer: WorkerObserver,
    ) -> None:
        self._policy = policy
        self._partitions = partitions
        self._ranked = ranked
        self._progress = progress
        self._managers = managers
        self._send_change = send_change
        self._observer = observer
        self.barrier = RankBarrier(partitions)
        self._covered = asyncio.Condition()
        self._schedules: dict[int, PartitionRankSchedule] = {}

    # --- the barrier --------------------------------------------------------------------------

    def rewind(self) -> None:
        """Start the barrier afresh (the ranks topic is read again from its start)."""
        self.barrier = RankBarrier(self._partitions)

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

    # --- schedules ----------------------------------------------------------------------------

    def schedule(self, partition: int) -> PartitionRankSchedule:
        """The partition's schedule, restored from the `ranked` table and the progress mark."""
        if partition not in self._schedules:
            records = (RankedRecord.from_json(value) for value in self._ranked.values())
            ranker = restore_ranker(partition, self._policy, records, self._managers)
            mark = self._progress.get(_progress_key(partition))
            ranked_through = None if mark is None else datetime.fromisoformat(mark.decode())
            self._schedules[partition] = PartitionRankSchedule(ranker, ranked_through)
        return self._schedules[partition]

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

    async def rank(self, partition: int, item: MeasurementsItem, assigned: set[int]) -> None:
        """Rank every boundary `item` brings (sweeps of released boundaries, then its own),
        send the TierChanged events, write the `ranked` records and the progress mark."""
        schedule = self.schedule(partition)
        ranker = schedule.ranker
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
        self._observer.boundary_done(partition, point_of(item))
        self._observer.classifications(self.rankers())
        self._forget_populations(assigned)

    def _forget_populations(self, assigned: set[int]) -> None:
        """Drop populations no assigned partition can ask for any more."""
        if not assigned or not assigned <= self._schedules.keys():
            return
        marks = [self._schedules[partition].ranked_through for partition in assigned]
        if any(mark is None for mark in marks):
            return
        self.barrier.forget_through(min(mark for mark in marks if mark is not None))
