"""What the worker keeps in its changelog-backed tables besides customer state, as bytes.

A worker killed with SIGKILL restarts from its tables (restored from their changelogs) and
the input offsets committed with them, so everything the two stages remember must be in a
table, written in the same transaction as the outputs it led to:

- `progress` (one key per partition): each input's high water and the epoch clock;
- `measured` (one key per customer): stage 1's last measurement of the customer, when it is
  next due, and whether it changed since the last closed boundary;
- `ranked` (one key per customer): stage 2's latest measurement, classification and tier hold,
  and when and against what figures it was last evaluated (what `GET /customers/{id}`
  answers with; records written before that was kept have none until the next boundary).

Per-customer records carry their partition so a restore can pick its partition's keys.
Pure encoding; versioned like `CustomerState` so a later release can read them.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from schemas import Classification, ClassificationMetrics
from streams.pipeline.epochs import EpochClock
from streams.pipeline.measure_stage import ClosedEpoch, GroupLookup, PartitionMeasurer
from streams.pipeline.rank_stage import (
    LastEvaluation,
    ManagerLookup,
    PartitionRanker,
    ProfileLookup,
)
from tiering import Measurement, Policy, TierHold
from tiering.measure import measurement_from_json, measurement_to_json
from tiering.value import ValueModel

__all__ = [
    "MeasuredRecord",
    "ProgressRecord",
    "RankedRecord",
    "marked_dirty",
    "measured_after_close",
    "restore_measurer",
    "restore_ranker",
]

_VERSION = 1


def _iso(instant: datetime | None) -> str | None:
    return None if instant is None else instant.isoformat()


def _instant(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


def _load(raw: bytes) -> dict[str, Any]:
    data = json.loads(raw)
    if data.get("v") != _VERSION:
        raise ValueError(f"unsupported checkpoint version {data.get('v')!r}")
    return data  # type: ignore[no-any-return]


@dataclass(frozen=True)
class ProgressRecord:
    """A partition's stream-time progress: each input's high water, the epoch clock, and for
    a repartitioned input the high water of each of its source partitions (absent from
    records written before repartitioning existed, which read as none)."""

    high_water: dict[str, datetime]
    clock: EpochClock
    sources: dict[str, dict[int, datetime]] = field(default_factory=dict)

    def to_json(self) -> bytes:
        """Encode."""
        data: dict[str, Any] = {
            "v": _VERSION,
            "hw": {source: _iso(at) for source, at in self.high_water.items()},
            "clock": self.clock.to_json(),
        }
        if self.sources:
            data["src"] = {
                topic: {str(partition): _iso(at) for partition, at in marks.items()}
                for topic, marks in self.sources.items()
            }
        return json.dumps(data).encode()

    @staticmethod
    def from_json(raw: bytes) -> ProgressRecord:
        """Decode."""
        data = _load(raw)
        high_water = {source: datetime.fromisoformat(at) for source, at in data["hw"].items()}
        sources = {
            topic: {int(partition): datetime.fromisoformat(at) for partition, at in marks.items()}
            for topic, marks in data.get("src", {}).items()
        }
        return ProgressRecord(high_water, EpochClock.from_json(data["clock"]), sources)


@dataclass(frozen=True)
class MeasuredRecord:
    """Stage 1's memory of one customer."""

    partition: int
    measurement: Measurement | None
    due: datetime | None
    dirty: bool

    def to_json(self) -> bytes:
        """Encode."""
        measurement = (
            None if self.measurement is None else json.loads(measurement_to_json(self.measurement))
        )
        return json.dumps(
            {
                "v": _VERSION,
                "p": self.partition,
                "m": measurement,
                "due": _iso(self.due),
                "dirty": self.dirty,
            }
        ).encode()

    @staticmethod
    def from_json(raw: bytes) -> MeasuredRecord:
        """Decode."""
        data = _load(raw)
        raw_measurement = data["m"]
        measurement = (
            None
            if raw_measurement is None
            else measurement_from_json(json.dumps(raw_measurement).encode())
        )
        return MeasuredRecord(
            data["p"],
            measurement,
            _instant(data["due"]),
            bool(data["dirty"]),
        )


