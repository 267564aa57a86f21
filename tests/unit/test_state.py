"""The per-customer fold: duplicates, late and out-of-order events, bounds, serialisation."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.unit.builders import AS_OF, POLICY, days_before, feedback, purchase, refund, state_of
from tiering import CustomerState, Outcome, TieringError, apply, measure


def test_repeated_purchase_with_the_same_order_id_is_a_duplicate() -> None:
    first = purchase(days_before(3), "100", order_id="o1")
    again = purchase(days_before(3), "999", order_id="o1")
    state = state_of([first])
    result = apply(state, again, POLICY)
    assert result.outcome is Outcome.DUPLICATE
    assert result.state == state


def test_same_refund_event_twice_subtracts_once() -> None:
    repeated = refund(days_before(1), "40")
    state = state_of([purchase(days_before(3), "100"), repeated, repeated])
    assert measure(state, POLICY, AS_OF).monetary == 60


def test_out_of_order_purchase_inside_the_window_is_applied_exactly() -> None:
    in_order = state_of(
        [purchase(days_before(50), order_id="a"), purchase(days_before(5), order_id="b")]
    )
    reversed_order = state_of(
        [purchase(days_before(5), order_id="b"), purchase(days_before(50), order_id="a")]
    )
    assert in_order == reversed_order


def test_purchase_older_than_the_window_touches_lifetime_figures_only() -> None:
    state = state_of([purchase(days_before(1), order_id="new")])
    result = apply(state, purchase(days_before(400), order_id="old"), POLICY)
    assert result.outcome is Outcome.LATE
    assert result.state.purchase_count == 2
    assert result.state.first_purchase_at == days_before(400)
    assert len(result.state.purchases) == 1
    assert result.state.late_events == 1


def test_state_keeps_only_the_window_of_ten_years_of_daily_orders() -> None:
    events = [purchase(days_before(day), "1") for day in range(3650, -1, -1)]
    state = state_of(events)
    assert len(state.purchases) == 365
    assert state.purchase_count == 3651


def test_state_round_trips_through_its_json_bytes() -> None:
    state = state_of(
        [
            purchase(days_before(3), "12.50", margin="3.10"),
            refund(days_before(1), "2.5"),
            feedback(days_before(2), "complaint", 2),
        ]
    )
    assert CustomerState.from_json(state.to_json()) == state


def test_state_of_another_schema_version_is_refused() -> None:
    raw = state_of([purchase(days_before(3))]).to_json().replace(b'"v":2', b'"v":99')
    with pytest.raises(TieringError, match="schema_version"):
        CustomerState.from_json(raw)


def test_event_of_another_customer_is_refused() -> None:
    with pytest.raises(TieringError, match="customer"):
        apply(state_of([purchase(days_before(3))]), purchase(days_before(2), customer="c2"), POLICY)


def test_measuring_before_the_latest_event_is_refused() -> None:
    with pytest.raises(TieringError, match="before the latest applied event"):
        measure(state_of([purchase(AS_OF)]), POLICY, AS_OF - timedelta(days=1))


def test_measurement_round_trips_through_its_json_bytes() -> None:
    from tiering.measure import measurement_from_json, measurement_to_json

    state = state_of(
        [
            purchase(days_before(40), "12.50"),
            purchase(days_before(3)),
            feedback(days_before(2), "complaint", 2),
        ]
    )
    measured = measure(state, POLICY, AS_OF)
    assert measurement_from_json(measurement_to_json(measured)) == measured


def test_measurement_seen_later_only_moves_recency() -> None:
    from tiering.measure import at_later_instant

    measured = measure(state_of([purchase(days_before(3))]), POLICY, AS_OF)
    later = at_later_instant(measured, AS_OF + timedelta(days=2))
    assert later.recency_days == measured.recency_days + 2
    assert (later.monetary, later.frequency, later.risk) == (
        measured.monetary,
        measured.frequency,
        measured.risk,
    )
