"""Population-independent definitions (DESIGN.md, default policy), case by case at boundaries."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from schemas import Lifecycle, Risk
from tests.unit.builders import AS_OF, POLICY, days_before, feedback, purchase, refund, state_of
from tiering import measure


def test_purchase_exactly_window_days_before_as_of_is_outside_the_half_open_window() -> None:
    """Window is (as_of - 365d, as_of]: an order at exactly as_of - 365d does not count."""
    result = measure(state_of([purchase(days_before(365))]), POLICY, AS_OF)
    assert result.frequency == 0
    assert not result.active


def test_purchase_just_inside_the_window_counts() -> None:
    result = measure(
        state_of([purchase(days_before(365) + timedelta(microseconds=1))]), POLICY, AS_OF
    )
    assert result.frequency == 1
    assert result.active


def test_purchase_at_as_of_itself_counts() -> None:
    assert measure(state_of([purchase(AS_OF)]), POLICY, AS_OF).frequency == 1


def test_frequency_counts_distinct_orders_and_keeps_refunded_ones() -> None:
    events = [purchase(days_before(10), order_id="a"), purchase(days_before(5), order_id="b")]
    events.append(refund(days_before(2), "100", order_id="a"))
    assert measure(state_of(events), POLICY, AS_OF).frequency == 2


def test_refund_making_monetary_zero_keeps_the_customer_active() -> None:
    """100 bought, 100 refunded: monetary 0, frequency 1, still active."""
    result = measure(
        state_of([purchase(days_before(3), "100"), refund(days_before(1), "100")]), POLICY, AS_OF
    )
    assert result.monetary == Decimal(0)
    assert result.active


def test_monetary_is_floored_at_zero_when_refunds_exceed_purchases() -> None:
    """Purchase of 100 in the window, refund of 150 (for an older order): max(0, -50) = 0."""
    result = measure(
        state_of([purchase(days_before(3), "100"), refund(days_before(1), "150")]), POLICY, AS_OF
    )
    assert result.monetary == Decimal(0)


def test_monetary_nets_purchases_refunds_and_cancels() -> None:
    """300 + 200 - 50 (refund) - 200 (cancel) = 250."""
    events = [
        purchase(days_before(30), "300"),
        purchase(days_before(20), "200"),
        refund(days_before(10), "50"),
        refund(days_before(5), "200", kind="cancel"),
    ]
    assert measure(state_of(events), POLICY, AS_OF).monetary == Decimal(250)


def test_margin_basis_sums_margins_and_missing_margins_count_zero() -> None:
    policy = POLICY.model_copy(update={"basis": POLICY.basis.MARGIN})
    events = [purchase(days_before(3), "100", margin="30"), purchase(days_before(2), "100")]
    assert measure(state_of(events, policy), policy, AS_OF).monetary == Decimal(30)


def test_recency_days_is_floored_whole_days_since_the_last_purchase() -> None:
    """Last purchase 2.99 days ago: recency_days = floor(2.99) = 2."""
    result = measure(state_of([purchase(days_before(2.99))]), POLICY, AS_OF)
    assert result.recency_days == 2


def test_recency_uses_the_last_purchase_ever_even_outside_the_window() -> None:
    result = measure(state_of([purchase(days_before(400))]), POLICY, AS_OF)
    assert result.recency_days == 400
    assert not result.active


def test_first_purchase_exactly_90_days_ago_is_new() -> None:
    assert measure(state_of([purchase(days_before(90))]), POLICY, AS_OF).lifecycle is Lifecycle.NEW


def test_first_purchase_just_over_90_days_ago_is_no_longer_new() -> None:
    result = measure(
        state_of([purchase(days_before(90) - timedelta(microseconds=1))]), POLICY, AS_OF
    )
    assert result.lifecycle is not Lifecycle.NEW


def test_inactive_customer_is_churned_in_lifecycle_and_risk() -> None:
    result = measure(
        state_of([purchase(days_before(500)), purchase(days_before(400))]), POLICY, AS_OF
    )
    assert (result.lifecycle, result.risk) == (Lifecycle.CHURNED, Risk.CHURNED)


def test_growth_when_second_half_is_at_least_1_2_times_the_first() -> None:
    """h1 = 100 (300 days ago), h2 = 120 (10 days ago): 120 >= 1.2 × 100 → growth."""
    events = [purchase(days_before(300), "100"), purchase(days_before(10), "120")]
    assert measure(state_of(events), POLICY, AS_OF).lifecycle is Lifecycle.GROWTH


def test_decline_when_second_half_is_at_most_0_8_times_the_first() -> None:
    events = [purchase(days_before(300), "100"), purchase(days_before(10), "80")]
    assert measure(state_of(events), POLICY, AS_OF).lifecycle is Lifecycle.DECLINE


def test_mature_between_the_growth_and_decline_ratios() -> None:
    events = [purchase(days_before(300), "100"), purchase(days_before(10), "100")]
    assert measure(state_of(events), POLICY, AS_OF).lifecycle is Lifecycle.MATURE


def test_mature_when_both_halves_are_zero_after_refunds() -> None:
    events = [purchase(days_before(300), "100"), refund(days_before(299), "100")]
    events += [purchase(days_before(100), "50"), refund(days_before(99), "50")]
    assert measure(state_of(events), POLICY, AS_OF).lifecycle is Lifecycle.MATURE


def test_purchase_exactly_at_the_half_split_belongs_to_the_first_half() -> None:
    """h1 = (as_of-365d, as_of-182d]: an order at as_of-182d is in h1, so h2 = 0 → decline."""
    events = [purchase(days_before(200), "10"), purchase(days_before(182), "100")]
    assert measure(state_of(events), POLICY, AS_OF).lifecycle is Lifecycle.DECLINE


def test_overdue_customer_is_at_risk() -> None:
    """Purchases 100 and 90 days ago: gap 10, threshold max(30, 20) = 30; recency 90 > 30."""
    events = [purchase(days_before(100)), purchase(days_before(90))]
    assert measure(state_of(events), POLICY, AS_OF).risk is Risk.AT_RISK


def test_recency_equal_to_the_threshold_is_not_yet_overdue() -> None:
    """Gap 20 days → threshold max(30, 40) = 40; recency exactly 40 is not > 40."""
    events = [purchase(days_before(60)), purchase(days_before(40))]
    assert measure(state_of(events), POLICY, AS_OF).risk is Risk.OK


def test_single_purchase_customer_is_never_overdue() -> None:
    assert measure(state_of([purchase(days_before(300))]), POLICY, AS_OF).risk is Risk.OK


def test_complaint_within_30_days_makes_an_active_customer_at_risk() -> None:
    events = [purchase(days_before(5)), feedback(days_before(29), "complaint", 1)]
    assert measure(state_of(events), POLICY, AS_OF).risk is Risk.AT_RISK


def test_complaint_exactly_30_days_ago_has_aged_out() -> None:
    events = [purchase(days_before(5)), feedback(days_before(30), "complaint", 1)]
    assert measure(state_of(events), POLICY, AS_OF).risk is Risk.OK


def test_csat_of_2_is_negative_but_3_is_not() -> None:
    low = [purchase(days_before(5)), feedback(days_before(1), "csat", 2)]
    fine = [purchase(days_before(5)), feedback(days_before(1), "csat", 3)]
    assert measure(state_of(low), POLICY, AS_OF).risk is Risk.AT_RISK
    assert measure(state_of(fine), POLICY, AS_OF).risk is Risk.OK
