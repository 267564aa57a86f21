"""A customer's state as a header plus day records: what an event writes, and what reads back."""

from __future__ import annotations

import random
from collections.abc import Iterable
from datetime import date, datetime, timedelta

from schemas import FeedbackEvent, OrderEvent
from tests.unit.builders import POLICY, days_before, feedback, purchase, refund, state_of
from tiering import CustomerState, Outcome, apply
from tiering.state_records import INLINE_ENTRIES, StateWrite, state_from_records, state_write


class _Store:
    """What a table holds for one customer: the header and the day records."""

    def __init__(self) -> None:
        self.header: bytes | None = None
        self.days: dict[date, bytes] = {}

    def store(self, write: StateWrite) -> None:
        self.header = write.header
        for day, record in write.days.items():
            if record is None:
                self.days.pop(day, None)
            else:
                self.days[day] = record

    def load(self) -> CustomerState:
        assert self.header is not None
        return state_from_records(self.header, self.days.get)


def _fold_and_store(events: Iterable[OrderEvent | FeedbackEvent]) -> tuple[_Store, CustomerState]:
    store = _Store()
    state: CustomerState | None = None
    for event in events:
        after = apply(state, event, POLICY).state
        store.store(state_write(state, after, event.occurred_at))
        state = after
    assert state is not None
    return store, state


def _daily_purchases(days: int, per_day: int, *, ending: datetime) -> list[OrderEvent]:
    return [
        purchase(ending - timedelta(days=day, hours=hour))
        for day in range(days - 1, -1, -1)
        for hour in range(per_day)
    ]


def test_a_small_state_is_one_header_record_without_day_records() -> None:
    store, state = _fold_and_store([purchase(days_before(3)), refund(days_before(1), "5")])
    assert store.days == {}
    assert store.load() == state


def test_a_large_state_reads_back_equal_from_its_header_and_day_records() -> None:
    store, state = _fold_and_store(_daily_purchases(40, 3, ending=days_before(0)))
    assert len(state.purchases) > INLINE_ENTRIES
    assert len(store.days) == 40
    assert store.load() == state


def test_a_state_read_back_from_records_still_recognises_duplicate_orders() -> None:
    events = _daily_purchases(30, 3, ending=days_before(0))
    store, _ = _fold_and_store(events)
    again = apply(store.load(), events[5], POLICY)
    assert again.outcome is Outcome.DUPLICATE


def test_an_event_on_a_large_state_rewrites_only_the_record_of_its_own_day() -> None:
    events = _daily_purchases(100, 2, ending=days_before(1))
    before = state_of(events)
    event = purchase(days_before(0.5))
    after = apply(before, event, POLICY).state
    write = state_write(before, after, event.occurred_at)
    assert list(write.days) == [event.occurred_at.date()]


def test_a_large_customer_writes_small_records_per_event() -> None:
    """A year of 70 orders a day, about the largest customer of the 200k-order bench history."""
    before = state_of(_daily_purchases(365, 70, ending=days_before(1)))
    event = purchase(days_before(0.5))
    write = state_write(before, apply(before, event, POLICY).state, event.occurred_at)
    assert len(write.header) < 1_000
    assert all(record is not None and len(record) < 10_000 for record in write.days.values())


def test_days_that_leave_the_window_are_deleted() -> None:
    early = _daily_purchases(100, 1, ending=days_before(300))
    recent = _daily_purchases(40, 2, ending=days_before(10))
    store, _ = _fold_and_store([*early, *recent])
    before = store.load()
    event = purchase(days_before(0))  # moves the window's start 10 days, over 10 early days
    after = apply(before, event, POLICY).state
    write = state_write(before, after, event.occurred_at)
    deleted = {day for day, record in write.days.items() if record is None}
    pruned = {p.occurred_at.date() for p in before.purchases if p not in after.purchases}
    assert len(pruned) == 10
    assert deleted == pruned


def test_a_state_that_shrinks_back_to_inline_deletes_all_its_day_records() -> None:
    early = _daily_purchases(40, 2, ending=days_before(400))
    store, state = _fold_and_store([*early, purchase(days_before(0))])
    assert len(state.purchases) == 1
    assert store.days == {}
    assert store.load() == state


def test_records_stay_equal_to_the_state_after_every_event_of_a_shuffled_history() -> None:
    """Out-of-order events, refunds, negative feedback, pruning and both layout transitions."""
    shuffle = random.Random(7)
    events: list[OrderEvent | FeedbackEvent] = []
    for day in range(700, -1, -3):
        at = days_before(day)
        events.append(purchase(at))
        if day % 9 == 0:
            events.append(refund(at + timedelta(hours=2), "10"))
        if day % 21 == 0:
            events.append(feedback(at + timedelta(hours=3), "complaint"))
    # Local disorder only, as a real feed has: shuffle within blocks of 12 events.
    blocks = [events[index : index + 12] for index in range(0, len(events), 12)]
    for block in blocks:
        shuffle.shuffle(block)
    store = _Store()
    state: CustomerState | None = None
    for event in (event for block in blocks for event in block):
        after = apply(state, event, POLICY).state
        store.store(state_write(state, after, event.occurred_at))
        state = after
        assert store.load() == state