@dataclass(frozen=True)
class RankedRecord:
    """Stage 2's memory of one customer."""

    partition: int
    measurement: Measurement
    classification: Classification | None
    hold: TierHold
    evaluation: LastEvaluation | None = None

    def to_json(self) -> bytes:
        """Encode."""
        evaluation = self.evaluation
        return json.dumps(
            {
                "v": _VERSION,
                "p": self.partition,
                "m": json.loads(measurement_to_json(self.measurement)),
                "c": None
                if self.classification is None
                else self.classification.model_dump(mode="json"),
                "hold": {
                    "tier": self.hold.tier,
                    "below_since": _iso(self.hold.below_since),
                },
                "e": None
                if evaluation is None
                else {
                    "as_of": evaluation.as_of.isoformat(),
                    "metrics": evaluation.metrics.model_dump(mode="json"),
                    "policy": evaluation.policy_version,
                    "vm": evaluation.value_model_version,
                },
            }
        ).encode()

    @staticmethod
    def from_json(raw: bytes) -> RankedRecord:
        """Decode."""
        data = _load(raw)
        hold = data["hold"]
        # Absent from records written before evaluations were kept: additive, same version.
        evaluated = data.get("e")
        return RankedRecord(
            data["p"],
            measurement_from_json(json.dumps(data["m"]).encode()),
            None if data["c"] is None else Classification.model_validate(data["c"]),
            TierHold(
                hold["tier"],
                _instant(hold["below_since"]),
            ),
            None
            if evaluated is None
            else LastEvaluation(
                datetime.fromisoformat(evaluated["as_of"]),
                ClassificationMetrics.model_validate(evaluated["metrics"]),
                evaluated["policy"],
                evaluated.get("vm"),  # absent before contract 1.4: no value model
            ),
        )


def measured_after_close(partition: int, epoch: ClosedEpoch) -> list[tuple[str, MeasuredRecord]]:
    """The `measured` records a closed boundary rewrites: every customer measured at it."""
    return [
        (measurement.customer_id, MeasuredRecord(partition, measurement, due, dirty=False))
        for measurement, due in zip(epoch.measurements, epoch.dues, strict=True)
    ]


def marked_dirty(partition: int, previous: MeasuredRecord | None) -> MeasuredRecord:
    """The `measured` record of a customer that just changed."""
    if previous is None:
        return MeasuredRecord(partition, None, None, dirty=True)
    return MeasuredRecord(partition, previous.measurement, previous.due, dirty=True)


def restore_measurer(
    partition: int,
    policy: Policy,
    progress: ProgressRecord,
    records: Iterable[tuple[str, MeasuredRecord]],
    groups: GroupLookup | None = None,
) -> PartitionMeasurer:
    """Stage 1 of a partition from its checkpoint records (records of other partitions are
    skipped); `groups`: the ranking-group lookup under `rank_within`."""
    mine = [(customer, record) for customer, record in records if record.partition == partition]
    return PartitionMeasurer.restored(
        partition,
        policy,
        progress.clock,
        dirty=[customer for customer, record in mine if record.dirty],
        remembered=[
            (record.measurement, record.due) for _, record in mine if record.measurement is not None
        ],
        groups=groups,
    )


def restore_ranker(
    partition: int,
    policy: Policy,
    records: Iterable[RankedRecord],
    managers: ManagerLookup | None = None,
    value_model: ValueModel | None = None,
    profiles: ProfileLookup | None = None,
) -> PartitionRanker:
    """Stage 2 of a partition from its checkpoint records (account managers come from
    `managers` when a change is ranked; they are not checkpointed)."""
    return PartitionRanker.restored(
        policy,
        (
            (record.measurement, record.classification, record.hold)
            for record in records
            if record.partition == partition
        ),
        managers,
        value_model,
        profiles,
    )
