"""Per-customer (x, t_x, T, zbar) from order events (DESIGN.md, "Customer value")."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tests.unit.builders import purchase, refund
from tiering.value import TimeUnit, ValueModelError, summarise_days, summarise_orders

AS_OF = datetime(1997, 9, 30, 23, 59, 59, tzinfo=UTC)


def _at(month: int, day: int, hour: int = 12) -> datetime:
    return datetime(1997, month, day, hour, tzinfo=UTC)


def test_purchases_on_the_same_utc_day_are_one_transaction_with_summed_value() -> None:
    orders = [purchase(_at(1, 1)), purchase(_at(2, 1, 9), "10"), purchase(_at(2, 1, 18), "30")]
    summary = summarise_orders(orders, AS_OF, TimeUnit.DAY)["c1"]
    assert (summary.x, summary.zbar) == (1, 40.0)


def test_first_transaction_is_left_out_of_zbar() -> None:
    orders = [purchase(_at(1, 1), "1000"), purchase(_at(2, 1), "10"), purchase(_at(3, 1), "20")]
    assert summarise_orders(orders, AS_OF, TimeUnit.DAY)["c1"].zbar == 15.0


def test_customer_with_one_transaction_has_x_zero_and_no_zbar() -> None:
    summary = summarise_orders([purchase(_at(1, 1))], AS_OF, TimeUnit.DAY)["c1"]
    assert (summary.x, summary.t_x, summary.zbar) == (0, 0.0, None)


def test_refunds_are_not_transactions() -> None:
    orders = [purchase(_at(1, 1)), refund(_at(3, 1), "50")]
    summary = summarise_orders(orders, AS_OF, TimeUnit.DAY)["c1"]
    assert (summary.x, summary.t_x) == (0, 0.0)


def test_purchases_after_as_of_are_left_out() -> None:
    orders = [purchase(_at(1, 1)), purchase(_at(10, 1))]
    assert summarise_orders(orders, AS_OF, TimeUnit.DAY)["c1"].x == 0


def test_duplicate_order_rows_count_once() -> None:
    orders = [
        purchase(_at(1, 1)),
        purchase(_at(2, 1), order_id="o-x"),
        purchase(_at(3, 1), order_id="o-x"),
    ]
    assert summarise_orders(orders, AS_OF, TimeUnit.DAY)["c1"].x == 1


def test_times_in_weeks_are_whole_utc_days_over_seven() -> None:
    """First purchase 1997-01-01, last 1997-08-02, as_of 1997-09-30: t_x = 213 / 7 = 30.43 and
    T = 272 / 7 = 38.86 weeks (the paper's customer with x = 2)."""
    orders = [purchase(_at(1, 1, 23)), purchase(_at(1, 18, 1)), purchase(_at(8, 2))]
    summary = summarise_orders(orders, AS_OF, TimeUnit.WEEK)["c1"]
    assert (summary.x, round(summary.t_x, 2), round(summary.T, 2)) == (2, 30.43, 38.86)


def test_last_purchase_at_is_the_latest_purchase_instant() -> None:
    orders = [purchase(_at(3, 1, 18)), purchase(_at(3, 1, 9)), purchase(_at(1, 1))]
    assert summarise_orders(orders, AS_OF, TimeUnit.DAY)["c1"].last_purchase_at == _at(3, 1, 18)


def test_summarising_no_purchase_day_is_refused() -> None:
    with pytest.raises(ValueModelError, match="no purchase day"):
        summarise_days("c1", {}, _at(1, 1), AS_OF, TimeUnit.DAY)
