"""The value summary kept in the customer state equals the batch summary of the raw orders."""

from __future__ import annotations

import json
import random
from datetime import timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from schemas import OrderEvent
from tests.unit.builders import AS_OF, POLICY, days_before, purchase, refund, state_of
from tiering import CustomerState, Outcome, apply, measure
from tiering.policy import Policy
from tiering.valuation import value_summary
from tiering.value import TimeUnit, ValueSummary, summarise_orders

# A short window, so that generated histories spanning years prune purchases out of it.
SHORT: Policy = POLICY.model_copy(
    update={
        "window_days": 40,
        "lifecycle": POLICY.lifecycle.model_copy(update={"half_split_days": 20}),
    }
)


@st.composite
def orders(draw: st.DrawFn) -> list[OrderEvent]:
    """Purchases (some of $0, some several on one UTC day, some repeated) and refunds."""
    count = draw(st.integers(min_value=1, max_value=30))
    events: list[OrderEvent] = []
    for index in range(count):
        at = days_before(draw(st.floats(min_value=0, max_value=700)))
        amount = str(draw(st.integers(min_value=0, max_value=300)))
        kind = draw(st.sampled_from(["purchase", "purchase", "purchase", "same_day", "refund"]))
        if kind == "refund":
            events.append(refund(at, amount))
        elif kind == "same_day" and events:
            earlier = events[-1].occurred_at.replace(hour=draw(st.integers(0, 23)))
            events.append(purchase(earlier, amount, order_id=f"o{index}"))
        else:
            events.append(purchase(at, amount, order_id=f"o{index}"))
    if draw(st.booleans()):
        events.append(events[0].model_copy(update={"event_id": "again"}))
    return events


def _stream_summary(events: list[OrderEvent], policy: Policy, unit: TimeUnit) -> ValueSummary:
    state: CustomerState | None = None
    for event in events:
        result = apply(state, event, policy)
        assert result.outcome is not Outcome.LATE
        state = result.state
    assert state is not None
    summary = value_summary(measure(state, policy, AS_OF), unit)
    assert summary is not None
    return summary


@settings(max_examples=200, deadline=None)
@given(events=orders(), seed=st.integers(), unit=st.sampled_from(list(TimeUnit)))
def test_state_summary_equals_batch_summary_for_disorder_within_the_window(
    events: list[OrderEvent], seed: int, unit: TimeUnit
) -> None:
    # Arrival order: event time plus a random delay shorter than the window, so events come
    # out of order but never later than the window (late purchases are estimated, see
    # tiering.transaction_days).
    rng = random.Random(seed)
    delays = {id(event): timedelta(days=rng.uniform(0, SHORT.window_days - 1)) for event in events}
    arrival = sorted(events, key=lambda event: event.occurred_at + delays[id(event)])
    batch = summarise_orders(events, AS_OF, unit).get("c1")
    if batch is None:  # refunds only
        return
    assert _stream_summary(arrival, SHORT, unit) == batch


def test_purchase_on_a_day_before_the_first_makes_the_old_first_day_a_repeat() -> None:
    state = state_of([purchase(days_before(10), "30"), purchase(days_before(1), "5")])
    earlier = apply(state, purchase(days_before(20), "7"), POLICY).state
    days = earlier.transaction_days
    assert (days.first_day_value, days.repeat_days, days.repeat_value) == (7, 2, 35)


def test_late_purchase_on_a_day_before_the_first_is_counted_exactly() -> None:
    state = state_of([purchase(days_before(1), "30")])
    result = apply(state, purchase(days_before(400), "7"), POLICY)
    assert result.outcome is Outcome.LATE
    days = result.state.transaction_days
    assert (days.first_day_value, days.repeat_days, days.repeat_value) == (7, 1, 30)


def test_purchase_on_the_day_of_a_pruned_purchase_is_not_a_new_transaction_day() -> None:
    first = days_before(100).replace(hour=1)
    state = state_of([purchase(first - timedelta(days=3), "1"), purchase(first, "2")], SHORT)
    # Advance the high water so that the horizon falls between the two hours of that day.
    advanced = apply(state, purchase(first + timedelta(days=SHORT.window_days, hours=2)), SHORT)
    assert advanced.state.purchases[0].occurred_at > first
    same_day = apply(advanced.state, purchase(first + timedelta(hours=20), "4"), SHORT).state
    assert same_day.transaction_days.repeat_days == 2


def _as_version_1(state: CustomerState) -> bytes:
    fields = json.loads(state.to_json())
    del fields["td"]
    fields["v"] = 1
    return json.dumps(fields).encode()


def test_version_1_state_holding_every_purchase_decodes_to_exact_figures() -> None:
    state = state_of(
        [purchase(days_before(9), "3"), purchase(days_before(5), "4"), purchase(days_before(2))]
    )
    assert CustomerState.from_json(_as_version_1(state)) == state


def test_version_1_state_with_pruned_purchases_estimates_them_at_the_mean_repeat_day() -> None:
    state = state_of(
        [
            purchase(days_before(600), "50"),
            purchase(days_before(500), "60"),
            purchase(days_before(3), "10"),
            purchase(days_before(2), "30"),
        ]
    )
    days = CustomerState.from_json(_as_version_1(state)).transaction_days
    # Held: two repeat days worth 40; unheld: the first day and one repeat day, each worth 20.
    assert (days.first_day_value, days.repeat_days, days.repeat_value) == (20, 3, Decimal(60))


def test_state_round_trips_its_transaction_days() -> None:
    state = state_of([purchase(days_before(500), "7"), purchase(days_before(2), "0")])
    decoded = CustomerState.from_json(state.to_json())
    assert decoded.transaction_days == state.transaction_days
    assert decoded.transaction_days.unheld_day is not None
