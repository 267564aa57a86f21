"""The working memory of one stage-1 batch (`MeasurePipeline.process`): the states it
loaded, the table writes and outputs it collects, and the input offsets it may commit.

`BatchRun` offers each record to the partition's event-time merge, applies the events the
merge releases to cached customer states (each touched customer written once per batch),
closes the boundaries stream time passes and turns them into measurements, end markers and
rank summaries. Events the merge holds back are written to the `held` table, keyed so that
the table's key order is their arrival order.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING

from pydantic import ValidationError

from schemas import FeedbackEvent, OrderEvent
from schemas.dead_letter import DeadLetter
from streams.pipeline.checkpoints import (
    MeasuredRecord,
    ProgressRecord,
    marked_dirty,
    measured_after_close,
)
from streams.pipeline.decode import RecordOrigin, decode, rejected
from streams.pipeline.headers import Watermark
from streams.pipeline.measure_stage import ClosedEpoch, StreamAdvance
from streams.pipeline.records import (
    BatchResult,
    InputRecord,
    Outgoing,
    Tables,
    boundary_end_value,
    closed_through_value,
    measurement_value,
)
from streams.pipeline.repartition import key_mismatch, source_of
from tiering import CustomerState
from tiering.measure import measurement_to_json
from tiering.state_records import state_from_records, state_write

if TYPE_CHECKING:
    from streams.pipeline.partition import MeasurePipeline

__all__ = ["BatchRun", "HeldEvent", "day_key", "held_key", "held_origin"]

Event = OrderEvent | FeedbackEvent


def day_key(customer_id: str, day: date) -> bytes:
    """The `days` table key of one customer's record of one day."""
    return f"{customer_id}@{day.isoformat()}".encode()


def held_key(partition: int, topic: str, offset: int) -> bytes:
    """The `held` table key of an event the merge holds: offsets zero-padded, so that the
    table's key order is the arrival order."""
    return f"{partition}|{offset:020d}|{topic}".encode()


def held_origin(key: bytes) -> tuple[int, int, str]:
    """(partition, offset, topic) of a `held` table key."""
    partition, offset, topic = key.decode().split("|", 2)
    return int(partition), int(offset), topic


@dataclass(frozen=True, slots=True)
class HeldEvent:
    """An event waiting in the merge, with where it was read."""

    event: Event
    topic: str
    offset: int
    record: InputRecord | None = None


class BatchRun:
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
        item = HeldEvent(event, record.topic, record.offset, record)
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
        key = held_key(self.pipeline.partition, record.topic, record.offset)
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
            key = held_key(self.pipeline.partition, item.topic, item.offset)
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
            header, lambda day: self.store.get(Tables.DAYS, day_key(customer_id, day))
        )

    def apply(self, item: HeldEvent) -> None:
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
                    self.writes[Tables.DAYS][day_key(customer, day)] = record
        writes = {table: entries for table, entries in self.writes.items() if entries}
        return BatchResult(
            tuple(self.outputs), writes, dict(self.committable), self.outcomes, self.dead_letters
        )
