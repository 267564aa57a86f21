"""The rank barrier: a boundary's population exists once every partition has handled it.

Each partition sends a `RankSummary` at the boundaries it closed and a `ClosedThrough` when it
starts and when it skips boundaries (nothing of its own changes there). The population at
boundary E is the merge, over partitions, of each partition's latest summary with as_of ≤ E
(none: the partition had no active customer yet). It is known once every partition's
closed-through is ≥ E, since a partition's records arrive in boundary order.

The released boundaries are the union of the boundaries any partition closed: deterministic
functions of the events, whatever the interleaving of partitions and workers.

A partition that sent `PartitionStopped` (stage 1 hit a record it cannot process) is not
waited for until it speaks again: its latest summary stands for it at every later boundary.
That trades exactness for liveness, visibly (the stop is alerted on): while it lasts the
other partitions rank against the stopped partition's population as of its last close. When
a worker gets past the record, the partition's next summary or closed-through makes the
barrier wait for it again, from wherever it then is.
"""

from __future__ import annotations

import bisect
from datetime import datetime

from streams.pipeline.ranks import ClosedThrough, PartitionStopped, RankSummary, SketchPopulation

__all__ = ["RankBarrier"]


class RankBarrier:
    """Collects partition records and releases complete populations in boundary order."""

    def __init__(self, partitions: int) -> None:
        if partitions < 1:
            raise ValueError("partitions must be at least 1")
        self._partitions = partitions
        # Per partition: the summaries not yet superseded by a released one, by boundary.
        self._summaries: list[dict[datetime, RankSummary]] = [{} for _ in range(partitions)]
        self._closed_through: list[datetime | None] = [None] * partitions
        # Partitions stopped by an unexpected error: not waited for (see the module doc).
        self._stopped: set[int] = set()
        self._released_through: datetime | None = None
        # Released boundaries with each partition's latest summary there; the merged
        # population is built when a ranker asks for it (and kept until forgotten), so a
        # re-read of a long ranks topic does not merge sketches for boundaries already ranked.
        self._released: list[tuple[datetime, tuple[RankSummary, ...]]] = []
        self._populations: dict[datetime, SketchPopulation] = {}

    @property
    def released_through(self) -> datetime | None:
        """The latest boundary whose population has been released."""
        return self._released_through

    @property
    def covered_through(self) -> datetime | None:
        """Every partition has handled every boundary up to this instant (None until every
        partition has spoken): no boundary at or before it can still be added, and once
        `release` has run all of them are released. Stopped partitions do not count; with
        every partition stopped nothing is covered."""
        marks = [
            mark
            for partition, mark in enumerate(self._closed_through)
            if partition not in self._stopped
        ]
        if not marks or any(mark is None for mark in marks):
            return None
        return min(mark for mark in marks if mark is not None)

    @property
    def stopped(self) -> frozenset[int]:
        """The partitions not waited for because they sent `PartitionStopped`."""
        return frozenset(self._stopped)

    def add(self, record: RankSummary | ClosedThrough | PartitionStopped) -> None:
        """Record a partition's summary, progress or stop; a later copy of a summary for the
        same boundary replaces it, and copies of released boundaries are ignored (a
        re-send). The first summary or progress after a stop sets the partition's mark to
        where it is now, even behind the boundaries released without it."""
        partition = record.partition
        if partition >= self._partitions:
            raise ValueError(f"partition {partition} of a {self._partitions}-partition barrier")
        if isinstance(record, PartitionStopped):
            self._stopped.add(partition)
            return
        at = record.as_of if isinstance(record, RankSummary) else record.closed_through
        mark = self._closed_through[partition]
        if partition in self._stopped:
            self._stopped.discard(partition)
            self._closed_through[partition] = at
        elif mark is None or at > mark:
            self._closed_through[partition] = at
        if isinstance(record, RankSummary):
            released = self._released_through
            if released is None or record.as_of > released:
                self._summaries[partition][record.as_of] = record

    def release(self) -> list[datetime]:
        """The boundaries newly complete, oldest first: the boundaries some partition
        closed, up to `covered_through` (their populations: `released_between`)."""
        covered = self.covered_through
        if covered is None:
            return []
        boundaries = sorted(
            {
                boundary
                for summaries in self._summaries
                for boundary in summaries
                if boundary <= covered
                and (self._released_through is None or boundary > self._released_through)
            }
        )
        for boundary in boundaries:
            latest = [self._latest(partition, boundary) for partition in range(self._partitions)]
            summaries = tuple(summary for summary in latest if summary is not None)
            self._released.append((boundary, summaries))
            self._released_through = boundary
        return boundaries

    def _latest(self, partition: int, boundary: datetime) -> RankSummary | None:
        """The partition's latest summary at or before `boundary`; older ones are dropped
        (boundaries are released in order, so they are never needed again)."""
        summaries = self._summaries[partition]
        eligible = [at for at in summaries if at <= boundary]
        if not eligible:
            return None
        latest = max(eligible)
        for at in eligible:
            if at != latest:
                del summaries[at]
        return summaries[latest]

    def released_between(
        self, after: datetime | None, through: datetime, *, inclusive: bool = True
    ) -> list[tuple[datetime, SketchPopulation]]:
        """Released populations with after < boundary ≤ through (< through if not
        inclusive), oldest first, among those not forgotten."""
        boundaries = [boundary for boundary, _ in self._released]
        low = 0 if after is None else bisect.bisect_right(boundaries, after)
        high = (bisect.bisect_right if inclusive else bisect.bisect_left)(boundaries, through)
        return [
            (boundary, self._population(boundary, summaries))
            for boundary, summaries in self._released[low:high]
        ]

    def _population(
        self, boundary: datetime, summaries: tuple[RankSummary, ...]
    ) -> SketchPopulation:
        population = self._populations.get(boundary)
        if population is None:
            population = SketchPopulation(summaries, boundary)
            self._populations[boundary] = population
        return population

    def forget_through(self, instant: datetime) -> None:
        """Drop released populations at or before `instant` (every ranker has passed it)."""
        boundaries = [boundary for boundary, _ in self._released]
        forgotten = bisect.bisect_right(boundaries, instant)
        for boundary in boundaries[:forgotten]:
            self._populations.pop(boundary, None)
        del self._released[:forgotten]
