"""Global ranks across partitions from mergeable quantile sketches (Apache DataSketches KLL).

Each partition owner summarises its active customers' monetary and frequency values and
last-purchase instants in one KLL sketch per metric and publishes it; every worker merges the
latest summary of each partition into a `SketchPopulation` *at a boundary E*, which answers
the domain's rank questions ("what share of active customers has a strictly greater
monetary?") for all partitions at once.

Recency is sketched as the last-purchase instant l (Unix seconds, a float: exact to the
microsecond up to year 2255) rather than as recency_days, because recency_days moves with
time while l does not: a summary stays valid at every later boundary until the partition
closes another one. At boundary E, recency_days(l) = floor((E − l) / 1 day), so

- recency_days > r  ⇔  E − l ≥ (r + 1) days  ⇔  l ≤ E − (r + 1) days  (inclusive rank of that
  instant), and
- recency_days < r  ⇔  E − l < r days  ⇔  l > E − r days.

KLL keeps every item while the sketch holds fewer than about `k` items, so small populations
are ranked exactly; beyond that the normalised rank error is about 1.65 × 200 / k (DataSketches
documentation), i.e. ~0.02 % at the default k = 16,384.

Wire format of the ranks topic (version 2): a `RankSummary` (`"kind": "summary"`) at each
boundary the partition closed, a `ClosedThrough` (`"kind": "closed_through"`) when the
partition starts and whenever it passed boundaries with nothing to close, and a
`PartitionStopped` (`"kind": "stopped"`) when an unexpected error stopped the partition.
Read them with `parse_ranks_record`.

Under a policy's `rank_within` (rank within industry, size or region) a summary also carries
`groups`: the same three sketches per ranking group of the partition's active customers (the
group of customers without that profile field is `group: null`), and
`SketchPopulation.within(group)` answers for one group over all partitions. The field is
additive (absent, not null, in summaries of policies without `rank_within`, so those encode
as before).
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Annotated, Literal

from datasketches import kll_doubles_sketch
from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    TypeAdapter,
    model_serializer,
)

__all__ = [
    "DEFAULT_SKETCH_K",
    "METRICS",
    "ClosedThrough",
    "GroupSketches",
    "PartitionStopped",
    "RankSummary",
    "RanksRecord",
    "SketchPopulation",
    "parse_ranks_record",
    "summarize",
    "unix_seconds",
]

DEFAULT_SKETCH_K = 16_384
# Sketched metrics: monetary, frequency, and the last-purchase instant in Unix seconds.
METRICS = ("monetary", "frequency", "last_purchase")
_UNIX_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_DAY_SECONDS = 86_400


def unix_seconds(instant: datetime) -> float:
    """Seconds since the Unix epoch (microseconds / 10⁶, correctly rounded)."""
    return (instant - _UNIX_EPOCH) / timedelta(seconds=1)


class GroupSketches(BaseModel):
    """One ranking group's sketches within a partition's summary (see the module doc)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    # The value of the policy's `rank_within` dimension; None: customers without it.
    group: str | None
    active_count: int = Field(ge=0)
    sketches_b64: dict[str, str]


class RankSummary(BaseModel):
    """One partition's distribution of the ranked metrics at a boundary it closed.

    Valid at every later boundary up to the partition's next summary: between closes nothing
    of the partition's active customers' monetary, frequency or last purchase changes.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["summary"] = "summary"
    version: Literal[2] = 2
    partition: int = Field(ge=0)
    as_of: AwareDatetime
    active_count: int = Field(ge=0)
    sketches_b64: dict[str, str]
    # Per ranking group under `rank_within`; None (and absent from the JSON) without it.
    groups: tuple[GroupSketches, ...] | None = None

    def sketch(self, metric: str) -> kll_doubles_sketch:
        """The deserialised sketch of one metric."""
        return kll_doubles_sketch.deserialize(base64.b64decode(self.sketches_b64[metric]))

    @model_serializer(mode="wrap")
    def _groups_only_when_ranked_within(
        self, handler: SerializerFunctionWrapHandler
    ) -> dict[str, object]:
        data: dict[str, object] = handler(self)
        if self.groups is None:
            data.pop("groups", None)
        return data


class ClosedThrough(BaseModel):
    """A partition has handled every boundary up to `closed_through` (its summaries of the
    ones it closed were published before this record), so its latest summary speaks for it
    at each of them. The first one a partition sends says where its history starts."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["closed_through"] = "closed_through"
    version: Literal[2] = 2
    partition: int = Field(ge=0)
    closed_through: AwareDatetime


