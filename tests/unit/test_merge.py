"""The event-time merge of a partition's inputs: release order depends on event times only."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest

from streams.pipeline.merge import InputMerge

START = datetime(2026, 3, 2, tzinfo=UTC)


def at(hours: float) -> datetime:
    return START + timedelta(hours=hours)


def test_nothing_is_released_until_every_input_has_spoken() -> None:
    merge: InputMerge[str] = InputMerge(["orders", "feedback"])
    merge.offer("orders", at(1), "o1")
    assert merge.release() == []
    assert merge.merged_time is None


def test_a_watermark_on_the_idle_input_releases_the_other_inputs_items() -> None:
    merge: InputMerge[str] = InputMerge(["orders", "feedback"])
    merge.offer("orders", at(1), "o1")
    merge.offer("orders", at(3), "o3")
    merge.observe("feedback", at(2))
    assert merge.release() == ["o1"]
    assert merge.merged_time == at(2)
    assert len(merge) == 1


def test_items_come_out_in_event_time_order_across_inputs() -> None:
    merge: InputMerge[str] = InputMerge(["orders", "feedback"])
    merge.offer("feedback", at(5), "f5")
    merge.offer("orders", at(1), "o1")
    merge.offer("orders", at(6), "o6")
    merge.offer("feedback", at(2), "f2")
    assert merge.release() == ["o1", "f2", "f5"]


def test_equal_times_are_ordered_by_input_position_not_arrival() -> None:
    first: InputMerge[str] = InputMerge(["orders", "feedback"])
    first.offer("feedback", at(1), "f")
    first.offer("orders", at(1), "o")
    second: InputMerge[str] = InputMerge(["orders", "feedback"])
    second.offer("orders", at(1), "o")
    second.offer("feedback", at(1), "f")
    assert first.release() == second.release() == ["o", "f"]


def test_every_interleaving_of_two_ordered_inputs_releases_the_same_sequence() -> None:
    orders = [("orders", at(hour), f"o{hour}") for hour in (1, 2, 4, 7)]
    feedback = [("feedback", at(hour), f"f{hour}") for hour in (2, 3, 7, 8)]
    outcomes = set()
    for pick_orders_first in itertools.product([True, False], repeat=8):
        merge: InputMerge[str] = InputMerge(["orders", "feedback"])
        pending_orders, pending_feedback = list(orders), list(feedback)
        released: list[str] = []
        for prefer_orders in pick_orders_first:
            source = pending_orders if (prefer_orders and pending_orders) else pending_feedback
            source = source or pending_orders
            name, instant, item = source.pop(0)
            merge.offer(name, instant, item)
            released.extend(merge.release())
        merge.observe("orders", at(9))
        merge.observe("feedback", at(9))
        released.extend(merge.release())
        outcomes.add(tuple(released))
    assert outcomes == {("o1", "o2", "f2", "f3", "o4", "o7", "f7", "f8")}


def test_high_water_never_moves_back() -> None:
    merge: InputMerge[str] = InputMerge(["orders"])
    merge.observe("orders", at(5))
    merge.offer("orders", at(2), "late")
    assert merge.high_water == {"orders": at(5)}
    assert merge.release() == ["late"]


def test_an_unknown_input_is_refused_by_name() -> None:
    merge: InputMerge[str] = InputMerge(["orders"])
    with pytest.raises(KeyError, match="unknown input 'clicks'"):
        merge.observe("clicks", at(1))
