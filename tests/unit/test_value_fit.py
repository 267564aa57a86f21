"""What the maximum-likelihood fits report besides their parameters."""

from __future__ import annotations

from tiering.value.bg_nbd import fit_bg_nbd


def test_bg_nbd_fit_without_any_repeat_purchase_reports_rate_parameters_at_bound() -> None:
    """With x = 0 for everyone the likelihood rises as r → 0 and alpha → ∞ (no purchases ever
    follow), so both end at the search bound and the fit says so."""
    ages = [float(t) for t in range(1, 201)]
    fit = fit_bg_nbd([0] * 200, [0.0] * 200, ages)
    assert set(fit.at_bound) == {"r", "alpha"}
