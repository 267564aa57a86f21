"""The worker's two stages wired in-process, without Kafka: for tests, notebooks and what-ifs.

Same stage classes, same barrier, same order of operations as the Faust worker; events are
routed to partitions by a stable hash of the customer id. `managers` stands in for the
worker's `profiles` table: the account manager a change carries is what it answers when the
change is ranked.
"""

from __future__ import annotations

import zlib
from datetime import datetime

from schemas import Classification, FeedbackEvent, OrderEvent
from schemas.tier_changed import TierChanged
from streams.pipeline.barrier import RankBarrier
from streams.pipeline.checkpoints import (
    MeasuredRecord,
    ProgressRecord,
    RankedRecord,
    marked_dirty,
    measured_after_close,
    restore_measurer,
    restore_ranker,
)
from streams.pipeline.measure_stage import ClosedEpoch, PartitionMeasurer
from streams.pipeline.rank_stage import ClassificationCounts, ManagerLookup, PartitionRanker
from tiering import CustomerState, Measurement, Policy

__all__ = ["LocalPipeline"]


class LocalPipeline:
    """Events in (any interleaving of partitions), TierChanged out."""

    def __init__(
        self,
        policy: Policy,
        partitions: int,
        epoch_seconds: int,
        managers: ManagerLookup | None = None,
    ) -> None:
        self._partitions = partitions
        self._managers = managers
        self._states: list[dict[str, CustomerState]] = [{} for _ in range(partitions)]
        self._measurers = [PartitionMeasurer(p, policy, epoch_seconds) for p in range(partitions)]
        self._rankers = [PartitionRanker(policy, managers) for _ in range(partitions)]
        self._barrier = RankBarrier(partitions)
        self._pending: dict[tuple[datetime, int], tuple[Measurement, ...]] = {}
        self.emitted: list[TierChanged] = []
        self._policy = policy
        # The checkpoint records the worker keeps in its tables, kept here the same way, so
        # that `restart` exercises exactly what a restarted worker restores from.
        self._measured: dict[str, MeasuredRecord] = {}
        self._ranked: dict[str, RankedRecord] = {}

    def partition_of(self, customer_id: str) -> int:
        """Stable partition of a customer."""
        return zlib.crc32(customer_id.encode()) % self._partitions

    def feed(self, event: OrderEvent | FeedbackEvent) -> None:
        """One event, as its partition's agent would see it."""
        partition = self.partition_of(event.customer_id)
        states = self._states[partition]
        measurer = self._measurers[partition]
        self._advance(partition, event.occurred_at)
        state, _ = measurer.apply(states.get(event.customer_id), event)
        states[event.customer_id] = state
        if measurer.is_dirty(event.customer_id):
            customer = event.customer_id
            self._measured[customer] = marked_dirty(partition, self._measured.get(customer))

    def restart(self) -> None:
        """Forget both stages' memory and rebuild it from the checkpoint records, as a worker
        restarted after a crash does (pending measurements and summaries, which live in
        Kafka topics, are kept)."""
        for partition in range(self._partitions):
            measurer = self._measurers[partition]
            progress = ProgressRecord({}, measurer.clock)
            self._measurers[partition] = restore_measurer(
                partition,
                self._policy,
                ProgressRecord.from_json(progress.to_json()),
                (
                    (customer, MeasuredRecord.from_json(record.to_json()))
                    for customer, record in self._measured.items()
                ),
            )
            self._rankers[partition] = restore_ranker(
                partition,
                self._policy,
                (RankedRecord.from_json(record.to_json()) for record in self._ranked.values()),
                self._managers,
            )

    def watermark(self, partition: int, instant: datetime) -> None:
        """A watermark control record (or the wall clock) reaching one partition."""
        self._advance(partition, instant)

    def _advance(self, partition: int, instant: datetime) -> None:
        # As the worker: a partition's first stream time announces where its history starts
        # (an empty summary), so barriers need not wait for boundaries before it.
        measurer = self._measurers[partition]
        starting = measurer.stream_time is None
        closed = measurer.advance(instant, self._states[partition].get)
        announcement = measurer.start_summary() if starting else None
        if announcement is not None:
            self._barrier.add(announcement)
        self._closed(partition, closed)

    def classification(self, customer_id: str) -> Classification | None:
        """The current classification of a customer."""
        return self._rankers[self.partition_of(customer_id)].classification(customer_id)

    def ranked(self, customer_id: str) -> bytes | None:
        """The customer's value in the worker's `ranked` table (what `GET /customers/{id}`
        answers from), encoded as the worker stores it."""
        record = self._ranked.get(customer_id)
        return None if record is None else record.to_json()

    def counts(self, partition: int) -> ClassificationCounts:
        """How one partition's current classifications are spread (the worker's gauges)."""
        return self._rankers[partition].counts()

    def _closed(self, partition: int, epochs: list[ClosedEpoch]) -> None:
        for epoch in epochs:
            self._pending[(epoch.boundary, partition)] = epoch.measurements
            self._barrier.add(epoch.summary)
            self._measured.update(measured_after_close(partition, epoch))
        for boundary, population in self._barrier.release():
            for ranked_partition, ranker in enumerate(self._rankers):
                measurements = self._pending.pop((boundary, ranked_partition), ())
                self.emitted.extend(ranker.rank(boundary, population, measurements))
                for customer in ranker.touched:
                    self._ranked[customer] = RankedRecord(ranked_partition, *ranker.entry(customer))
