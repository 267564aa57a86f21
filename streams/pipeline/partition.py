"""Stage 1 of one partition as a pure batch function: raw records in; outputs, state writes
and how far the input may be committed out. No Faust, no asyncio, no I/O.

`MeasurePipeline.process(batch)` decodes each record (bad ones become dead letters), merges
the partition's inputs in event time (streams.pipeline.merge), applies released events to
customer states, closes the boundaries stream time passes (streams.pipeline.measure_stage)
and returns:

- `outputs`: dead letters, measurements with one end marker per closed boundary, rank
  summaries, and a progress marker on both topics when boundaries were skipped, in the
  order they must be sent;
- `writes`: the table writes, one value per key per batch (`None` deletes), so each customer
  touched by the batch is serialised once for all its events in the batch;
- `committable`: per input topic, the offset after the batch's last record of it.

Correct by construction: a record the merge must hold back (its input is ahead of the
others) is written to the `held` table and dropped from it when released, so everything a
batch consumed is either applied or held in changelog-backed state, and the whole batch can
be committed with its writes and outputs in one transaction. After a crash the pipeline is
rebuilt from the tables alone (`MeasurePipeline(..., store)`), and replaying the records
after the last commit gives the same outputs.

Inputs are orders and feedback, each either keyed by customer (the fast path: a record
keyed otherwise is a dead letter) or read from its stage-0 repartition topic, and the clock
topic's wall-clock ticks.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from schemas import FeedbackEvent, OrderEvent
from streams.pipeline.batch_run import BatchRun, HeldEvent, day_key, held_key, held_origin
from streams.pipeline.checkpoints import (
    MeasuredRecord,
    ProgressRecord,
    marked_dirty,
    restore_measurer,
)
from streams.pipeline.headers import control_kind
from streams.pipeline.measure_stage import (
    ClosedEpoch,
    GroupLookup,
    PartitionMeasurer,
)
from streams.pipeline.merge import InputMerge
from streams.pipeline.records import (
    BatchResult,
    InputRecord,
    PipelineListener,
    StageOneTopics,
    StateStore,
    Tables,
)
from streams.pipeline.repartition import SourceWatermarks
from tiering import Policy
from tiering.state_records import stored_days

__all__ = ["Erasure", "MeasurePipeline"]


class _Silent:
    def event_applied(self, record: InputRecord, customer_id: str) -> None:
        pass

    def epoch_closed(self, epoch: ClosedEpoch) -> None:
        pass


@dataclass(frozen=True)
class Erasure:
    """What erasing one customer from a partition's stage 1 does.

    `writes`: the table deletions (its state header and day records, its `measured` record,
    the `held` records of its events still waiting in the merge), in the shape of
    `BatchResult.writes`. `erased_through`: the partition's last closed boundary at the
    erase; measurements of the customer at or before it were published before the erase
    and must not be ranked (stage 2 drops them), later ones come from new events.
    """

    writes: dict[str, dict[bytes, bytes | None]]
    erased_through: datetime | None


class MeasurePipeline:
    """Stage 1 of one partition, restored from the tables and advanced batch by batch."""

    def __init__(
        self,
        partition: int,
        policy: Policy,
        topics: StageOneTopics,
        epoch_seconds: int,
        store: StateStore,
        listener: PipelineListener | None = None,
        groups: GroupLookup | None = None,
    ) -> None:
        """`groups`: customer_id -> ranking group under the policy's `rank_within` (the
        worker reads it from the `profiles` table)."""
        self.partition = partition
        self._topics = topics
        self._store = store
        self.listener: PipelineListener = listener or _Silent()
        self.merge: InputMerge[HeldEvent] = InputMerge(topics.inputs)
        self.sources = {
            topic: SourceWatermarks(topics.source_partitions) for topic in topics.repartitioned
        }
        checkpoint = store.get(Tables.PROGRESS, str(partition).encode())
        if checkpoint is None:
            self.measurer = PartitionMeasurer(partition, policy, epoch_seconds, groups=groups)
        else:
            progress = ProgressRecord.from_json(checkpoint)
            measured = (
                (key.decode(), MeasuredRecord.from_json(value))
                for key, value in store.items(Tables.MEASURED)
            )
            self.measurer = restore_measurer(partition, policy, progress, measured, groups)
            # Inputs of another keying setting than the checkpoint's are not restored: they
            # start unheard, which holds the merge until they speak (never releases early).
            for source, instant in progress.high_water.items():
                if source in topics.inputs:
                    self.merge.observe(source, instant)
            for topic, marks in progress.sources.items():
                if topic in self.sources:
                    self.sources[topic] = SourceWatermarks(topics.source_partitions, marks)
        self._checkpoint = checkpoint
        held: list[HeldEvent] = []
        for key, value in store.items(Tables.HELD):
            held_partition, offset, topic = held_origin(key)
            if held_partition == partition and topic in topics.inputs:
                model = OrderEvent if topic == topics.orders else FeedbackEvent
                held.append(HeldEvent(model.model_validate_json(value), topic, offset))
        # Re-held in arrival order, as they were first offered: the merge's tie-break.
        for item in sorted(held, key=lambda item: item.offset):
            self.merge.hold(item.topic, item.event.occurred_at, item)

    def process(self, batch: Sequence[InputRecord], now: datetime) -> BatchResult:
        """Run one batch of this partition's records (any of its inputs and clock ticks, in
        delivery order); `now` only stamps dead letters."""
        run = BatchRun(self, now)
        for record in batch:
            run.committable[record.topic] = record.offset + 1
            if control_kind(record.headers) == "watermark":
                run.watermark(record)
            else:
                run.offer(record)
            run.release()
        run.save_progress()
        return run.result()

    def regroup(self, customer_id: str) -> dict[str, dict[bytes, bytes | None]]:
        """The customer's profile changed (`PartitionMeasurer.regroup`): the table writes
        that keep the customer marked for the next close after a restart too (its
        `measured` record, dirty), or none when its ranking group did not change."""
        if not self.measurer.regroup(customer_id):
            return {}
        key = customer_id.encode()
        previous = self._store.get(Tables.MEASURED, key)
        record = marked_dirty(
            self.partition, None if previous is None else MeasuredRecord.from_json(previous)
        )
        return {Tables.MEASURED: {key: record.to_json()}}

    def erase(self, customer_id: str) -> Erasure:
        """Forget a customer (an erase request on the `customers` topic): drop it from the
        merge, the due-index, the dirty set and the next summary, and return the table
        deletions that forget it after a restart too. Its held events are dropped: they were
        acknowledged when they were held (the `held` table carried them), so dropping them
        loses no other record. Cost: O(held events + stored days of the customer)."""
        key = customer_id.encode()
        writes: dict[str, dict[bytes, bytes | None]] = {
            Tables.STATES: {key: None},
            Tables.MEASURED: {key: None},
            Tables.DAYS: {},
            Tables.HELD: {},
        }
        header = self._store.get(Tables.STATES, key)
        if header is not None:
            for day in stored_days(header):
                writes[Tables.DAYS][day_key(customer_id, day)] = None
        for item in self.merge.drop(lambda item: item.event.customer_id == customer_id):
            writes[Tables.HELD][held_key(self.partition, item.topic, item.offset)] = None
        self.measurer.forget(customer_id)
        return Erasure(writes, self.measurer.clock.closed_through)
