"""Per-customer purchase summary (x, t_x, T, zbar) at `as_of`, the input of the value models.

Definitions (DESIGN.md, "Customer value"): purchases on the same UTC day are one transaction
whose value is their sum; refunds and cancels are not transactions. Over the transactions up
to `as_of`:

- `x`: repeat transactions, i.e. transaction days after the first one;
- `t_x`: time from the first to the last transaction;
- `T`: time from the first transaction to `as_of`;
- `zbar`: mean value of the repeat transactions (the first one is left out, as in Fader,
  Hardie & Lee 2005, "RFM and CLV"); None when x = 0.

Times are whole UTC days divided by the unit length (1 for `day`, 7 for `week`): a customer
whose first purchase was on 1997-01-01 has T = 272 / 7 = 38.86 weeks at 1997-09-30.

Batch builds it from order events (`summarise_orders` → `summarise_days`); the stream from
the counted figures its customer state keeps (`tiering.transaction_days`: x and the summed
repeat value, since the state drops purchases once they leave the window). Both end in
`summarise_transactions`, the shared core.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import StrEnum

from schemas import OrderEvent, OrderKind
from tiering.value.exceptions import ValueModelError

__all__ = [
    "TimeUnit",
    "ValueSummary",
    "summarise_days",
    "summarise_orders",
    "summarise_transactions",
]


class TimeUnit(StrEnum):
    """The unit the models' times (t_x, T, horizons, 1/alpha) are measured in."""

    DAY = "day"
    WEEK = "week"

    @property
    def days(self) -> int:
        """Length of one unit in days."""
        return 7 if self is TimeUnit.WEEK else 1


@dataclass(frozen=True, slots=True)
class ValueSummary:
    """One customer's (x, t_x, T, zbar) at `as_of`, in `unit`; see the module docstring."""

    customer_id: str
    x: int
    t_x: float
    T: float  # the paper's symbol (age at as_of), distinct from t_x
    zbar: float | None
    last_purchase_at: datetime
    unit: TimeUnit


def _utc_day(instant: datetime) -> date:
    return instant.astimezone(UTC).date()


def summarise_days(
    customer_id: str,
    day_values: Mapping[date, Decimal],
    last_purchase_at: datetime,
    as_of: datetime,
    unit: TimeUnit,
) -> ValueSummary:
    """The summary of one customer from its transaction days (UTC day → summed value).

    Days after `as_of`'s UTC day must already be left out; at least one day is required.
    """
    if not day_values:
        raise ValueModelError(f"customer {customer_id!r} has no purchase day to summarise")
    days = sorted(day_values)
    repeat_value = sum((day_values[day] for day in days[1:]), Decimal(0))
    return summarise_transactions(
        customer_id, days[0], days[-1], len(days) - 1, repeat_value, last_purchase_at, as_of, unit
    )


def summarise_transactions(
    customer_id: str,
    first_day: date,
    last_day: date,
    repeat_days: int,
    repeat_value: Decimal,
    last_purchase_at: datetime,
    as_of: datetime,
    unit: TimeUnit,
) -> ValueSummary:
    """The summary from the counted figures: first and last transaction day, x, and the
    summed value of the repeat days (what a stream state keeps instead of every day)."""
    as_of_day = _utc_day(as_of)
    if last_day > as_of_day:
        raise ValueModelError(f"customer {customer_id!r} has a purchase day after as_of")
    if repeat_days < 0 or last_day < first_day:
        raise ValueModelError(f"customer {customer_id!r} has an inconsistent purchase summary")
    return ValueSummary(
        customer_id=customer_id,
        x=repeat_days,
        t_x=(last_day - first_day).days / unit.days,
        T=(as_of_day - first_day).days / unit.days,
        zbar=float(repeat_value / repeat_days) if repeat_days > 0 else None,
        last_purchase_at=last_purchase_at,
        unit=unit,
    )


def summarise_orders(
    orders: Iterable[OrderEvent], as_of: datetime, unit: TimeUnit
) -> dict[str, ValueSummary]:
    """Summaries of every customer with a purchase at or before `as_of`, by customer id.

    Duplicate purchase rows (same customer and order id) count once, as in the state fold.
    """
    day_values: dict[str, dict[date, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    last_at: dict[str, datetime] = {}
    seen: set[tuple[str, str]] = set()
    for order in orders:
        if order.kind is not OrderKind.PURCHASE or order.occurred_at > as_of:
            continue
        key = (order.customer_id, order.order_id)
        if key in seen:
            continue
        seen.add(key)
        day_values[order.customer_id][_utc_day(order.occurred_at)] += order.amount
        previous = last_at.get(order.customer_id)
        if previous is None or order.occurred_at > previous:
            last_at[order.customer_id] = order.occurred_at
    return {
        customer_id: summarise_days(customer_id, days, last_at[customer_id], as_of, unit)
        for customer_id, days in sorted(day_values.items())
    }
