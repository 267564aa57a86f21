"""A measured customer's value figures under a fitted value model (the stream's side of #14).

The summary (x, t_x, T, zbar) comes from the lifetime figures the customer state keeps
(`tiering.transaction_days`) through the same core as batch (`summarise_transactions`), and
the predictions from `tiering.value.predict` over `horizon_days` (default 365) from as_of.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from tiering.measure import Measurement
from tiering.transaction_days import utc_day
from tiering.value import (
    DEFAULT_HORIZON_DAYS,
    TimeUnit,
    ValueModel,
    ValueSummary,
    predict,
    summarise_transactions,
)

__all__ = ["ValueFigures", "value_figures", "value_summary"]


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
    measurement: Measurement, model: ValueModel, horizon_days: float = DEFAULT_HORIZON_DAYS
) -> ValueFigures | None:
    """p_alive, predicted_clv and expected_next_order_at; None when there is no summary."""
    summary = value_summary(measurement, model.time_unit)
    if summary is None:
        return None
    (prediction,) = predict(model, [summary], horizon_days)
    return ValueFigures(
        p_alive=prediction.p_alive,
        predicted_clv=prediction.predicted_clv,
        expected_next_order_at=prediction.expected_next_order_at,
    )
