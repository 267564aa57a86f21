"""What stage 1's pure pipeline takes and returns: consumed records, records to send,
table writes and commit points, and the read-only view of the tables it is given.

The types the transport (the Faust worker, LocalPipeline, tests) and the pipeline
(streams.pipeline.partition) agree on; no Faust, no I/O.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from streams.pipeline.measure_stage import ClosedEpoch
from streams.pipeline.rank_schedule import BoundaryEnd, ClosedThroughMark
from tiering import Measurement
from tiering.measure import measurement_from_dict

__all__ = [
    "BatchResult",
    "InputRecord",
    "Outgoing",
    "PipelineListener",
    "StageOneTopics",
    "StateStore",
    "Tables",
    "boundary_end_value",
    "closed_through_value",
    "measurement_value",
    "parse_measurements_record",
]


class Tables:
    """Names of the changelog-backed tables stage 1 reads and writes."""

    STATES = "customer-state"
    DAYS = "customer-state-days"
    PROGRESS = "progress"
    MEASURED = "measured"
    HELD = "held"


class PipelineListener(Protocol):
    """What the worker's metrics want to see, in processing order (no effect on outputs)."""

    def event_applied(self, record: InputRecord, customer_id: str) -> None:
        """A released event changed its customer, who is measured at the next boundary."""

    def epoch_closed(self, epoch: ClosedEpoch) -> None:
        """The partition closed a boundary."""


class StateStore(Protocol):
    """Read access to the tables as of the last committed batch."""

    def get(self, table: str, key: bytes) -> bytes | None:
        """The stored value, or None."""

    def items(self, table: str) -> Iterable[tuple[bytes, bytes]]:
        """Every entry of a table (read once, when a partition is restored)."""


@dataclass(frozen=True, slots=True)
class StageOneTopics:
    """The topics stage 1 reads (`orders`, `feedback`, `clock`) and writes."""

    orders: str
    feedback: str
    clock: str
    measurements: str
    ranks: str
    dead_letter: str
    # Inputs read from their stage-0 repartition topic (records of every source partition,
    # interleaved): their progress is the minimum over `source_partitions` sources.
    repartitioned: frozenset[str] = frozenset()
    source_partitions: int = 1

    @property
    def inputs(self) -> tuple[str, str]:
        """The merged inputs, in tie-break order (orders first at equal event times)."""
        return (self.orders, self.feedback)


@dataclass(frozen=True, slots=True)
class InputRecord:
    """One consumed Kafka record."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...] = ()


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One record to send (always to the processed partition of its topic)."""

    topic: str
    key: bytes | None
    value: bytes
    partition: int
    headers: tuple[tuple[str, bytes], ...] = ()


@dataclass(frozen=True)
class BatchResult:
    """What one batch produces; send, write and commit it together."""

    outputs: tuple[Outgoing, ...]
    writes: Mapping[str, Mapping[bytes, bytes | None]]
    committable: Mapping[str, int]
    # (input topic, outcome) -> records: tiering's outcomes (applied, duplicate, ...) and
    # "invalid" for dead letters.
    outcomes: Counter[tuple[str, str]] = field(default_factory=Counter)
    # (input topic, error type) -> dead letters.
    dead_letters: Counter[tuple[str, str]] = field(default_factory=Counter)


def measurement_value(boundary: datetime, measurement_json: bytes) -> bytes:
    """A measurement record of the measurements topic: `{"boundary": iso, "m": {...}}`."""
    return b'{"boundary":"' + boundary.isoformat().encode() + b'","m":' + measurement_json + b"}"


def boundary_end_value(boundary: datetime) -> bytes:
    """The end marker of a boundary on the measurements topic: `{"boundary": iso, "end":
    true}`."""
    return json.dumps({"boundary": boundary.isoformat(), "end": True}).encode()


def closed_through_value(through: datetime) -> bytes:
    """The progress marker of the measurements topic: the partition skipped boundaries and
    has handled every one up to `through` (`{"closed_through": iso}`; no boundary, no end)."""
    return json.dumps({"closed_through": through.isoformat()}).encode()


def parse_measurements_record(
    raw: bytes,
) -> tuple[datetime, Measurement] | BoundaryEnd | ClosedThroughMark:
    """Decode a value of the measurements topic: a measurement with its boundary, the end
    marker of a boundary (its measurements are the ones before it, which the reader
    collects), or a progress marker."""
    data = json.loads(raw)
    if "closed_through" in data:
        return ClosedThroughMark(datetime.fromisoformat(data["closed_through"]))
    boundary = datetime.fromisoformat(data["boundary"])
    if data.get("end"):
        return BoundaryEnd(boundary)
    return boundary, measurement_from_dict(data["m"])
