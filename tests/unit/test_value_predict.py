"""CLV predictions from a model and summaries (tiering.value.clv)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from tiering.value import TimeUnit, ValueModel, ValueSummary, predict
from tiering.value.gamma_gamma import GammaGammaParams, population_mean

MODEL = ValueModel.model_validate(
    {
        "bg_nbd": {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426},
        "gamma_gamma": {"p": 6.25, "q": 3.74, "v": 15.44},
        "time_unit": "week",
        "calibration_end": date(1997, 9, 30),
        "customers": 2357,
        "log_likelihood": {"bg_nbd": -9582.4, "gamma_gamma": -4055.9},
    }
)
LAST = datetime(1997, 8, 2, tzinfo=UTC)


def _summary(x: int = 2, zbar: float | None = 22.35) -> ValueSummary:
    return ValueSummary("c1", x, 30.43 if x else 0.0, 38.86, zbar, LAST, TimeUnit.WEEK)


def test_predicted_clv_is_expected_purchases_times_expected_order_value() -> None:
    (prediction,) = predict(MODEL, [_summary()], horizon_days=273)
    assert prediction.predicted_clv == pytest.approx(
        prediction.expected_purchases * prediction.expected_order_value, rel=1e-12
    )


def test_horizon_in_days_is_converted_to_the_models_weeks() -> None:
    """273 days = 39 weeks: the paper's 1.226 expected purchases (Fader, Hardie & Lee 2005)."""
    (prediction,) = predict(MODEL, [_summary()], horizon_days=273)
    assert prediction.expected_purchases == pytest.approx(1.226, abs=5e-4)


def test_next_order_is_last_purchase_plus_reciprocal_posterior_rate() -> None:
    """(alpha + T) / (r + x) = (4.414 + 38.86) / 2.243 = 19.293 weeks = 135.05 days."""
    (prediction,) = predict(MODEL, [_summary()])
    waited = prediction.expected_next_order_at - LAST
    assert waited / timedelta(days=1) == pytest.approx((4.414 + 38.86) / 2.243 * 7, rel=1e-9)


def test_customer_without_repeat_value_gets_the_population_mean_order_value() -> None:
    (zero_value, no_repeat) = predict(MODEL, [_summary(zbar=0.0), _summary(x=0, zbar=None)])
    mean = population_mean(GammaGammaParams(6.25, 3.74, 15.44))
    assert (zero_value.expected_order_value, no_repeat.expected_order_value) == (
        pytest.approx(mean),
        pytest.approx(mean),
    )


def test_discount_lowers_clv_below_the_undiscounted_value() -> None:
    (plain,) = predict(MODEL, [_summary()])
    (discounted,) = predict(MODEL, [_summary()], annual_discount_rate=0.1)
    assert discounted.predicted_clv < plain.predicted_clv


def test_discount_leaves_expected_purchases_undiscounted() -> None:
    (plain,) = predict(MODEL, [_summary()])
    (discounted,) = predict(MODEL, [_summary()], annual_discount_rate=0.1)
    assert discounted.expected_purchases == plain.expected_purchases
