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

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from pydantic import ValidationError

from schemas import FeedbackEvent, OrderEvent
from schemas.dead_letter import DeadLetter
from streams.pipeline.checkpoints import (
    MeasuredRecord,
    ProgressRecord,
    marked_dirty,
    measured_after_close,
    restore_measurer,
)
from streams.pipeline.decode import RecordOrigin, decode, rejected
from streams.pipeline.headers import Watermark, control_kind
from streams.pipeline.measure_stage import (
    ClosedEpoch,
    GroupLookup,
    PartitionMeasurer,
    StreamAdvance,
)
from streams.pipeline.merge import InputMerge
from streams.pipeline.records import (
    BatchResult,
    InputRecord,
    Outgoing,
    PipelineListener,
    StageOneTopics,
    StateStore,
    Tables,
    boundary_end_value,
    closed_through_value,
    measurement_value,
)
from streams.pipeline.repartition import SourceWatermarks, key_mismatch, source_of
from tiering import CustomerState, Policy
from tiering.measure import measurement_to_json
from tiering.state_records import state_from_records, state_write, stored_days

__all__ = ["Erasure", "MeasurePipeline"]

Event = OrderEvent | FeedbackEvent


class _Silent:
    def event_applied(self, record: InputRecord, customer_id: str) -> None:
        pass

    def epoch_closed(self, epoch: ClosedEpoch) -> None:
        pass


def _day_key(customer_id: str, day: date) -> bytes:
    return f"{customer_id}@{day.isoformat()}".encode()


def _held_key(partition: int, topic: str, offset: int) -> bytes:
    # Offsets zero-padded so that the table's key order is the arrival order.
    return f"{partition}|{offset:020d}|{topic}".encode()


def _held_origin(key: bytes) -> tuple[int, int, str]:
    partition, offset, topic = key.decode().split("|", 2)
    return int(partition), int(offset), topic


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


@dataclass(frozen=True, slots=True)
class _Held:
    """An event waiting in the merge, with where it was read."""

    event: Event
    topic: str
    offset: int
    record: InputRecord | None = None


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
        self.merge: InputMerge[_Held] = InputMerge(topics.inputs)
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
        held: list[_Held] = []
        for key, value in store.items(Tables.HELD):
            held_partition, offset, topic = _held_origin(key)
            if held_partition == partition and topic in topics.inputs:
                model = OrderEvent if topic == topics.orders else FeedbackEvent
                held.append(_Held(model.model_validate_json(value), topic, offset))
        # Re-held in arrival order, as they were first offered: the merge's tie-break.
        for item in sorted(held, key=lambda item: item.offset):
            self.merge.hold(item.topic, item.event.occurred_at, item)

    def process(self, batch: Sequence[InputRecord], now: datetime) -> BatchResult:
        """Run one batch of this partition's records (any of its inputs and clock ticks, in
        delivery order); `now` only stamps dead letters."""
        run = _BatchRun(self, now)
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
                writes[Tables.DAYS][_day_key(customer_id, day)] = None
        for item in self.merge.drop(lambda item: item.event.customer_id == customer_id):
            writes[Tables.HELD][_held_key(self.partition, item.topic, item.offset)] = None
        self.measurer.forget(customer_id)
        return Erasure(writes, self.measurer.clock.closed_through)


