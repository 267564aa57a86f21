"""Value models against the published CDNOW figures (DESIGN.md, "Customer value").

Sources: Fader, Hardie & Lee (2005) "Counting your customers the easy way", section 5
(BG/NBD on the CDNOW 1/10th sample, 2,357 customers, 39-week calibration 1997-01-01 ..
1997-09-30, time in weeks: r 0.243, alpha 4.414, a 0.793, b 2.426, log-likelihood −9582.4;
customer with x = 2, t_x = 30.43, T = 38.86 expects 1.226 purchases in the next 39 weeks) and
Fader, Hardie & Lee (2005) "RFM and CLV", section 4 (Gamma-Gamma p 6.25, q 3.74, v 15.44).
The Gamma-Gamma figures reproduce on the same 39-week calibration period, fitted on its 946
customers with x > 0 (zbar = mean of the repeat purchase days' values), not on the full
period. Tolerance: 3 significant digits (fitted and published values are equal after
rounding both to 3 significant figures); 1.226 within 5e-4.
"""

from __future__ import annotations

from math import floor, log10

import pytest

from tests.unit.cdnow import CALIBRATION_END, calibration_summaries
from tiering.value import TimeUnit, ValueSummary, fit_value_model
from tiering.value.bg_nbd import BgNbdParams, expected_purchases, fit_bg_nbd, log_likelihood
from tiering.value.gamma_gamma import fit_gamma_gamma

PUBLISHED_BG_NBD = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
PUBLISHED_GAMMA_GAMMA = {"p": 6.25, "q": 3.74, "v": 15.44}


def _sig3(value: float) -> float:
    return round(value, 2 - floor(log10(abs(value))))


@pytest.fixture(scope="module")
def summaries() -> list[ValueSummary]:
    return calibration_summaries(TimeUnit.WEEK)


def test_sample_has_the_papers_2357_customers_and_946_repeaters(
    summaries: list[ValueSummary],
) -> None:
    assert len(summaries) == 2357
    assert sum(1 for s in summaries if s.x > 0) == 946


@pytest.mark.parametrize("name", sorted(PUBLISHED_BG_NBD))
def test_bg_nbd_fit_reproduces_published_parameter(
    summaries: list[ValueSummary], name: str
) -> None:
    fit = fit_bg_nbd([s.x for s in summaries], [s.t_x for s in summaries], [s.T for s in summaries])
    assert _sig3(getattr(fit.params, name)) == _sig3(PUBLISHED_BG_NBD[name])


def test_bg_nbd_log_likelihood_at_published_parameters_is_papers_minus_9582(
    summaries: list[ValueSummary],
) -> None:
    params = BgNbdParams(**PUBLISHED_BG_NBD)
    value = log_likelihood(
        params, [s.x for s in summaries], [s.t_x for s in summaries], [s.T for s in summaries]
    )
    assert value == pytest.approx(-9582.4, abs=0.5)


@pytest.mark.parametrize("name", sorted(PUBLISHED_GAMMA_GAMMA))
def test_gamma_gamma_fit_on_calibration_repeaters_reproduces_published_parameter(
    summaries: list[ValueSummary],
    name: str,
) -> None:
    repeaters = [s for s in summaries if s.x > 0]
    fit = fit_gamma_gamma([s.x for s in repeaters], [s.zbar for s in repeaters])
    assert _sig3(getattr(fit.params, name)) == _sig3(PUBLISHED_GAMMA_GAMMA[name])


def test_customer_x2_expects_1_226_purchases_in_39_weeks() -> None:
    params = BgNbdParams(**PUBLISHED_BG_NBD)
    assert float(expected_purchases(params, 39.0, [2], [30.43], [38.86])[0]) == pytest.approx(
        1.226, abs=5e-4
    )


def test_combined_fit_counts_customers_and_leaves_no_parameter_at_a_bound(
    summaries: list[ValueSummary],
) -> None:
    report = fit_value_model(summaries, CALIBRATION_END, TimeUnit.WEEK)
    assert (report.model.customers, report.gamma_gamma_customers, report.at_bound) == (
        2357,
        946,
        (),
    )
