"""Lifetime transaction-day figures of a customer, kept in its state for the value models.

The value models need, over ALL purchases up to as_of (not only the window the state holds),
x = number of transaction days after the first and the summed value of those repeat days
(DESIGN.md, "Customer value": same UTC day = one transaction whose value is the sum of its
purchases; refunds and cancels are not transactions). The first and last transaction days
are the UTC days of the state's `first_purchase_at` and `last_purchase_at`. Kept here:

- `first_day_value`: summed purchases of the first transaction day; when an out-of-order
  purchase lands on an earlier day, the old first day becomes a repeat day and this value
  moves into `repeat_value`;
- `repeat_days`, `repeat_value`: x and the summed value of the repeat days;
- `unheld_day`: the latest UTC day of a purchase the state does not hold (pruned out of the
  window, or late on arrival).

Whether a purchase's day is already a transaction day: it is if the day is the first or last
transaction day, `unheld_day`, or a day of a purchase the state holds. For a purchase inside
the window (not late) this is exact: a purchase of the same day that the state no longer
holds was at or before the pruning horizon, so on the horizon's day, which is `unheld_day`.
A late purchase (older than the window, already counted in `late_events`) on a day strictly
between the first day and `unheld_day` that is neither cannot be checked and counts as a new
transaction day; like `purchase_count`, a late duplicate also counts again.

O(log held purchases) per purchase (one bisection), four fields in the state.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any, Protocol

__all__ = [
    "TransactionDays",
    "days_from_row",
    "days_of_v1",
    "days_to_row",
    "utc_day",
    "with_purchase",
    "with_unheld",
]

_ZERO = Decimal(0)


class _Held(Protocol):
    @property
    def occurred_at(self) -> datetime: ...


class _HeldPurchase(_Held, Protocol):
    @property
    def amount(self) -> Decimal: ...


@dataclass(frozen=True, slots=True)
class TransactionDays:
    """See the module docstring; the defaults are a customer with no purchase."""

    first_day_value: Decimal = _ZERO
    repeat_days: int = 0
    repeat_value: Decimal = _ZERO
    unheld_day: date | None = None


def utc_day(instant: datetime) -> date:
    """The UTC calendar day of an instant (a transaction's identity)."""
    return instant.astimezone(UTC).date()


def _holds_day(held: Sequence[_Held], day: date) -> bool:
    start = datetime.combine(day, time(), tzinfo=UTC)
    index = bisect.bisect_left(held, start, key=lambda entry: entry.occurred_at)
    return index < len(held) and held[index].occurred_at < start + timedelta(days=1)


def with_purchase(
    days: TransactionDays,
    first_purchase_at: datetime | None,
    last_purchase_at: datetime | None,
    held: Sequence[_Held],
    occurred_at: datetime,
    amount: Decimal,
) -> TransactionDays:
    """The figures after one more (non-duplicate) purchase.

    `first_purchase_at`, `last_purchase_at` and `held` (time-sorted purchases the state
    holds) are the state's before the purchase.
    """
    day = utc_day(occurred_at)
    if first_purchase_at is None:
        return replace(days, first_day_value=amount)
    first_day = utc_day(first_purchase_at)
    if day == first_day:
        return replace(days, first_day_value=days.first_day_value + amount)
    if day < first_day:
        return replace(
            days,
            first_day_value=amount,
            repeat_days=days.repeat_days + 1,
            repeat_value=days.repeat_value + days.first_day_value,
        )
    known = (
        (last_purchase_at is not None and day == utc_day(last_purchase_at))
        or day == days.unheld_day
        or _holds_day(held, day)
    )
    return replace(
        days,
        repeat_days=days.repeat_days + (0 if known else 1),
        repeat_value=days.repeat_value + amount,
    )


def with_unheld(days: TransactionDays, occurred_at: datetime) -> TransactionDays:
    """The figures after a purchase at `occurred_at` left (or never entered) the held set."""
    day = utc_day(occurred_at)
    if days.unheld_day is not None and days.unheld_day >= day:
        return days
    return replace(days, unheld_day=day)


def days_to_row(days: TransactionDays) -> list[object]:
    """The JSON row of the figures (the `td` field of a state)."""
    unheld = None if days.unheld_day is None else days.unheld_day.isoformat()
    return [str(days.first_day_value), days.repeat_days, str(days.repeat_value), unheld]


def days_from_row(row: list[Any]) -> TransactionDays:
    """Inverse of `days_to_row`."""
    first_value, repeat_days, repeat_value, unheld = row
    return TransactionDays(
        first_day_value=Decimal(first_value),
        repeat_days=int(repeat_days),
        repeat_value=Decimal(repeat_value),
        unheld_day=None if unheld is None else date.fromisoformat(unheld),
    )


def days_of_v1(
    purchases: Sequence[_HeldPurchase], first_purchase_at: datetime | None, purchase_count: int
) -> TransactionDays:
    """The transaction-day figures of a version-1 state, which kept no `td`.

    Exact when the state still holds every purchase it counted. Otherwise estimated: each
    purchase no longer held, less one for the first day when that is not held either, counts
    as its own repeat day (an upper bound on x) worth the mean held repeat day (0 when none
    is held); an unheld first day is worth that mean too.
    """
    if first_purchase_at is None:
        return TransactionDays()
    values: dict[date, Decimal] = {}
    for held in purchases:
        day = utc_day(held.occurred_at)
        values[day] = values.get(day, Decimal(0)) + held.amount
    first_day = utc_day(first_purchase_at)
    repeats = [value for day, value in values.items() if day != first_day]
    unheld = purchase_count - len(purchases)
    if unheld <= 0:
        return TransactionDays(
            values.get(first_day, Decimal(0)), len(repeats), sum(repeats, Decimal(0))
        )
    mean = sum(repeats, Decimal(0)) / len(repeats) if repeats else Decimal(0)
    unheld_repeats = unheld - (0 if first_day in values else 1)
    return TransactionDays(
        first_day_value=values.get(first_day, mean),
        repeat_days=len(repeats) + unheld_repeats,
        repeat_value=sum(repeats, Decimal(0)) + mean * unheld_repeats,
    )
