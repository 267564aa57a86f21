"""The worker's two stages wired in-process, without Kafka: for tests, notebooks and what-ifs.

Same stage classes, same barrier, same order of operations as the Faust worker; events are
routed to partitions by a stable hash of the customer id. `managers` stands in for the
worker's `profiles` table: the account manager a change carries is what it answers when the
change is ranked. `profiles` likewise: the dimensions a change carries, and, under the
policy's `rank_within`, the ranking group stage 1 reads when it measures a customer.
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
from streams.pipeline.measure_stage import PartitionMeasurer, StreamAdvance
from streams.pipeline.profile_stage import group_lookup
from streams.pipeline.rank_schedule import BoundaryEnd, ClosedThroughMark, PartitionRankSchedule
from streams.pipeline.rank_stage import (
    ClassificationCounts,
    ManagerLookup,
    PartitionRanker,
    ProfileLookup,
)
from tiering import CustomerState, Policy
from tiering.value import ValueModel

__all__ = ["LocalPipeline"]


class LocalPipeline:
    """Events in (any interleaving of partitions), TierChanged out."""

    def __init__(
        self,
        policy: Policy,
        partitions: int,
        epoch_seconds: int,
        managers: ManagerLookup | None = None,
        value_model: ValueModel | None = None,
        profiles: ProfileLookup | None = None,
    ) -> None:
        self._partitions = partitions
        self._managers = managers
        self._profiles = profiles
        self._value_model = value_model
        self._states: list[dict[str, CustomerState]] = [{} for _ in range(partitions)]
        self._groups = None if profiles is None else group_lookup(profiles, policy)
        self._measurers = [
            PartitionMeasurer(p, policy, epoch_seconds, groups=self._groups)
            for p in range(partitions)
        ]
        self._schedules = [
            PartitionRankSchedule(PartitionRanker(policy, managers, value_model, profiles))
            for _ in range(partitions)
        ]
        self._barrier = RankBarrier(partitions)
        # Boundaries each partition closed (a summary published), for the tests that count
        # them.
        self.closed_boundaries: list[list[datetime]] = [[] for _ in range(partitions)]
        # Customers measured because they fell due (not because of an event), per partition.
        self.due_measurements = [0] * partitions
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

    def profile_changed(self, customer_id: str) -> None:
        """A profile stored on `customers` (the `profiles` lookup now answers it), as the
        worker applies it: under `rank_within`, a customer whose group changed is measured
        again at its partition's next boundary and ranked in its new group from there."""
        partition = self.partition_of(customer_id)
        if self._measurers[partition].regroup(customer_id):
            self._measured[customer_id] = marked_dirty(partition, self._measured.get(customer_id))

    def erase(self, customer_id: str) -> None:
        """An erase request (a tombstone on `customers`), as the worker applies it: the
        customer's state, checkpoint records and both stages' memory go; measurements of it
        already published are not ranked. No TierChanged names it until new events do, and
        the first one is `initial`."""
        partition = self.partition_of(customer_id)
        self._states[partition].pop(customer_id, None)
        measurer = self._measurers[partition]
        measurer.forget(customer_id)
        self._schedules[partition].erase(customer_id, measurer.clock.closed_through)
        self._measured.pop(customer_id, None)
        self._ranked.pop(customer_id, None)

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
                self._groups,
            )
            schedule = self._schedules[partition]
            ranker = restore_ranker(
                partition,
                self._policy,
                (RankedRecord.from_json(record.to_json()) for record in self._ranked.values()),
                self._managers,
                self._value_model,
                self._profiles,
            )
            # The measurements stream (a Kafka topic) and how far it was ranked survive.
            restored = PartitionRankSchedule(ranker, schedule.ranked_through)
            # The worker keeps the erase guard in its progress table: it survives too.
            restored.erased = dict(schedule.erased)
            while (item := schedule.pop()) is not None:
                restored.push(item)
            self._schedules[partition] = restored

    def use_value_model(self, model: ValueModel | None) -> None:
        """A refitted model, as the worker's model source hands it over: every partition
        ranks with it from its next boundary on (and restores with it after `restart`)."""
        self._value_model = model
        for schedule in self._schedules:
            schedule.ranker.use_value_model(model)

    def watermark(self, partition: int, instant: datetime) -> None:
        """A watermark control record (or the wall clock) reaching one partition."""
        self._advance(partition, instant)

    def _advance(self, partition: int, instant: datetime) -> None:
        # As the worker: a partition's first stream time announces where its history starts
        # (an empty summary), so barriers need not wait for boundaries before it.
        measurer = self._measurers[partition]
        starting = measurer.stream_time is None
        advance = measurer.advance(instant, self._states[partition].get)
        announcement = measurer.start_marker() if starting else None
        if announcement is not None:
            self._barrier.add(announcement)
        self._published(partition, advance)

    def classification(self, customer_id: str) -> Classification | None:
        """The current classification of a customer."""
        return self._schedules[self.partition_of(customer_id)].ranker.classification(customer_id)

    def ranked(self, customer_id: str) -> bytes | None:
        """The customer's value in the worker's `ranked` table (what `GET /customers/{id}`
        answers from), encoded as the worker stores it."""
        record = self._ranked.get(customer_id)
        return None if record is None else record.to_json()

    def counts(self, partition: int) -> ClassificationCounts:
        """How one partition's current classifications are spread (the worker's gauges)."""
        return self._schedules[partition].ranker.counts()

    def _published(self, partition: int, advance: StreamAdvance) -> None:
        """Stage 1's outputs reach the topics; stage 2 ranks what the barrier allows."""
        schedule = self._schedules[partition]
        for epoch in advance.closed:
            schedule.push(BoundaryEnd(epoch.boundary, epoch.measurements))
            self._barrier.add(epoch.summary)
            self._measured.update(measured_after_close(partition, epoch))
            self.closed_boundaries[partition].append(epoch.boundary)
            self.due_measurements[partition] += epoch.causes.get("due", 0)
        progress = advance.progress(partition)
        if progress is not None:
            schedule.push(ClosedThroughMark(progress.closed_through))
            self._barrier.add(progress)
        self._barrier.release()
        for ranked_partition, ranked in enumerate(self._schedules):
            for _, changes in ranked.rank_ready(self._barrier):
                self.emitted.extend(changes)
                ranker = ranked.ranker
                for customer in ranker.touched:
                    self._ranked[customer] = RankedRecord(ranked_partition, *ranker.entry(customer))
        passed = [schedule.ranked_through for schedule in self._schedules]
        if all(instant is not None for instant in passed):
            self._barrier.forget_through(min(instant for instant in passed if instant is not None))
