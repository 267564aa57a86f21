"""A measured customer's value figures under a fitted value model (the stream's side of #14).

The summary (x, t_x, T, zbar) comes from the lifetime figures the customer state keeps
(`tiering.transaction_days`) through the same core as batch (`summarise_transactions`), and
the predictions from `tiering.value.predict` over `horizon_days` (default 365) from as_of.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta

from tiering.measure import Measurement
from tiering.transaction_days import utc_day
from tiering.value import (
    DEFAULT_HORIZON_DAYS,
    TimeUnit,
    ValueModel,
    ValueSummary,
    bg_nbd,
    predict,
    summarise_transactions,
)

__all__ = ["ValueFigures", "p_alive_falls_below_at", "value_figures", "value_summary"]


@dataclass(frozen=True, slots=True)
class ValueFigures:
    """What a classification carries from the value model."""

    p_alive: float
    predicted_clv: float
    expected_next_order_at: datetime


def value_summary(measurement: Measurement, unit: TimeUnit) -> ValueSummary | None:
    """The customer's (x, t_x, T, zbar) at the measurement's as_of; None without a purchase
    or when the measurement predates the carried figures."""
    first, last = measurement.first_purchase_at, measurement.last_purchase_at
    if (
        first is None
        or last is None
        or measurement.repeat_days is None
        or measurement.repeat_value is None
    ):
        return None
    return summarise_transactions(
        measurement.customer_id,
        utc_day(first),
        utc_day(last),
        measurement.repeat_days,
        measurement.repeat_value,
        last,
        measurement.as_of,
        unit,
    )


def value_figures(
    measurement: Measurement,
    model: ValueModel,
    horizon_days: float = DEFAULT_HORIZON_DAYS,
    annual_discount_rate: float = 0.0,
) -> ValueFigures | None:
    """p_alive, predicted_clv (over `horizon_days`, discounted at `annual_discount_rate`) and
    expected_next_order_at; None when there is no summary."""
    summary = value_summary(measurement, model.time_unit)
    if summary is None:
        return None
    (prediction,) = predict(model, [summary], horizon_days, annual_discount_rate)
    return ValueFigures(
        p_alive=prediction.p_alive,
        predicted_clv=prediction.predicted_clv,
        expected_next_order_at=prediction.expected_next_order_at,
    )


def p_alive_falls_below_at(
    measurement: Measurement, model: ValueModel, threshold: float
) -> datetime | None:
    """The first instant at which p_alive is below `threshold` if no purchase comes (None
    when it never will: x = 0 keeps p_alive at 1). May be at or before the as_of.

    With x > 0, p_alive = 1 / (1 + a/(b + x − 1) · ((alpha + T)/(alpha + t_x))^(r + x))
    falls as T grows, and is below θ exactly when
    T > T* = (alpha + t_x) · ((1/θ − 1) · (b + x − 1)/a)^(1/(r + x)) − alpha.
    T counts whole UTC days since the first transaction day (in the model's unit), so the
    instant is the UTC midnight starting the first day whose T passes T*; the day is checked
    against `bg_nbd.p_alive` itself, so float rounding cannot put it a day off.
    """
    summary = value_summary(measurement, model.time_unit)
    if summary is None or summary.x == 0:
        return None
    params = model.bg_nbd.params()
    x, t_x, unit_days = summary.x, summary.t_x, model.time_unit.days
    ratio = ((1 / threshold - 1) * (params.b + x - 1) / params.a) ** (1 / (params.r + x))
    critical = (params.alpha + t_x) * ratio - params.alpha

    def below(days: int) -> bool:
        return float(bg_nbd.p_alive(params, [x], [t_x], [days / unit_days])[0]) < threshold

    days = max(0, math.floor(critical * unit_days) + 1)
    while not below(days):
        days += 1
    while days > 0 and below(days - 1):
        days -= 1
    first_purchase_at = measurement.first_purchase_at
    assert first_purchase_at is not None  # a summary exists
    first_day = datetime.combine(utc_day(first_purchase_at), time(), tzinfo=UTC)
    return first_day + timedelta(days=days)