class PartitionStopped(BaseModel):
    """A partition's stage 1 stopped at a record it cannot process (an unexpected error).

    Until the partition speaks again (a summary or closed-through from a worker that gets
    past the record), the barrier does not wait for it: its latest summary stands for it at
    every later boundary, so the other partitions' ranking goes on. Sent outside any
    transaction: the stopped partition commits nothing more that could carry it.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["stopped"] = "stopped"
    version: Literal[2] = 2
    partition: int = Field(ge=0)
    topic: str = Field(min_length=1, max_length=249)  # Kafka's longest topic name
    offset: int = Field(ge=0)


RanksRecord = Annotated[RankSummary | ClosedThrough | PartitionStopped, Field(discriminator="kind")]
_RANKS_ADAPTER: TypeAdapter[RankSummary | ClosedThrough | PartitionStopped] = TypeAdapter(
    RanksRecord
)


def parse_ranks_record(raw: bytes) -> RankSummary | ClosedThrough | PartitionStopped:
    """Decode a value of the ranks topic (raises pydantic's ValidationError, also for the
    version-1 summaries of earlier releases)."""
    return _RANKS_ADAPTER.validate_json(raw)


def _sketched(values: Mapping[str, Iterable[float]], k: int) -> tuple[int, dict[str, str]]:
    """(number of customers, base64 KLL sketch per metric) of one set of values."""
    sketches: dict[str, str] = {}
    active_count = 0
    for metric in METRICS:
        sketch = kll_doubles_sketch(k)
        for value in values.get(metric, ()):
            sketch.update(float(value))
        active_count = max(active_count, sketch.n)
        sketches[metric] = base64.b64encode(sketch.serialize()).decode("ascii")
    return active_count, sketches


def summarize(
    partition: int,
    as_of: datetime,
    values: Mapping[str, Iterable[float]],
    k: int = DEFAULT_SKETCH_K,
    groups: Mapping[str | None, Mapping[str, Iterable[float]]] | None = None,
) -> RankSummary:
    """Sketch each metric's values (one value per active customer of the partition), and,
    under `rank_within`, each group's values (`groups`: group -> values, same shape)."""
    active_count, sketches = _sketched(values, k)
    grouped = None
    if groups is not None:
        # Sorted (None first) so that the same partition state encodes the same bytes.
        ordered = sorted(groups.items(), key=lambda item: (item[0] is not None, item[0] or ""))
        grouped = tuple(
            GroupSketches(group=group, active_count=count, sketches_b64=group_sketches)
            for group, (count, group_sketches) in (
                (group, _sketched(group_values, k)) for group, group_values in ordered
            )
        )
    return RankSummary(
        partition=partition,
        as_of=as_of,
        active_count=active_count,
        sketches_b64=sketches,
        groups=grouped,
    )


def _merged(sketch_sets: Iterable[Mapping[str, str]], k: int) -> dict[str, kll_doubles_sketch]:
    merged = {metric: kll_doubles_sketch(k) for metric in METRICS}
    for sketches in sketch_sets:
        for metric in METRICS:
            merged[metric].merge(kll_doubles_sketch.deserialize(base64.b64decode(sketches[metric])))
    return merged


class SketchPopulation:
    """Population ranks at boundary `as_of`, merged from partition summaries; implements
    tiering's `Population` (metrics monetary, frequency, recency_days)."""

    def __init__(
        self, summaries: Iterable[RankSummary], as_of: datetime, k: int = DEFAULT_SKETCH_K
    ) -> None:
        self._summaries = tuple(summaries)
        self._k = k
        self._set(_merged((summary.sketches_b64 for summary in self._summaries), k), as_of)
        # Group populations built so far (`within`); merged on first use, then kept.
        self._groups: dict[str | None, SketchPopulation] = {}

    def _set(self, sketches: dict[str, kll_doubles_sketch], as_of: datetime) -> None:
        self._sketches = sketches
        self._active_count = int(sketches["monetary"].n)
        self.as_of = as_of
        self._as_of_seconds = unix_seconds(as_of)

    def within(self, group: str | None) -> SketchPopulation:
        """The population of one ranking group (under `rank_within`) at the same boundary:
        the merge of that group's sketches over every partition's summary (empty when no
        partition has an active customer in it). Merged on first use, O(partitions)."""
        population = self._groups.get(group)
        if population is None:
            population = SketchPopulation((), self.as_of, self._k)
            sketch_sets = (
                entry.sketches_b64
                for summary in self._summaries
                for entry in summary.groups or ()
                if entry.group == group
            )
            population._set(_merged(sketch_sets, self._k), self.as_of)
            self._groups[group] = population
        return population

    @property
    def active_count(self) -> int:
        """Number of active customers over all partitions."""
        return self._active_count

    # `metric` is a RankedMetric (a StrEnum) or its value: both compare and hash as the
    # plain string, so no str() conversion is needed on this hot path (the cut sweep and every
    # classification ask it).

    def share_greater(self, metric: str, value: float) -> float:
        """Fraction of active customers whose metric is strictly greater than `value`."""
        if metric == "recency_days":
            # recency_days > r  ⇔  last purchase ≤ E − (r + 1) days.
            limit = self._as_of_seconds - (float(value) + 1) * _DAY_SECONDS
            return self._share_at_or_below("last_purchase", limit)
        sketch = self._sketches[metric]
        if sketch.is_empty():
            return 0.0
        return self._rest(sketch, float(sketch.get_rank(float(value), True)))

    def share_smaller(self, metric: str, value: float) -> float:
        """Fraction of active customers whose metric is strictly smaller than `value`."""
        if metric == "recency_days":
            # recency_days < r  ⇔  last purchase > E − r days.
            limit = self._as_of_seconds - float(value) * _DAY_SECONDS
            sketch = self._sketches["last_purchase"]
            if sketch.is_empty():
                return 0.0
            return self._rest(sketch, self._share_at_or_below("last_purchase", limit))
        sketch = self._sketches[metric]
        if sketch.is_empty():
            return 0.0
        return self._whole(sketch, float(sketch.get_rank(float(value), False)))

    def _share_at_or_below(self, metric: str, value: float) -> float:
        sketch = self._sketches[metric]
        if sketch.is_empty():
            return 0.0
        return self._whole(sketch, float(sketch.get_rank(value, True)))

    @staticmethod
    def _whole(sketch: kll_doubles_sketch, rank: float) -> float:
        """The share as a ratio of whole weights, w / n (KLL weights are integers), as the
        batch's exact ranks compute it."""
        count = int(sketch.n)
        return round(rank * count) / count

    @staticmethod
    def _rest(sketch: kll_doubles_sketch, rank: float) -> float:
        """1 − rank as (n − w) / n, so that a share exactly at a cut (17 of 85 above: 0.2)
        is not read as 1 − 0.8 = 0.19999999999999996 and put in the class above."""
        count = int(sketch.n)
        return (count - round(rank * count)) / count
