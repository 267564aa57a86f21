"""What the maximum-likelihood fits report besides their parameters."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from tests.unit.cdnow import CALIBRATION_END, calibration_summaries
from tiering.value import TimeUnit, ValueSummary, fit_value_model
from tiering.value.bg_nbd import fit_bg_nbd

LAST = datetime(2026, 1, 1, tzinfo=UTC)


def test_bg_nbd_fit_without_any_repeat_purchase_reports_rate_parameters_at_bound() -> None:
    """With x = 0 for everyone the likelihood rises as r → 0 and alpha → ∞ (no purchases ever
    follow), so both end at the search bound and the fit says so."""
    ages = [float(t) for t in range(1, 201)]
    fit = fit_bg_nbd([0] * 200, [0.0] * 200, ages)
    assert set(fit.at_bound) == {"r", "alpha"}


def _summary(customer: str, x: int, zbar: float | None) -> ValueSummary:
    t_x = 10.0 * x
    return ValueSummary(customer, x, t_x, 40.0, zbar, LAST, TimeUnit.WEEK)


def test_repeaters_whose_repeat_purchases_are_worth_zero_are_left_out_of_gamma_gamma() -> None:
    summaries = [
        _summary("a", 1, 10.0),
        _summary("b", 2, 14.0),
        _summary("c", 3, 9.0),
        _summary("d", 1, 0.0),
        _summary("e", 0, None),
    ]
    report = fit_value_model(summaries, date(2026, 1, 31), TimeUnit.WEEK)
    assert (report.model.customers, report.gamma_gamma_customers, report.zero_value_customers) == (
        5,
        3,
        1,
    )


def test_fit_in_days_gives_seven_times_the_weekly_alpha_and_the_same_shapes() -> None:
    """Times scale by 7 between weeks and days, and alpha is a time scale: the likelihood in
    days at (r, 7 alpha, a, b) is the weekly one minus a constant, so the other parameters do
    not move. Tolerance: relative 1e-3 (optimiser precision)."""
    weekly = fit_value_model(calibration_summaries(TimeUnit.WEEK), CALIBRATION_END, TimeUnit.WEEK)
    daily = fit_value_model(calibration_summaries(TimeUnit.DAY), CALIBRATION_END, TimeUnit.DAY)
    w, d = weekly.model.bg_nbd, daily.model.bg_nbd
    assert (d.r, d.alpha, d.a, d.b) == (
        pytest.approx(w.r, rel=1e-3),
        pytest.approx(7 * w.alpha, rel=1e-3),
        pytest.approx(w.a, rel=1e-3),
        pytest.approx(w.b, rel=1e-3),
    )
