"""Stage 0: inputs that are not keyed by customer_id, re-keyed through an internal topic.

Stage 1 needs each customer's events on the partition its state lives on: the partition
Kafka's default partitioner gives the key customer_id (murmur2 of the key bytes, positive,
modulo the partition count). An input declared not keyed that way
(`TIERSTREAM_TOPICS__ORDERS_KEYED_BY_CUSTOMER=false`) is read by a stage-0 agent that sends
each valid event on to `{app}-{input}-repartition`, keyed by customer_id, to that partition.

Stream time must survive the shuffle. A target partition receives records from every source
partition, interleaved as the producers' writes land, so no single record says how far the
input has got. Each record therefore carries its source partition and that source's high
water (the latest event time or watermark seen on it), and the high water of the
repartitioned input on a target partition is the minimum over all source partitions
(`SourceWatermarks`, the same idea as the rank barrier): a target never releases an event
while some source partition may still send an older one. A source that sends a target no
event would hold it back, so stage 0 also sends its progress, as a watermark, to every target
partition when its high water enters a new epoch or a watermark arrives on it
(`SourceProgress`).

Pure bookkeeping, no Kafka client; the worker sends and receives the records.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

from aiokafka.partitioner import murmur2

from schemas.dead_letter import DeadLetter
from streams.pipeline.decode import KEY_MISMATCH, RecordOrigin, rejected

__all__ = [
    "KEY_MISMATCH",
    "SOURCE_PARTITION_HEADER",
    "SOURCE_TIME_HEADER",
    "SourceProgress",
    "SourceWatermarks",
    "customer_partition",
    "key_mismatch",
    "source_of",
]

SOURCE_PARTITION_HEADER = "tierstream-source-partition"
SOURCE_TIME_HEADER = "tierstream-source-time"
_EPOCH_ZERO = datetime(1970, 1, 1, tzinfo=UTC)


def customer_partition(customer_id: str, partitions: int) -> int:
    """The partition Kafka's default partitioner picks for key `customer_id` (UTF-8):
    `(murmur2(key) & 0x7fffffff) % partitions`, as the Java client and aiokafka compute it."""
    if partitions < 1:
        raise ValueError("partitions must be at least 1")
    return int((murmur2(customer_id.encode()) & 0x7FFFFFFF) % partitions)


def key_mismatch(
    key: bytes | None, customer_id: str, origin: RecordOrigin, rejected_at: datetime, value: bytes
) -> DeadLetter | None:
    """A dead letter when a record of a customer-keyed input is not keyed by its customer_id.

    Such a record sits on a partition that may not hold the customer's state; applying it
    there would rank the customer twice or not at all. Rejected loudly instead, with the
    setting that fixes it in the reason.
    """
    if key == customer_id.encode():
        return None
    what = "has no key" if key is None else "is keyed by something other than its customer_id"
    reason = (
        f"record {what} on an input declared keyed by customer; key it by customer_id or "
        "set TIERSTREAM_TOPICS__<INPUT>_KEYED_BY_CUSTOMER=false to repartition it"
    )
    return rejected(key, value, origin, rejected_at, KEY_MISMATCH, reason)


def _epoch_index(instant: datetime, epoch_seconds: int) -> int:
    return int((instant - _EPOCH_ZERO).total_seconds() // epoch_seconds)


class SourceProgress:
    """Stage 0's view of one source partition: its high water, and when every target
    partition must hear it."""

    def __init__(self, epoch_seconds: int) -> None:
        if epoch_seconds < 1:
            raise ValueError("epoch_seconds must be at least 1")
        self._epoch_seconds = epoch_seconds
        self.high_water: datetime | None = None
        self._announced_epoch: int | None = None

    def event(self, occurred_at: datetime) -> bool:
        """An event of this source at `occurred_at`; True when its high water entered an
        epoch not yet announced to every target (then call `announced`)."""
        self._observe(occurred_at)
        assert self.high_water is not None
        epoch = _epoch_index(self.high_water, self._epoch_seconds)
        return self._announced_epoch is None or epoch > self._announced_epoch

    def watermark(self, stream_time: datetime) -> None:
        """A watermark on this source: always announced to every target."""
        self._observe(stream_time)

    def announced(self) -> None:
        """The current high water went to every target partition."""
        if self.high_water is not None:
            self._announced_epoch = _epoch_index(self.high_water, self._epoch_seconds)

    def _observe(self, instant: datetime) -> None:
        if self.high_water is None or instant > self.high_water:
            self.high_water = instant


class SourceWatermarks:
    """A target partition's view of a repartitioned input: each source partition's high
    water, and the input's high water = their minimum (None until every source has spoken).

    Records from one source partition arrive in the order it sent them, each after every
    event of that source older than the high water it carries (for sources written in event
    time order), so nothing older than the minimum can still be on its way.
    """

    def __init__(self, sources: int, known: Mapping[int, datetime] | None = None) -> None:
        if sources < 1:
            raise ValueError("sources must be at least 1")
        self._sources = sources
        self._high_water: dict[int, datetime] = {}
        for source, instant in (known or {}).items():
            self.observe(source, instant)

    def observe(self, source: int, instant: datetime) -> datetime | None:
        """Source partition `source` has reached `instant` (never moves back); returns the
        input's high water."""
        if not 0 <= source < self._sources:
            raise ValueError(f"source partition {source} is not in 0..{self._sources - 1}")
        current = self._high_water.get(source)
        if current is None or instant > current:
            self._high_water[source] = instant
        return self.high_water

    @property
    def high_water(self) -> datetime | None:
        """Minimum over the source partitions, once each has reported."""
        if len(self._high_water) < self._sources:
            return None
        return min(self._high_water.values())

    @property
    def by_source(self) -> dict[int, datetime]:
        """Each source partition's high water (for checkpoints)."""
        return dict(self._high_water)


def source_of(headers: Sequence[tuple[str, bytes]] | None) -> tuple[int, datetime | None] | None:
    """(source partition, source high water) from a repartitioned record's headers, or None
    when the record does not carry them."""
    partition: int | None = None
    instant: datetime | None = None
    for name, value in headers or ():
        if name == SOURCE_PARTITION_HEADER:
            partition = int(value)
        elif name == SOURCE_TIME_HEADER:
            instant = datetime.fromisoformat(value.decode())
    return None if partition is None else (partition, instant)
