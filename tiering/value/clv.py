"""Customer value predictions from a fitted `ValueModel` and per-customer summaries.

- `predicted_clv` = expected purchases over the horizon × expected order value (DESIGN.md),
  optionally discounted: the horizon is cut into steps of `DISCOUNT_STEP_DAYS`, and the
  purchases expected in each step are discounted to as_of by (1 + annual_rate)^(−end/365),
  end in days. With rate 0 the steps telescope to E[Y(horizon)] exactly.
- `expected_next_order_at` = last purchase + (alpha + T) / (r + x) time units: the reciprocal
  of the posterior mean purchase rate (r + x) / (alpha + T) of a customer who is alive.

`fit_value_model` fits both models on summaries taken at the calibration end.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import numpy as np
from numpy.typing import NDArray

from tiering.value import bg_nbd, gamma_gamma
from tiering.value.exceptions import ValueModelError
from tiering.value.model_file import (
    BgNbdSection,
    GammaGammaSection,
    LogLikelihoods,
    ValueModel,
)
from tiering.value.summary import TimeUnit, ValueSummary

__all__ = [
    "DEFAULT_HORIZON_DAYS",
    "DISCOUNT_STEP_DAYS",
    "FitReport",
    "Prediction",
    "fit_value_model",
    "predict",
]

DEFAULT_HORIZON_DAYS = 365
DISCOUNT_STEP_DAYS = 30
_DAYS_PER_YEAR = 365.0


@dataclass(frozen=True, slots=True)
class FitReport:
    """The fitted model and what a reader of the fit should know: Gamma-Gamma customers,
    repeaters left out for a zero repeat value, parameters at a search bound (`bg_nbd.r`),
    models whose optimiser did not report convergence."""

    model: ValueModel
    gamma_gamma_customers: int
    zero_value_customers: int
    at_bound: tuple[str, ...]
    not_converged: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Prediction:
    """One customer's value figures over a horizon (see the module docstring)."""

    customer_id: str
    p_alive: float
    expected_purchases: float
    expected_order_value: float
    predicted_clv: float
    expected_next_order_at: datetime


def fit_value_model(
    summaries: Sequence[ValueSummary], calibration_end: date, unit: TimeUnit
) -> FitReport:
    """Fit BG/NBD on every summary and Gamma-Gamma on those with x > 0 and zbar > 0.

    Customers with x > 0 whose repeat purchases sum to 0 are left out of the Gamma-Gamma fit
    (its density is 0 at zbar = 0) and counted in `zero_value_customers`.
    """
    if any(s.unit is not unit for s in summaries):
        raise ValueModelError(f"every summary must be in {unit.value}s")
    purchase_fit = bg_nbd.fit_bg_nbd(
        [s.x for s in summaries], [s.t_x for s in summaries], [s.T for s in summaries]
    )
    spenders = [s for s in summaries if s.x > 0 and s.zbar is not None and s.zbar > 0]
    repeaters = sum(1 for s in summaries if s.x > 0)
    spend_fit = gamma_gamma.fit_gamma_gamma(
        [s.x for s in spenders], [s.zbar or 0.0 for s in spenders]
    )
    p, s = purchase_fit.params, spend_fit.params
    model = ValueModel(
        bg_nbd=BgNbdSection(r=p.r, alpha=p.alpha, a=p.a, b=p.b),
        gamma_gamma=GammaGammaSection(p=s.p, q=s.q, v=s.v),
        time_unit=unit,
        calibration_end=calibration_end,
        customers=purchase_fit.customers,
        log_likelihood=LogLikelihoods(
            bg_nbd=purchase_fit.log_likelihood, gamma_gamma=spend_fit.log_likelihood
        ),
    )
    at_bound = (
        *(f"bg_nbd.{name}" for name in purchase_fit.at_bound),
        *(f"gamma_gamma.{name}" for name in spend_fit.at_bound),
    )
    not_converged = tuple(
        name
        for name, fit in (("bg_nbd", purchase_fit), ("gamma_gamma", spend_fit))
        if not fit.converged
    )
    return FitReport(model, spend_fit.customers, repeaters - len(spenders), at_bound, not_converged)


def _discounted_purchases(
    params: bg_nbd.BgNbdParams,
    horizon: float,
    unit_days: int,
    annual_rate: float,
    columns: tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]],
) -> NDArray[np.float64]:
    total = np.zeros_like(columns[0])
    previous = np.zeros_like(columns[0])
    step = DISCOUNT_STEP_DAYS / unit_days
    end = 0.0
    while end < horizon:
        end = min(end + step, horizon)
        cumulative = bg_nbd.expected_purchases(params, end, *columns)
        total += (cumulative - previous) / (1 + annual_rate) ** (end * unit_days / _DAYS_PER_YEAR)
        previous = cumulative
    return total


def predict(
    model: ValueModel,
    summaries: Sequence[ValueSummary],
    horizon_days: float = DEFAULT_HORIZON_DAYS,
    annual_discount_rate: float = 0.0,
) -> list[Prediction]:
    """Predictions for each summary (same order), over `horizon_days` from the summaries'
    as_of. Summaries must be in the model's time unit."""
    unit = model.time_unit
    if any(s.unit is not unit for s in summaries):
        raise ValueModelError(f"summaries must be in the model's time unit ({unit.value})")
    if horizon_days < 0 or annual_discount_rate < 0:
        raise ValueModelError("horizon and discount rate must be >= 0")
    purchase, spend = model.bg_nbd.params(), model.gamma_gamma.params()
    columns = (
        np.array([s.x for s in summaries], dtype=np.float64),
        np.array([s.t_x for s in summaries], dtype=np.float64),
        np.array([s.T for s in summaries], dtype=np.float64),
    )
    horizon = horizon_days / unit.days
    alive = bg_nbd.p_alive(purchase, *columns)
    purchases = bg_nbd.expected_purchases(purchase, horizon, *columns)
    discounted = (
        purchases
        if annual_discount_rate == 0
        else _discounted_purchases(purchase, horizon, unit.days, annual_discount_rate, columns)
    )
    order_value = gamma_gamma.expected_order_value(spend, columns[0], [s.zbar for s in summaries])
    wait = (purchase.alpha + columns[2]) / (purchase.r + columns[0]) * unit.days
    return [
        Prediction(
            customer_id=s.customer_id,
            p_alive=float(alive[i]),
            expected_purchases=float(purchases[i]),
            expected_order_value=float(order_value[i]),
            predicted_clv=float(discounted[i] * order_value[i]),
            expected_next_order_at=s.last_purchase_at + timedelta(days=float(wait[i])),
        )
        for i, s in enumerate(summaries)
    ]
