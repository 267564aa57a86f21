"""What counts as a change, and when a silent customer must be looked at again."""

from __future__ import annotations

from datetime import timedelta

from schemas import AbcClass, ChangedField, Classification, Direction, Lifecycle, Risk
from tests.unit.builders import AS_OF, POLICY, days_before, feedback, purchase, state_of
from tiering import diff, measure, next_due

BASE = Classification(
    tier="B",
    abc_class=AbcClass.B,
    scores=None,
    segment=None,
    lifecycle=Lifecycle.MATURE,
    risk=Risk.OK,
)


def test_first_classification_is_an_initial_change_of_every_counted_field() -> None:
    change = diff(None, BASE, POLICY)
    assert change is not None
    assert change.direction is Direction.INITIAL
    assert change.changes == POLICY.counted_changes


def test_identical_classification_is_no_change() -> None:
    assert diff(BASE, BASE.model_copy(), POLICY) is None


def test_tier_up_is_an_upgrade() -> None:
    change = diff(BASE, BASE.model_copy(update={"tier": "A", "abc_class": AbcClass.A}), POLICY)
    assert change is not None
    assert (change.changes, change.direction) == ((ChangedField.TIER,), Direction.UPGRADE)


def test_risk_change_in_the_same_tier_is_lateral() -> None:
    change = diff(BASE, BASE.model_copy(update={"risk": Risk.AT_RISK}), POLICY)
    assert change is not None
    assert (change.changes, change.direction) == ((ChangedField.RISK,), Direction.LATERAL)


def test_abc_class_alone_is_not_a_counted_change() -> None:
    """A class change held back by hysteresis does not change the tier: no event."""
    assert diff(BASE, BASE.model_copy(update={"abc_class": AbcClass.C}), POLICY) is None


def test_policy_decides_which_fields_count() -> None:
    tier_only = POLICY.model_copy(update={"counted_changes": (ChangedField.TIER,)})
    assert diff(BASE, BASE.model_copy(update={"risk": Risk.AT_RISK}), tier_only) is None


def test_silent_customer_is_due_when_it_becomes_overdue() -> None:
    """Purchases 20 and 10 days ago: threshold 30 days; recency 31 (> 30) at last + 31 days."""
    state = state_of([purchase(days_before(20)), purchase(days_before(10))])
    assert next_due(state, POLICY, AS_OF) == days_before(10) + timedelta(days=31)


def test_complaint_ageing_out_is_due() -> None:
    state = state_of([purchase(days_before(1)), feedback(days_before(2), "complaint", 1)])
    assert next_due(state, POLICY, AS_OF) == days_before(2) + timedelta(days=30)


def test_new_stage_ending_is_due_just_after_90_days() -> None:
    state = state_of([purchase(days_before(1))])
    assert next_due(state, POLICY, AS_OF) == days_before(1) + timedelta(days=90, microseconds=1)


def test_customer_with_nothing_left_to_change_is_never_due() -> None:
    state = state_of([purchase(days_before(800))])
    assert next_due(state, POLICY, AS_OF) is None


def test_oldest_purchase_in_the_window_is_due_when_it_leaves_the_window() -> None:
    # One purchase already outside the window, one about to leave it, recent ones after.
    entries = [days_before(400), days_before(364.5), *(days_before(d) for d in range(60, 0, -3))]
    state = state_of([purchase(at) for at in entries])
    assert next_due(state, POLICY, AS_OF) == days_before(364.5) + timedelta(days=365)


def test_next_due_given_the_measurement_equals_next_due_measuring_itself() -> None:
    state = state_of(
        [purchase(days_before(d)) for d in (300, 200, 40, 20)]
        + [feedback(days_before(5), "complaint", 1)]
    )
    measurement = measure(state, POLICY, AS_OF)
    assert next_due(state, POLICY, AS_OF, measurement) == next_due(state, POLICY, AS_OF)
