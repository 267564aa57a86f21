"""Benchmark the value models: fit time and per-customer prediction rate for N customers.

    .venv/bin/python bench/clv.py 100000
    .venv/bin/python bench/clv.py 100000 --time-unit day --seed 3

Customers are drawn from the models themselves with the published CDNOW parameters
(BG/NBD r 0.243, alpha 4.414 weeks, a 0.793, b 2.426; Gamma-Gamma p 6.25, q 3.74, v 15.44):
first purchase uniform over a 39-week calibration (whole days), purchases Poisson(λ) while
alive, dropout with probability p after each repeat purchase, same-day purchases merged, values
Gamma(p, nu). Summaries are built in-process (no CSV), so the figures are the models' cost:

- fit: `fit_value_model` (BG/NBD on all, Gamma-Gamma on repeaters), seconds, and the fitted
  parameters (near, not equal to, the generating ones: same-day purchases merge into one
  transaction and times are whole days, which the generating process does not know);
- predict: `predict` over all summaries (365-day horizon), customers/s.

Figures only, no verdict.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tiering.value import TimeUnit, ValueSummary, fit_value_model, predict

CALIBRATION_END = date(1997, 9, 30)
CALIBRATION_DAYS = 273


def _customers(n: int, unit: TimeUnit, seed: int) -> list[ValueSummary]:
    rng = np.random.default_rng(seed)
    rates = rng.gamma(0.243, 1 / 4.414, n) / 7  # purchases per day while alive
    dropouts = rng.beta(0.793, 2.426, n)
    nus = rng.gamma(3.74, 1 / 15.44, n)
    as_of = datetime(1997, 9, 30, 23, 59, 59, tzinfo=UTC)
    start = as_of.date() - timedelta(days=CALIBRATION_DAYS - 1)
    summaries = []
    for index in range(n):
        first = int(rng.integers(0, CALIBRATION_DAYS))
        age = CALIBRATION_DAYS - 1 - first
        days, clock = set(), 0.0
        # BG/NBD drops a customer out only right after a repeat purchase (the likelihood of
        # x = 0 is e^(−λT): no dropout after the first one).
        while rates[index] > 0:
            clock += rng.exponential(1 / rates[index])
            if clock > age:
                break
            days.add(int(clock))
            if rng.random() < dropouts[index]:
                break
        days.discard(0)
        repeat = sorted(days)
        x = len(repeat)
        values = rng.gamma(6.25, 1 / nus[index], x) if x else np.zeros(0)
        last_day = start + timedelta(days=first + (repeat[-1] if x else 0))
        summaries.append(
            ValueSummary(
                customer_id=f"c{index}",
                x=x,
                t_x=(repeat[-1] if x else 0) / unit.days,
                T=age / unit.days,
                zbar=float(values.mean()) if x else None,
                last_purchase_at=datetime.combine(last_day, datetime.min.time(), tzinfo=UTC),
                unit=unit,
            )
        )
    return summaries


def main() -> None:
    """Generate, fit, predict; print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("customers", type=int, metavar="N")
    parser.add_argument("--time-unit", choices=("day", "week"), default="week")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    unit = TimeUnit(args.time_unit)
    summaries = _customers(args.customers, unit, args.seed)
    started = time.perf_counter()
    report = fit_value_model(summaries, CALIBRATION_END, unit)
    fit_seconds = time.perf_counter() - started
    started = time.perf_counter()
    predictions = predict(report.model, summaries)
    predict_seconds = time.perf_counter() - started
    model = report.model
    print(
        f"customers           {len(summaries):>12,}  (repeaters {report.gamma_gamma_customers:,})"
    )
    print(f"fit                 {fit_seconds:>12.3f} s")
    print(
        f"  bg_nbd            r {model.bg_nbd.r:.3f} alpha {model.bg_nbd.alpha:.3f} "
        f"a {model.bg_nbd.a:.3f} b {model.bg_nbd.b:.3f} ({unit.value})"
    )
    print(
        f"  gamma_gamma       p {model.gamma_gamma.p:.2f} q {model.gamma_gamma.q:.2f} "
        f"v {model.gamma_gamma.v:.2f}"
    )
    print(f"predict             {predict_seconds:>12.3f} s")
    print(f"  rate              {len(predictions) / predict_seconds:>12,.0f} customers/s")


if __name__ == "__main__":
    main()
