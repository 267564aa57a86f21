"""The vendored CDNOW 1/10th sample (tests/data/README.md) as summaries or an orders CSV."""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import UTC, date, datetime, time
from decimal import Decimal
from pathlib import Path

from tiering.value import TimeUnit, ValueSummary, summarise_days

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "CDNOW_sample.txt"
# The published parameters on this sample (DESIGN.md, "Customer value"), in weeks, as the
# model file `tierstream clv fit` writes them.
PUBLISHED_MODEL: dict[str, object] = {
    "bg_nbd": {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426},
    "gamma_gamma": {"p": 6.25, "q": 3.74, "v": 15.44},
    "time_unit": "week",
    "calibration_end": "1997-09-30",
    "customers": 2357,
    "log_likelihood": {"bg_nbd": -9582.4, "gamma_gamma": -4055.9},
}
PUBLISHED_MODEL_JSON = json.dumps(PUBLISHED_MODEL)
CALIBRATION_END = date(1997, 9, 30)


def rows() -> list[tuple[str, date, Decimal]]:
    """(sample customer id, purchase date, dollar value) for every line of the file."""
    result = []
    for line in SAMPLE.read_text(encoding="ascii").splitlines():
        _, customer, day, _, value = line.split()
        result.append((customer, date(int(day[:4]), int(day[4:6]), int(day[6:])), Decimal(value)))
    return result


def calibration_summaries(unit: TimeUnit = TimeUnit.WEEK) -> list[ValueSummary]:
    """(x, t_x, T, zbar) of every customer at the calibration end, zero-value rows included."""
    days: dict[str, dict[date, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    for customer, day, value in rows():
        if day <= CALIBRATION_END:
            days[customer][day] += value
    as_of = datetime.combine(CALIBRATION_END, time.max, tzinfo=UTC)
    return [
        summarise_days(
            customer, values, datetime.combine(max(values), time(), tzinfo=UTC), as_of, unit
        )
        for customer, values in sorted(days.items())
    ]


def write_orders_csv(path: Path) -> Path:
    """The sample as a tierstream orders CSV (order id = line number, time = midnight UTC)."""
    lines = ["customer_id,order_id,occurred_at,amount"]
    lines += [
        f"{customer},{number},{day.isoformat()},{value}"
        for number, (customer, day, value) in enumerate(rows(), start=1)
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
