"""Stage 1 of the worker, for one partition: events in; at each closed epoch boundary, the
measurements of the customers that changed or fell due, and the partition's rank summary.

A partition closes boundary E only when something of its own can change at E: customers
changed by events since the last close (the first boundary after them), or customers falling
due (`tiering.next_due`: a purchase or refund leaving the window or the lifecycle half,
`new` ending, recency passing the overdue threshold, feedback ageing out; the boundary at or
after the due instant). Every other boundary stream time passes is skipped: between closes
no active customer's monetary, frequency or last purchase changes, so the last summary stays
valid (recency is sketched as the last-purchase instant, see `streams.pipeline.ranks`). A
jump of stream time costs O(closed boundaries + due customers), never O(elapsed epochs).

Under the policy's `rank_within`, each measurement carries the customer's ranking group
(`groups`: customer_id -> group, read from the co-partitioned `profiles` table when the
customer is measured), and the summary sketches every group apart as well: a customer counts
in the group it had at its latest measurement.

Pure bookkeeping (no Kafka, no Faust): the agent feeds it events and customer states and
publishes what it returns. See docs/stream-design.md.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime

from schemas import FeedbackEvent, OrderEvent
from streams.pipeline.due_index import DueIndex
from streams.pipeline.epochs import EpochClock, boundary_at_or_after
from streams.pipeline.ranks import (
    DEFAULT_SKETCH_K,
    ClosedThrough,
    RankSummary,
    summarize,
    unix_seconds,
)
from tiering import CustomerState, Measurement, Outcome, Policy, apply, measure, next_due

__all__ = ["ClosedEpoch", "GroupLookup", "PartitionMeasurer", "StreamAdvance"]

StateLoader = Callable[[str], CustomerState | None]
# customer_id -> its ranking group under the policy's `rank_within` now (None: the group of
# customers without that profile dimension).
GroupLookup = Callable[[str], str | None]


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


@dataclass(frozen=True)
class StreamAdvance:
    """What one move of stream time produces, to publish in this order: each closed boundary
    (measurements, end marker, summary), then, if boundaries were skipped after the last
    one closed, the partition's new `closed_through` (a progress marker on the measurements
    and ranks topics)."""

    closed: tuple[ClosedEpoch, ...] = ()
    skipped_through: datetime | None = None

    def progress(self, partition: int) -> ClosedThrough | None:
        """The ranks-topic record of the skip, if any."""
        if self.skipped_through is None:
            return None
        return ClosedThrough(partition=partition, closed_through=self.skipped_through)


@dataclass(frozen=True, slots=True)
class _RankedValues:
    monetary: float
    frequency: int
    last_purchase_seconds: float
    group: str | None = None


class PartitionMeasurer:
    """Stream time, dirty set, due-index and ranked-value cache of one partition."""

    def __init__(
        self,
        partition: int,
        policy: Policy,
        epoch_seconds: int,
        sketch_k: int = DEFAULT_SKETCH_K,
        groups: GroupLookup | None = None,
    ) -> None:
        """`groups` is asked only under the policy's `rank_within` (without a lookup every
        customer is in the group of those without the dimension)."""
        self.partition = partition
        self._policy = policy
        self._groups = groups if policy.rank_within is not None else None
        self._clock = EpochClock(epoch_seconds)
        self._dirty: set[str] = set()
        self._due = DueIndex()
        self._values: dict[str, _RankedValues] = {}
        self._sketch_k = sketch_k
        # An erase took a customer out of `_values`: the last published summary still
        # counts it, so the next boundary closes (and summarises) even with nothing dirty.
        self._summary_stale = False

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
        groups: GroupLookup | None = None,
    ) -> PartitionMeasurer:
        """Rebuild a partition's bookkeeping from its checkpoint: the clock, the customers
        changed since the last close, and each customer's last measurement (with its group)
        and due instant.
        """
        measurer = cls(partition, policy, clock.epoch_seconds, sketch_k, groups)
        measurer._clock = clock
        measurer._dirty.update(dirty)
        for measurement, due in remembered:
            measurer._remember(measurement)
            measurer._due.schedule(measurement.customer_id, due)
        return measurer

    def advance(self, instant: datetime, load: StateLoader) -> StreamAdvance:
        """Move stream time (an event's time, a watermark, or the wall clock) and close the
        boundaries it passes at which something of this partition can change, in order.
        Call before applying the event at `instant`, so an epoch never sees events after its
        boundary.

        Closing a boundary can schedule a due instant before `instant` (a purchase measured
        at E leaves the window later in the same jump): the loop takes the next boundary
        each time, so those close too.
        """
        moved = self._clock.observe(instant)
        if moved is self._clock:
            return StreamAdvance()
        starting = self._clock.stream_time is None
        self._clock = moved
        passed = moved.passed_through
        assert passed is not None
        if starting:
            return StreamAdvance()
        closed: list[ClosedEpoch] = []
        while (boundary := self._next_close()) is not None and boundary <= passed:
            closed.append(self._close(boundary, load))
            self._clock = self._clock.closed(boundary)
        assert self._clock.closed_through is not None
        if self._clock.closed_through < passed:
            self._clock = self._clock.closed(passed)
            return StreamAdvance(tuple(closed), passed)
        return StreamAdvance(tuple(closed))

    def _next_close(self) -> datetime | None:
        """The next boundary at which something of this partition can change."""
        following = self._clock.next_boundary
        assert following is not None
        if self._dirty or self._summary_stale:
            return following
        due = self._due.earliest()
        if due is None:
            return None
        return max(following, boundary_at_or_after(due, self._clock.epoch_seconds))

    def start_marker(self) -> ClosedThrough | None:
        """Where this partition's history starts: every boundary before its first stream
        time is handled (with nothing in it).

        Published once when stream time starts, it tells every rank barrier that the
        partition holds no customer at those boundaries, even if it never closes one (a
        partition whose first record is a final watermark has nothing to close).
        """
        start = self._clock.started_through
        if start is None:
            return None
        return ClosedThrough(partition=self.partition, closed_through=start)

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
        measurement = self._measure(state, as_of)
        self._remember(measurement)
        self._due.schedule(state.customer_id, next_due(state, self._policy, as_of, measurement))

    def _measure(self, state: CustomerState, as_of: datetime) -> Measurement:
        measurement = measure(state, self._policy, as_of)
        if self._groups is None:
            return measurement
        return replace(measurement, group=self._groups(state.customer_id))

    def _remember(self, measurement: Measurement) -> None:
        if measurement.active and measurement.last_purchase_at is not None:
            self._values[measurement.customer_id] = _RankedValues(
                float(measurement.monetary),
                measurement.frequency,
                unix_seconds(measurement.last_purchase_at),
                measurement.group,
            )
        else:
            self._values.pop(measurement.customer_id, None)

    def regroup(self, customer_id: str) -> bool:
        """The customer's profile changed: under `rank_within`, when its ranking group now
        differs from the one its latest measurement counts it in, mark it for the next close
        (measured again there, it moves to its new group's sketch and stage 2 ranks it in
        that group). Only active customers are sketched, so only they are marked. True when
        marked."""
        if self._groups is None:
            return False
        values = self._values.get(customer_id)
        if values is None or values.group == self._groups(customer_id):
            return False
        self._dirty.add(customer_id)
        return True

    def forget(self, customer_id: str) -> None:
        """Erase a customer: no longer dirty, due or counted in the next summary (which the
        next boundary publishes even if nothing else changes). Its state is the caller's."""
        self._dirty.discard(customer_id)
        self._due.schedule(customer_id, None)
        if self._values.pop(customer_id, None) is not None:
            self._summary_stale = True

    def _close(self, boundary: datetime, load: StateLoader) -> ClosedEpoch:
        self._summary_stale = False
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
            measurement = self._measure(state, boundary)
            measurements.append(measurement)
            self._remember(measurement)
            due = next_due(state, self._policy, boundary, measurement)
            dues.append(due)
            self._due.schedule(customer_id, due)
        values = self._values.values()
        groups = None
        if self._policy.rank_within is not None:
            members: dict[str | None, list[_RankedValues]] = {}
            for value in values:
                members.setdefault(value.group, []).append(value)
            groups = {group: _columns(entries) for group, entries in members.items()}
        summary = summarize(self.partition, boundary, _columns(values), self._sketch_k, groups)
        return ClosedEpoch(boundary, tuple(measurements), summary, tuple(dues), causes)


def _columns(values: Iterable[_RankedValues]) -> dict[str, list[float]]:
    """The sketched metrics of some customers' ranked values, one column per metric."""
    entries = list(values)
    return {
        "monetary": [v.monetary for v in entries],
        "frequency": [float(v.frequency) for v in entries],
        "last_purchase": [v.last_purchase_seconds for v in entries],
    }
