"""The worker's two stages wired in-process, without Kafka: for tests, notebooks and what-ifs.

Same stage classes, same barrier, same order of operations as the Faust worker; events are
routed to partitions by a stable hash of the customer id.
"""

from __future__ import annotations

import zlib
from datetime import datetime

from schemas import Classification, FeedbackEvent, OrderEvent
from schemas.tier_changed import TierChanged
from streams.barrier import RankBarrier
from streams.measure_stage import ClosedEpoch, PartitionMeasurer
from streams.rank_stage import PartitionRanker
from tiering import CustomerState, Measurement, Policy

__all__ = ["LocalPipeline"]


class LocalPipeline:
    """Events in (any interleaving of partitions), TierChanged out."""

    def __init__(self, policy: Policy, partitions: int, epoch_seconds: int) -> None:
        self._partitions = partitions
        self._states: list[dict[str, CustomerState]] = [{} for _ in range(partitions)]
        self._measurers = [PartitionMeasurer(p, policy, epoch_seconds) for p in range(partitions)]
        self._rankers = [PartitionRanker(policy) for _ in range(partitions)]
        self._barrier = RankBarrier(partitions)
        self._pending: dict[tuple[datetime, int], tuple[Measurement, ...]] = {}
        self.emitted: list[TierChanged] = []

    def partition_of(self, customer_id: str) -> int:
        """Stable partition of a customer."""
        return zlib.crc32(customer_id.encode()) % self._partitions

    def feed(self, event: OrderEvent | FeedbackEvent) -> None:
        """One event, as its partition's agent would see it."""
        partition = self.partition_of(event.customer_id)
        states = self._states[partition]
        self._closed(partition, self._measurers[partition].advance(event.occurred_at, states.get))
        state, _ = self._measurers[partition].apply(states.get(event.customer_id), event)
        states[event.customer_id] = state

    def watermark(self, partition: int, instant: datetime) -> None:
        """A watermark control record (or the wall clock) reaching one partition."""
        self._closed(
            partition, self._measurers[partition].advance(instant, self._states[partition].get)
        )

    def classification(self, customer_id: str) -> Classification | None:
        """The current classification of a customer."""
        return self._rankers[self.partition_of(customer_id)].classification(customer_id)

    def _closed(self, partition: int, epochs: list[ClosedEpoch]) -> None:
        for epoch in epochs:
            self._pending[(epoch.boundary, partition)] = epoch.measurements
            self._barrier.add(epoch.summary)
        for boundary, population in self._barrier.release():
            for ranked_partition, ranker in enumerate(self._rankers):
                measurements = self._pending.pop((boundary, ranked_partition), ())
                self.emitted.extend(ranker.rank(boundary, population, measurements))
