"""Population ranks: how a customer's values compare with all active customers'.

The scoring code only asks two questions, so the batch scorer (exact, below) and the stream
(merged quantile sketches, `streams.pipeline.ranks`) can answer them in their own way.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from enum import StrEnum
from typing import Protocol

__all__ = ["ExactPopulation", "Population", "RankedMetric"]


class RankedMetric(StrEnum):
    """Metrics ranked across customers. For recency_days lower is better (fresher)."""

    MONETARY = "monetary"
    FREQUENCY = "frequency"
    RECENCY_DAYS = "recency_days"


class Population(Protocol):
    """The distribution of ranked metrics over all active customers."""

    @property
    def active_count(self) -> int:
        """Number of active customers."""
        ...

    def share_greater(self, metric: RankedMetric, value: float) -> float:
        """Fraction of active customers whose metric is strictly greater than `value`."""
        ...

    def share_smaller(self, metric: RankedMetric, value: float) -> float:
        """Fraction of active customers whose metric is strictly smaller than `value`."""
        ...


class ExactPopulation:
    """Exact ranks from every active customer's values (sorted arrays and bisection)."""

    def __init__(self, values: dict[RankedMetric, Iterable[float]]) -> None:
        self._sorted = {
            metric: sorted(float(v) for v in values.get(metric, ())) for metric in RankedMetric
        }
        counts = {len(column) for column in self._sorted.values()}
        if len(counts) > 1:
            raise ValueError("every ranked metric needs one value per active customer")
        self._count = counts.pop() if counts else 0

    @property
    def active_count(self) -> int:
        """Number of active customers."""
        return self._count

    def share_greater(self, metric: RankedMetric, value: float) -> float:
        """count(v > value) / count, by bisection."""
        if self._count == 0:
            return 0.0
        column = self._sorted[metric]
        return (self._count - bisect.bisect_right(column, value)) / self._count

    def share_smaller(self, metric: RankedMetric, value: float) -> float:
        """count(v < value) / count, by bisection."""
        if self._count == 0:
            return 0.0
        return bisect.bisect_left(self._sorted[metric], value) / self._count
