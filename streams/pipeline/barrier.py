"""The rank barrier: a boundary's population exists once every partition has summarised it."""

from __future__ import annotations

from datetime import datetime

from streams.pipeline.ranks import RankSummary, SketchPopulation

__all__ = ["RankBarrier"]


class RankBarrier:
    """Collects partition summaries per boundary and releases complete populations in order."""

    def __init__(self, partitions: int) -> None:
        if partitions < 1:
            raise ValueError("partitions must be at least 1")
        self._partitions = partitions
        self._pending: dict[datetime, dict[int, RankSummary]] = {}
        self._first_boundary: dict[int, datetime] = {}
        self._released_through: datetime | None = None

    @property
    def released_through(self) -> datetime | None:
        """The latest boundary whose population has been released."""
        return self._released_through

    def add(self, summary: RankSummary) -> None:
        """Record a partition's summary; a later copy for the same boundary replaces it."""
        self._first_boundary.setdefault(summary.partition, summary.first_boundary)
        if self._released_through is not None and summary.as_of <= self._released_through:
            return
        self._pending.setdefault(summary.as_of, {})[summary.partition] = summary

    def release(self) -> list[tuple[datetime, SketchPopulation]]:
        """Populations of the boundaries now complete, oldest first.

        A boundary is released only when it and every earlier pending boundary are complete,
        so classifications are always made in boundary order.
        """
        released: list[tuple[datetime, SketchPopulation]] = []
        for boundary in sorted(self._pending):
            summaries = self._pending[boundary]
            if not all(self._covers(partition, boundary) for partition in range(self._partitions)):
                break
            released.append((boundary, SketchPopulation(summaries.values())))
            del self._pending[boundary]
            self._released_through = boundary
        return released

    def _covers(self, partition: int, boundary: datetime) -> bool:
        """A partition's summary of `boundary` is in, or the partition started after it."""
        if partition in self._pending.get(boundary, {}):
            return True
        first = self._first_boundary.get(partition)
        return first is not None and boundary < first