class _BatchRun:
    """The working memory of one batch: cached states, pending writes and outputs."""

    def __init__(self, pipeline: MeasurePipeline, now: datetime) -> None:
        self.pipeline = pipeline
        self.measurer = pipeline.measurer
        self.topics = pipeline._topics
        self.store = pipeline._store
        self.now = now
        self.outputs: list[Outgoing] = []
        self.writes: dict[str, dict[bytes, bytes | None]] = {
            table: {} for table in (Tables.STATES, Tables.DAYS, Tables.MEASURED, Tables.HELD)
        }
        self.writes[Tables.PROGRESS] = {}
        self.committable: dict[str, int] = {}
        self.outcomes: Counter[tuple[str, str]] = Counter()
        self.dead_letters: Counter[tuple[str, str]] = Counter()
        # Customer -> (state as stored before the batch, state now, days touched).
        self.states: dict[str, tuple[CustomerState | None, CustomerState, set[datetime]]] = {}

    # --- input ------------------------------------------------------------------------------

    def watermark(self, record: InputRecord) -> None:
        """Move an input's high water, or for a wall-clock tick every input's and stream time."""
        try:
            mark = Watermark.model_validate_json(record.value or b"")
        except ValidationError:
            self.dead_letter(record, "control_invalid", "watermark is not valid JSON")
            return
        merge = self.pipeline.merge
        if record.topic == self.topics.clock:
            # A wall-clock tick speaks for every input, and stream time moves first:
            # events older than the tick (less the allowed lateness) are late.
            for source in self.topics.inputs:
                merge.observe(source, mark.stream_time)
            self.advance(mark.stream_time)
        elif record.topic in self.pipeline.sources:
            self.source_mark(record, mark.stream_time)
        elif record.topic in self.topics.inputs:
            merge.observe(record.topic, mark.stream_time)
        else:
            self.dead_letter(
                record, "control_invalid", "watermark on a topic stage 1 does not read"
            )

    def offer(self, record: InputRecord) -> None:
        """Decode an input event and buffer it in the merge and the `held` table."""
        origin = RecordOrigin(record.topic, record.partition, record.offset)
        if record.topic not in self.topics.inputs:
            self.dead_letter(record, "control_invalid", "event on a topic stage 1 does not read")
            return
        model: type[Event] = OrderEvent if record.topic == self.topics.orders else FeedbackEvent
        decoded = decode(model, record.key, record.value, origin, self.now)
        if decoded.dead_letter is not None:
            self.send_dead_letter(record, decoded.dead_letter)
            return
        event = decoded.event
        assert event is not None
        item = _Held(event, record.topic, record.offset, record)
        merge = self.pipeline.merge
        if record.topic in self.pipeline.sources:
            # The event's own time is not the input's progress: other source partitions may
            # still send older events to this partition.
            if not self.source_mark(record, None):
                return
            merge.hold(record.topic, event.occurred_at, item)
        else:
            value = record.value or b""
            letter = key_mismatch(record.key, event.customer_id, origin, self.now, value)
            if letter is not None:
                self.send_dead_letter(record, letter)
                return
            merge.offer(record.topic, event.occurred_at, item)
        key = _held_key(self.pipeline.partition, record.topic, record.offset)
        self.writes[Tables.HELD][key] = event.model_dump_json().encode()

    def source_mark(self, record: InputRecord, instant: datetime | None) -> bool:
        """A record of a repartition topic: its source partition has reached the time in its
        headers (or `instant`, a forwarded watermark's); the input's high water in the merge
        becomes the minimum over the source partitions. False when dead-lettered."""
        origin = source_of(record.headers)
        reached = instant if instant is not None or origin is None else origin[1]
        try:
            if origin is None or reached is None:
                raise ValueError("no source partition or source time header")
            high_water = self.pipeline.sources[record.topic].observe(origin[0], reached)
        except ValueError as error:
            self.dead_letter(record, "control_invalid", f"repartitioned record: {error}")
            return False
        if high_water is not None:
            self.pipeline.merge.observe(record.topic, high_water)
        return True

    def release(self) -> None:
        """Apply what the merge releases, each at its own event time, then move stream time
        to the merged time."""
        merge = self.pipeline.merge
        held = self.writes[Tables.HELD]
        for item in merge.release():
            key = _held_key(self.pipeline.partition, item.topic, item.offset)
            if held.get(key) is not None:
                del held[key]  # offered and released within this batch: never stored
            else:
                held[key] = None
            self.advance(item.event.occurred_at)
            self.apply(item)
        if merge.merged_time is not None:
            self.advance(merge.merged_time)

    # --- state ------------------------------------------------------------------------------

    def load(self, customer_id: str) -> CustomerState | None:
        """The customer's state now: this batch's if touched, else the stored one."""
        touched = self.states.get(customer_id)
        if touched is not None:
            return touched[1]
        return self._stored(customer_id)

    def _stored(self, customer_id: str) -> CustomerState | None:
        header = self.store.get(Tables.STATES, customer_id.encode())
        if header is None:
            return None
        return state_from_records(
            header, lambda day: self.store.get(Tables.DAYS, _day_key(customer_id, day))
        )

    def apply(self, item: _Held) -> None:
        """Fold one released event into its customer's state (written once, at batch end)."""
        event = item.event
        customer = event.customer_id
        was_dirty = self.measurer.is_dirty(customer)
        touched = self.states.get(customer)
        stored = touched[0] if touched is not None else self._stored(customer)
        before = touched[1] if touched is not None else stored
        state, outcome = self.measurer.apply(before, event)
        days = touched[2] if touched is not None else set()
        days.add(event.occurred_at)
        self.states[customer] = (stored, state, days)
        if not was_dirty and self.measurer.is_dirty(customer):
            key = customer.encode()
            previous = self.writes[Tables.MEASURED].get(key) or self.store.get(Tables.MEASURED, key)
            record = marked_dirty(
                self.pipeline.partition,
                None if previous is None else MeasuredRecord.from_json(previous),
            )
            self.writes[Tables.MEASURED][key] = record.to_json()
        self.outcomes[(item.topic, outcome.value)] += 1
        if item.record is not None and self.measurer.is_dirty(customer):
            self.pipeline.listener.event_applied(item.record, customer)

    # --- stream time ------------------------------------------------------------------------

    def advance(self, instant: datetime) -> None:
        """Move stream time; publish the start announcement, every closed boundary and the
        progress marker of a skip."""
        starting = self.measurer.stream_time is None
        advance: StreamAdvance = self.measurer.advance(instant, self.load)
        partition = self.pipeline.partition
        announcement = self.measurer.start_marker() if starting else None
        if announcement is not None:
            self.send(
                self.topics.ranks, str(partition).encode(), announcement.model_dump_json().encode()
            )
        for epoch in advance.closed:
            self.closed(epoch)
        progress = advance.progress(partition)
        if progress is not None:
            self.send(self.topics.measurements, None, closed_through_value(progress.closed_through))
            self.send(
                self.topics.ranks, str(partition).encode(), progress.model_dump_json().encode()
            )

    def closed(self, epoch: ClosedEpoch) -> None:
        partition = self.pipeline.partition
        self.pipeline.listener.epoch_closed(epoch)
        for customer, record in measured_after_close(partition, epoch):
            self.writes[Tables.MEASURED][customer.encode()] = record.to_json()
        for measurement in epoch.measurements:
            self.send(
                self.topics.measurements,
                measurement.customer_id.encode(),
                measurement_value(epoch.boundary, measurement_to_json(measurement)),
            )
        self.send(self.topics.measurements, None, boundary_end_value(epoch.boundary))
        self.send(
            self.topics.ranks, str(partition).encode(), epoch.summary.model_dump_json().encode()
        )

    def save_progress(self) -> None:
        sources = {topic: marks.by_source for topic, marks in self.pipeline.sources.items()}
        progress = ProgressRecord(self.pipeline.merge.high_water, self.measurer.clock, sources)
        checkpoint = progress.to_json()
        if checkpoint != self.pipeline._checkpoint:
            self.writes[Tables.PROGRESS][str(self.pipeline.partition).encode()] = checkpoint
            self.pipeline._checkpoint = checkpoint

    # --- output -----------------------------------------------------------------------------

    def send(self, topic: str, key: bytes | None, value: bytes) -> None:
        self.outputs.append(Outgoing(topic, key, value, self.pipeline.partition))

    def dead_letter(self, record: InputRecord, error_type: str, reason: str) -> None:
        origin = RecordOrigin(record.topic, record.partition, record.offset)
        letter = rejected(record.key, record.value, origin, self.now, error_type, reason)
        self.send_dead_letter(record, letter)

    def send_dead_letter(self, record: InputRecord, letter: DeadLetter) -> None:
        value = letter.model_dump_json().encode()
        self.outputs.append(
            Outgoing(self.topics.dead_letter, record.key, value, self.pipeline.partition)
        )
        self.outcomes[(record.topic, "invalid")] += 1
        self.dead_letters[(record.topic, letter.error_type)] += 1

    def result(self) -> BatchResult:
        """The batch's outputs, each touched customer's records once, and the commit points."""
        for customer, (stored, state, days) in self.states.items():
            for touched in sorted(days):
                write = state_write(stored, state, touched)
                self.writes[Tables.STATES][customer.encode()] = write.header
                for day, record in write.days.items():
                    self.writes[Tables.DAYS][_day_key(customer, day)] = record
        writes = {table: entries for table, entries in self.writes.items() if entries}
        return BatchResult(
            tuple(self.outputs), writes, dict(self.committable), self.outcomes, self.dead_letters
        )
