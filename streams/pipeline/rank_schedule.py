"""Which boundaries stage 2 of one partition ranks, and when: its measurements stream in
order, against the populations the rank barrier released.

A partition's stage 1 closes only its own boundaries, but the cut points its customers are
ranked against also move at boundaries other partitions closed. So, reading its measurements
stream (`MeasurementsItem`s), stage 2 of partition p

- at the end marker of its own boundary E_p: first sweeps (cut sweep and tier-hold expiry,
  no measurements) every released boundary after its last ranked one and before E_p, in
  order, then ranks E_p with the measurements;
- at a `closed through X` marker: sweeps every released boundary after its last ranked one,
  up to and including X.

Both wait until the barrier covers the marker's instant (every partition has handled it), so
every released boundary up to it is known. The sequence of boundaries a partition ranks is
thus every released boundary, in order, whatever the interleaving: replays are deterministic.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from schemas.tier_changed import TierChanged
from streams.pipeline.barrier import RankBarrier
from streams.pipeline.rank_stage import PartitionRanker
from tiering import Measurement

__all__ = ["BoundaryEnd", "ClosedThroughMark", "PartitionRankSchedule"]


@dataclass(frozen=True)
class BoundaryEnd:
    """The end marker of a boundary the partition closed, with its measurements."""

    boundary: datetime
    measurements: tuple[Measurement, ...] = ()


@dataclass(frozen=True)
class ClosedThroughMark:
    """The partition skipped boundaries: it has handled every one up to `through`."""

    through: datetime


MeasurementsItem = BoundaryEnd | ClosedThroughMark


def _point(item: MeasurementsItem) -> datetime:
    return item.boundary if isinstance(item, BoundaryEnd) else item.through


class PartitionRankSchedule:
    """Stage 2 of one partition: its measurements stream, ranked as the barrier allows."""

    def __init__(self, ranker: PartitionRanker, ranked_through: datetime | None = None) -> None:
        self.ranker = ranker
        # The last boundary ranked (own or swept); restored from the worker's progress.
        self.ranked_through = ranked_through
        self._items: deque[MeasurementsItem] = deque()
        # Erased customers -> the partition's last closed boundary at the erase: their
        # measurements at or before it were published before the erase and are dropped.
        # An entry goes once that boundary is ranked (no such measurement can come later).
        self.erased: dict[str, datetime] = {}

    def erase(self, customer_id: str, erased_through: datetime | None) -> None:
        """Forget a customer in the ranker, and drop its measurements published before the
        erase (those of boundaries up to `erased_through`) when they are ranked."""
        self.ranker.erase(customer_id)
        if erased_through is not None and (
            self.ranked_through is None or erased_through > self.ranked_through
        ):
            self.erased[customer_id] = erased_through

    def _unerased(self, item: BoundaryEnd) -> tuple[Measurement, ...]:
        def published_before_erase(measurement: Measurement) -> bool:
            erased_through = self.erased.get(measurement.customer_id)
            return erased_through is not None and item.boundary <= erased_through

        return tuple(m for m in item.measurements if not published_before_erase(m))

    def _prune_erased(self) -> None:
        through = self.ranked_through
        if through is not None and self.erased:
            self.erased = {c: at for c, at in self.erased.items() if at > through}

    def push(self, item: MeasurementsItem) -> None:
        """The next item of the partition's measurements stream."""
        self._items.append(item)

    def pop(self) -> MeasurementsItem | None:
        """Take the next unranked item off the queue (to move it to a restored schedule)."""
        return self._items.popleft() if self._items else None

    def waiting_for(self) -> datetime | None:
        """The instant the barrier must cover before the next item can be ranked."""
        return _point(self._items[0]) if self._items else None

    def rank_ready(self, barrier: RankBarrier) -> Iterator[tuple[datetime, list[TierChanged]]]:
        """Rank what the barrier's releases allow, yielding after each ranked boundary its
        TierChanged events (read `ranker.touched` / `ranker.entry` before resuming, as they
        describe the last boundary only). Call `barrier.release()` first."""
        covered = barrier.covered_through
        while self._items and covered is not None and _point(self._items[0]) <= covered:
            item = self._items.popleft()
            yield from self.rank_item(item, barrier)

    def rank_item(
        self, item: MeasurementsItem, barrier: RankBarrier
    ) -> Iterator[tuple[datetime, list[TierChanged]]]:
        """Rank one item the barrier covers (the worker calls this once the barrier covers
        it; `rank_ready` for in-process use)."""
        own = isinstance(item, BoundaryEnd)
        point = _point(item)
        if self.ranked_through is not None and point <= self.ranked_through:
            return  # ranked before a restart: a re-read of the measurements stream
        for boundary, population in barrier.released_between(
            self.ranked_through, point, inclusive=not own
        ):
            changes = self.ranker.rank(boundary, population, ())
            self.ranked_through = boundary
            yield boundary, changes
        if isinstance(item, BoundaryEnd):
            released = barrier.released_between(self.ranked_through, item.boundary)
            if not released or released[-1][0] != item.boundary:
                raise RuntimeError(f"boundary {item.boundary.isoformat()} is not released")
            measurements = self._unerased(item)
            changes = self.ranker.rank(item.boundary, released[-1][1], measurements)
            self.ranked_through = item.boundary
            self._prune_erased()
            yield item.boundary, changes
        elif self.ranked_through is None or self.ranked_through < point:
            self.ranked_through = point
        self._prune_erased()
