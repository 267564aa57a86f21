"""Stage 1 of the worker, for one partition: events in; at each closed epoch boundary, the
measurements of the customers that changed or fell due, and the partition's rank summary.

Pure bookkeeping (no Kafka, no Faust): the agent feeds it events and customer states and
publishes what it returns. See docs/stream-design.md.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from schemas import FeedbackEvent, OrderEvent
from streams.pipeline.due_index import DueIndex
from streams.pipeline.epochs import EpochClock
from streams.pipeline.ranks import DEFAULT_SKETCH_K, RankSummary, summarize
from tiering import CustomerState, Measurement, Outcome, Policy, apply, measure, next_due
from tiering.measure import DAY

__all__ = ["ClosedEpoch", "PartitionMeasurer"]

StateLoader = Callable[[str], CustomerState | None]


@dataclass(frozen=True)
class ClosedEpoch:
    """What closing one boundary of one partition produces."""

    boundary: datetime
    measurements: tuple[Measurement, ...]
    summary: RankSummary
    # When each measured customer is next due (same order as `measurements`).
    dues: tuple[datetime | None, ...] = ()
    # Why the measured customers are measured: "event" (changed since the last boundary)
    # or "due" (the due-index: a purchase leaves the window, recency crosses a threshold).
    causes: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class _RankedValues:
    monetary: float
    frequency: int
    last_purchase_at: datetime


class PartitionMeasurer:
    """Stream time, dirty set, due-index and ranked-value cache of one partition."""

    def __init__(
        self, partition: int, policy: Policy, epoch_seconds: int, sketch_k: int = DEFAULT_SKETCH_K
    ) -> None:
        self.partition = partition
        self._policy = policy
        self._clock = EpochClock(epoch_seconds)
        self._dirty: set[str] = set()
        self._due = DueIndex()
        self._values: dict[str, _RankedValues] = {}
        self._sketch_k = sketch_k

    @property
    def stream_time(self) -> datetime | None:
        """The latest instant this partition has seen."""
        return self._clock.stream_time

    @property
    def clock(self) -> EpochClock:
        """Stream time and closed boundaries (checkpointed with the partition's progress)."""
        return self._clock

    def is_dirty(self, customer_id: str) -> bool:
        """Whether the customer changed since the last closed boundary."""
        return customer_id in self._dirty

    @classmethod
    def restored(
        cls,
        partition: int,
        policy: Policy,
        clock: EpochClock,
        dirty: Iterable[str],
        remembered: Iterable[tuple[Measurement, datetime | None]],
        sketch_k: int = DEFAULT_SKETCH_K,
    ) -> PartitionMeasurer:
        """Rebuild a partition's bookkeeping from its checkpoint: the clock, the customers
        changed since the last close, and each customer's last measurement and due instant.
        """
        measurer = cls(partition, policy, clock.epoch_seconds, sketch_k)
        measurer._clock = clock
        measurer._dirty.update(dirty)
        for measurement, due in remembered:
            measurer._remember(measurement)
            measurer._due.schedule(measurement.customer_id, due)
        return measurer

    def advance(self, instant: datetime, load: StateLoader) -> list[ClosedEpoch]:
        """Move stream time (an event's time, a watermark, or the wall clock) and close the
        boundaries it passes. Call before applying the event at `instant`, so an epoch never
        sees events after its boundary."""
        self._clock, boundaries = self._clock.advance(instant)
        return [self._close(boundary, load) for boundary in boundaries]

    def start_summary(self) -> RankSummary | None:
        """An empty summary of the boundary before the first one this partition closes.

        Published once when stream time starts, it tells every rank barrier when the
        partition's history begins, even if the partition never closes a boundary (a
        partition whose first record is a final watermark has nothing to close).
        """
        start, first = self._clock.started_through, self._clock.first_boundary
        if start is None:
            return None
        return summarize(self.partition, start, {}, k=self._sketch_k, first_boundary=first)

    def apply(
        self, state: CustomerState | None, event: OrderEvent | FeedbackEvent
    ) -> tuple[CustomerState, Outcome]:
        """Fold the event into the customer's state and mark the customer for the next close."""
        result = apply(state, event, self._policy)
        if result.outcome is not Outcome.DUPLICATE:
            self._dirty.add(event.customer_id)
        return result.state, result.outcome

    def restore(self, state: CustomerState, as_of: datetime) -> None:
        """Rebuild the due-index and value cache for one customer after partition assignment."""
        measurement = measure(state, self._policy, as_of)
        self._remember(measurement)
        self._due.schedule(state.customer_id, next_due(state, self._policy, as_of, measurement))

    def _remember(self, measurement: Measurement) -> None:
        if measurement.active and measurement.last_purchase_at is not None:
            self._values[measurement.customer_id] = _RankedValues(
                float(measurement.monetary), measurement.frequency, measurement.last_purchase_at
            )
        else:
            self._values.pop(measurement.customer_id, None)

    def _close(self, boundary: datetime, load: StateLoader) -> ClosedEpoch:
        dirty = self._dirty
        customers = sorted(dirty.union(self._due.pop_due(boundary)))
        self._dirty = set()
        measurements = []
        dues = []
        causes = {"event": 0, "due": 0}
        for customer_id in customers:
            state = load(customer_id)
            if state is None:
                continue
            causes["event" if customer_id in dirty else "due"] += 1
            measurement = measure(state, self._policy, boundary)
            measurements.append(measurement)
            self._remember(measurement)
            due = next_due(state, self._policy, boundary, measurement)
            dues.append(due)
            self._due.schedule(customer_id, due)
        values = self._values.values()
        summary = summarize(
            self.partition,
            boundary,
            {
                "monetary": [v.monetary for v in values],
                "frequency": [float(v.frequency) for v in values],
                "recency_days": [float((boundary - v.last_purchase_at) // DAY) for v in values],
            },
            k=self._sketch_k,
            first_boundary=self._clock.first_boundary,
        )
        return ClosedEpoch(boundary, tuple(measurements), summary, tuple(dues), causes)
