"""Epoch clock, due-index and rank barrier: the time mechanics of the worker."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from streams.pipeline.barrier import RankBarrier
from streams.pipeline.due_index import DueIndex
from streams.pipeline.epochs import EpochClock, boundary_at_or_after, boundary_at_or_before
from streams.pipeline.ranks import (
    ClosedThrough,
    PartitionStopped,
    RankSummary,
    SketchPopulation,
    summarize,
)

DAY = 86_400
MIDNIGHT = datetime(2026, 3, 2, tzinfo=UTC)


def at(days: float) -> datetime:
    return MIDNIGHT + timedelta(days=days)


# --- epochs -------------------------------------------------------------------------------


def test_boundary_at_or_before_is_the_previous_midnight_for_daily_epochs() -> None:
    assert boundary_at_or_before(at(0.5), DAY) == MIDNIGHT


def test_first_observation_handles_every_boundary_before_it() -> None:
    clock = EpochClock(DAY).observe(at(0.5))
    assert clock.closed_through == MIDNIGHT
    assert clock.next_boundary == at(1)


def test_passing_a_boundary_passes_it() -> None:
    clock = EpochClock(DAY).observe(at(0.5)).observe(at(1.25))
    assert clock.passed_through == at(1)
    assert clock.closed_through == MIDNIGHT


def test_event_exactly_at_a_boundary_does_not_pass_it() -> None:
    """The window ending at E includes E, so E is passed only once time is strictly past it."""
    clock = EpochClock(DAY).observe(at(0.5)).observe(at(1))
    assert clock.passed_through == MIDNIGHT
    clock = clock.observe(at(1) + timedelta(microseconds=1))
    assert clock.passed_through == at(1)


def test_first_event_exactly_at_a_boundary_leaves_that_boundary_to_close() -> None:
    clock = EpochClock(DAY).observe(at(1))
    assert clock.next_boundary == at(1)


def test_late_event_does_not_move_stream_time_back() -> None:
    clock = EpochClock(DAY).observe(at(2.5))
    assert clock.observe(at(1.5)) is clock


def test_boundary_at_or_after_an_instant_is_the_end_of_its_window() -> None:
    assert boundary_at_or_after(at(1), DAY) == at(1)
    assert boundary_at_or_after(at(1) + timedelta(microseconds=1), DAY) == at(2)


# --- due-index ----------------------------------------------------------------------------


def test_due_customers_come_out_earliest_first() -> None:
    index = DueIndex()
    index.schedule("late", at(3))
    index.schedule("early", at(1))
    index.schedule("never-yet", at(9))
    assert index.pop_due(at(5)) == ["early", "late"]
    assert len(index) == 1


def test_rescheduling_replaces_the_earlier_due_instant() -> None:
    index = DueIndex()
    index.schedule("c", at(1))
    index.schedule("c", at(4))
    assert index.pop_due(at(2)) == []
    assert index.pop_due(at(4)) == ["c"]


def test_clearing_a_schedule_removes_the_customer() -> None:
    index = DueIndex()
    index.schedule("c", at(1))
    index.schedule("c", None)
    assert index.pop_due(at(10)) == []
    assert len(index) == 0


# --- barrier ------------------------------------------------------------------------------


def _summary(partition: int, boundary: datetime, active: int = 1) -> RankSummary:
    values = {"monetary": [1.0] * active, "frequency": [1.0] * active, "last_purchase": [0.0]}
    return summarize(partition, boundary, values)


def _release(barrier: RankBarrier) -> list[tuple[datetime, SketchPopulation]]:
    """The newly released boundaries with their populations."""
    boundaries = barrier.release()
    if not boundaries:
        return []
    return [
        (boundary, population)
        for boundary, population in barrier.released_between(None, boundaries[-1])
        if boundary in boundaries
    ]


def _started(barrier: RankBarrier, *partitions: int) -> None:
    for partition in partitions:
        barrier.add(ClosedThrough(partition=partition, closed_through=at(0)))


def test_barrier_waits_for_every_partition() -> None:
    barrier = RankBarrier(partitions=2)
    _started(barrier, 0, 1)
    barrier.add(_summary(0, at(1)))
    assert _release(barrier) == []
    barrier.add(_summary(1, at(1)))
    released = _release(barrier)
    assert [boundary for boundary, _ in released] == [at(1)]
    assert released[0][1].active_count == 2


def test_barrier_releases_boundaries_in_order_only() -> None:
    barrier = RankBarrier(partitions=2)
    _started(barrier, 0, 1)
    barrier.add(_summary(0, at(1)))
    barrier.add(_summary(0, at(2)))
    assert _release(barrier) == []
    barrier.add(_summary(1, at(1)))
    assert [boundary for boundary, _ in _release(barrier)] == [at(1)]
    barrier.add(_summary(1, at(2)))
    assert [boundary for boundary, _ in _release(barrier)] == [at(2)]


def test_barrier_ignores_summaries_of_released_boundaries() -> None:
    barrier = RankBarrier(partitions=1)
    _started(barrier, 0)
    barrier.add(_summary(0, at(1)))
    _release(barrier)
    barrier.add(_summary(0, at(1)))
    assert _release(barrier) == []


def test_barrier_needs_at_least_one_partition() -> None:
    with pytest.raises(ValueError, match="partitions"):
        RankBarrier(partitions=0)


def test_barrier_does_not_wait_for_a_partition_before_its_first_event() -> None:
    """Partition 1 starts after boundary 2: boundaries 1 and 2 need only partition 0."""
    barrier = RankBarrier(partitions=2)
    _started(barrier, 0)
    for boundary in (at(1), at(2), at(3)):
        barrier.add(_summary(0, boundary))
    assert _release(barrier) == []
    barrier.add(ClosedThrough(partition=1, closed_through=at(2)))
    barrier.add(_summary(1, at(3)))
    released = _release(barrier)
    assert [boundary for boundary, _ in released] == [at(1), at(2), at(3)]
    assert [population.active_count for _, population in released] == [1, 1, 2]


def test_barrier_ranks_a_skipping_partition_with_its_latest_summary() -> None:
    """Partition 1 closed boundary 1 (two active customers) and skipped to 3: its summary
    of 1 speaks for it at 2 and 3, boundaries only partition 0 closed."""
    barrier = RankBarrier(partitions=2)
    _started(barrier, 0, 1)
    barrier.add(_summary(1, at(1), active=2))
    barrier.add(ClosedThrough(partition=1, closed_through=at(3)))
    for boundary in (at(1), at(2), at(3)):
        barrier.add(_summary(0, boundary))
    released = _release(barrier)
    assert [boundary for boundary, _ in released] == [at(1), at(2), at(3)]
    assert [population.active_count for _, population in released] == [3, 3, 3]


def test_barrier_releases_only_boundaries_some_partition_closed() -> None:
    barrier = RankBarrier(partitions=2)
    _started(barrier, 0, 1)
    barrier.add(_summary(0, at(1)))
    barrier.add(ClosedThrough(partition=0, closed_through=at(5)))
    barrier.add(_summary(1, at(4)))
    barrier.add(ClosedThrough(partition=1, closed_through=at(6)))
    assert [boundary for boundary, _ in _release(barrier)] == [at(1), at(4)]
    assert barrier.covered_through == at(5)


def test_barrier_does_not_wait_for_a_stopped_partition() -> None:
    """Partition 1 closed boundary 1 and then stopped: boundaries 2 and 3 are released
    with partition 0 alone waited for, and partition 1's summary of 1 standing for it."""
    barrier = RankBarrier(partitions=2)
    _started(barrier, 0, 1)
    barrier.add(_summary(1, at(1), active=2))
    barrier.add(PartitionStopped(partition=1, topic="orders", offset=7))
    for boundary in (at(1), at(2), at(3)):
        barrier.add(_summary(0, boundary))
    released = _release(barrier)
    assert [boundary for boundary, _ in released] == [at(1), at(2), at(3)]
    assert [population.active_count for _, population in released] == [3, 3, 3]
    assert barrier.stopped == {1}


def test_barrier_waits_again_for_a_stopped_partition_once_it_speaks() -> None:
    """After the stop, partition 1 is back at boundary 1 (a fixed worker took it): the
    barrier waits for it to pass the released boundary 3 before releasing 4."""
    barrier = RankBarrier(partitions=2)
    _started(barrier, 0, 1)
    barrier.add(PartitionStopped(partition=1, topic="orders", offset=7))
    for boundary in (at(1), at(2), at(3)):
        barrier.add(_summary(0, boundary))
    _release(barrier)
    barrier.add(ClosedThrough(partition=1, closed_through=at(1)))
    barrier.add(_summary(0, at(4)))
    assert _release(barrier) == []
    assert barrier.stopped == frozenset()
    barrier.add(ClosedThrough(partition=1, closed_through=at(4)))
    assert [boundary for boundary, _ in _release(barrier)] == [at(4)]


def test_barrier_with_every_partition_stopped_covers_nothing() -> None:
    barrier = RankBarrier(partitions=1)
    _started(barrier, 0)
    barrier.add(PartitionStopped(partition=0, topic="orders", offset=0))
    assert barrier.covered_through is None
