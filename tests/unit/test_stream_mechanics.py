"""Epoch clock, due-index and rank barrier: the time mechanics of the worker."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from streams.pipeline.barrier import RankBarrier
from streams.pipeline.due_index import DueIndex
from streams.pipeline.epochs import EpochClock, boundary_at_or_before
from streams.pipeline.ranks import RankSummary, summarize

DAY = 86_400
MIDNIGHT = datetime(2026, 3, 2, tzinfo=UTC)


def at(days: float) -> datetime:
    return MIDNIGHT + timedelta(days=days)


# --- epochs -------------------------------------------------------------------------------


def test_boundary_at_or_before_is_the_previous_midnight_for_daily_epochs() -> None:
    assert boundary_at_or_before(at(0.5), DAY) == MIDNIGHT


def test_first_observation_closes_nothing() -> None:
    _, closed = EpochClock(DAY).advance(at(0.5))
    assert closed == []


def test_passing_a_boundary_closes_it() -> None:
    clock, _ = EpochClock(DAY).advance(at(0.5))
    _, closed = clock.advance(at(1.25))
    assert closed == [at(1)]


def test_event_exactly_at_a_boundary_does_not_close_it() -> None:
    """The window ending at E includes E, so E closes only once time is strictly past it."""
    clock, _ = EpochClock(DAY).advance(at(0.5))
    clock, closed = clock.advance(at(1))
    assert closed == []
    _, closed = clock.advance(at(1) + timedelta(microseconds=1))
    assert closed == [at(1)]


def test_first_event_exactly_at_a_boundary_leaves_that_boundary_to_close() -> None:
    clock, _ = EpochClock(DAY).advance(at(1))
    _, closed = clock.advance(at(1.5))
    assert closed == [at(1)]


def test_a_jump_closes_every_boundary_in_between_in_order() -> None:
    clock, _ = EpochClock(DAY).advance(at(0.5))
    _, closed = clock.advance(at(3.5))
    assert closed == [at(1), at(2), at(3)]


def test_late_event_does_not_move_stream_time_back() -> None:
    clock, _ = EpochClock(DAY).advance(at(2.5))
    later, closed = clock.advance(at(1.5))
    assert later == clock
    assert closed == []


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


def _summary(partition: int, boundary: datetime) -> RankSummary:
    values = {"monetary": [1.0], "frequency": [1.0], "recency_days": [0.0]}
    return summarize(partition, boundary, values, first_boundary=at(1))


def test_barrier_waits_for_every_partition() -> None:
    barrier = RankBarrier(partitions=2)
    barrier.add(_summary(0, at(1)))
    assert barrier.release() == []
    barrier.add(_summary(1, at(1)))
    released = barrier.release()
    assert [boundary for boundary, _ in released] == [at(1)]
    assert released[0][1].active_count == 2


def test_barrier_releases_boundaries_in_order_only() -> None:
    barrier = RankBarrier(partitions=2)
    for partition in (0, 1):
        barrier.add(_summary(partition, at(2)))
    barrier.add(_summary(0, at(1)))
    assert barrier.release() == []
    barrier.add(_summary(1, at(1)))
    assert [boundary for boundary, _ in barrier.release()] == [at(1), at(2)]


def test_barrier_ignores_summaries_of_released_boundaries() -> None:
    barrier = RankBarrier(partitions=1)
    barrier.add(_summary(0, at(1)))
    barrier.release()
    barrier.add(_summary(0, at(1)))
    assert barrier.release() == []


def test_barrier_needs_at_least_one_partition() -> None:
    with pytest.raises(ValueError, match="partitions"):
        RankBarrier(partitions=0)


def test_barrier_does_not_wait_for_a_partition_before_its_first_event() -> None:
    """Partition 1 starts at boundary 3: boundaries 1 and 2 need only partition 0."""
    barrier = RankBarrier(partitions=2)
    for boundary in (at(1), at(2), at(3)):
        barrier.add(_summary(0, boundary))
    assert barrier.release() == []
    late_starter = summarize(
        1, at(3), {"monetary": [1.0], "frequency": [1], "recency_days": [0]}, first_boundary=at(3)
    )
    barrier.add(late_starter)
    released = barrier.release()
    assert [boundary for boundary, _ in released] == [at(1), at(2), at(3)]
    assert [population.active_count for _, population in released] == [1, 1, 2]


def test_clock_knows_the_first_boundary_it_closes() -> None:
    clock, _ = EpochClock(DAY).advance(at(0.5))
    assert clock.first_boundary == at(1)
