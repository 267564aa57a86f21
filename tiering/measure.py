"""Population-independent figures of one customer at `as_of`: R/F/M values, lifecycle, risk.

Definitions (DESIGN.md, default policy; W = window_days):
- window: (as_of - W, as_of]; active = at least one purchase in the window.
- frequency: distinct purchase orders in the window (refunded or cancelled ones still count).
- monetary: purchases - refunds - cancels in the window, floored at 0 (margins under the
  margin basis).
- recency_days: floor((as_of - last purchase ever) / 1 day); None if never purchased.
- lifecycle: new if as_of - first purchase <= new_days; churned if inactive; else with
  h1 = monetary in (as_of - W, as_of - split] and h2 = monetary in (as_of - split, as_of]
  (each net of refunds, floored at 0): mature if both are 0, growth if h2 >= growth × h1,
  decline if h2 <= decline × h1, else mature.
- risk: churned if inactive; at_risk if n >= 2 purchases ever and recency_days >
  max(min_gap, factor × (last - first in fractional days) / (n - 1)), or a complaint / low
  csat in (as_of - lookback, as_of]; else ok.
"""

from __future__ import annotations

import bisect
import json
import math
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from schemas import Lifecycle, Risk
from tiering.exceptions import TieringError
from tiering.policy import Basis, Policy
from tiering.state import Adjustment, CustomerState, Purchase

__all__ = [
    "DAY",
    "Measurement",
    "at_later_instant",
    "measure",
    "measurement_from_dict",
    "measurement_from_json",
    "measurement_to_json",
]

DAY = timedelta(days=1)
_ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class Measurement:
    """What a customer's own events say at `as_of`, before any comparison with others."""

    customer_id: str
    as_of: datetime
    active: bool
    recency_days: int | None
    frequency: int
    monetary: Decimal
    first_half: Decimal
    second_half: Decimal
    first_purchase_at: datetime | None
    last_purchase_at: datetime | None
    purchase_count: int
    expected_gap_days: float | None
    overdue_after_days: float | None
    last_negative_feedback_at: datetime | None
    lifecycle: Lifecycle
    risk: Risk
    # Lifetime x and summed repeat-day value (`tiering.transaction_days`) for the value models;
    # None in a measurement written before they were carried.
    repeat_days: int | None = None
    repeat_value: Decimal | None = None
    # The ranking group under the policy's `rank_within` (the value of that profile
    # dimension when the customer was measured; None: ranked with everyone, or the group of
    # customers without that dimension). Set by the stream's stage 1, which reads profiles;
    # `measure` leaves it None. Left out of the JSON while None, so measurements of policies
    # without `rank_within` encode as before.
    group: str | None = None


def _purchase_value(purchase: Purchase, basis: Basis) -> Decimal:
    if basis is Basis.REVENUE:
        return purchase.amount
    return purchase.margin if purchase.margin is not None else _ZERO


def _adjustment_value(adjustment: Adjustment, basis: Basis) -> Decimal:
    if basis is Basis.REVENUE or adjustment.margin is None:
        return adjustment.amount
    return adjustment.margin


def _net(
    state: CustomerState, policy: Policy, start: datetime, end: datetime
) -> tuple[int, Decimal]:
    """(purchase count, purchases - adjustments) over (start, end], not floored."""
    # Entries are sorted by time: bisect to the range instead of testing every entry (a
    # large customer keeps thousands of purchases in its window). Same summation order.
    purchases = state.purchases[_after(state.purchases, start) : _after(state.purchases, end)]
    adjustments = state.adjustments[
        _after(state.adjustments, start) : _after(state.adjustments, end)
    ]
    basis = policy.basis
    total = sum((_purchase_value(purchase, basis) for purchase in purchases), _ZERO)
    for adjustment in adjustments:
        total -= _adjustment_value(adjustment, basis)
    return len(purchases), total


def _after(entries: tuple[Purchase, ...] | tuple[Adjustment, ...], instant: datetime) -> int:
    """Index of the first entry strictly after `instant` (entries are sorted by time)."""
    return bisect.bisect_right(entries, instant, key=_time_of)


def _time_of(entry: Purchase | Adjustment) -> datetime:
    return entry.occurred_at


def _lifecycle(
    state: CustomerState, policy: Policy, as_of: datetime, active: bool, h1: Decimal, h2: Decimal
) -> Lifecycle:
    first = state.first_purchase_at
    if first is not None and as_of - first <= timedelta(days=policy.lifecycle.new_days):
        return Lifecycle.NEW
    if not active:
        return Lifecycle.CHURNED
    if h1 == 0 and h2 == 0:
        return Lifecycle.MATURE
    if h2 >= Decimal(str(policy.lifecycle.growth_ratio)) * h1:
        return Lifecycle.GROWTH
    if h2 <= Decimal(str(policy.lifecycle.decline_ratio)) * h1:
        return Lifecycle.DECLINE
    return Lifecycle.MATURE


def _expected_gap_days(state: CustomerState) -> float | None:
    first, last, count = state.first_purchase_at, state.last_purchase_at, state.purchase_count
    if first is None or last is None or count < 2:
        return None
    return (last - first) / DAY / (count - 1)


def measure(state: CustomerState, policy: Policy, as_of: datetime) -> Measurement:
    """The customer's population-independent figures at `as_of` (>= the state's high water)."""
    if state.high_water is not None and as_of < state.high_water:
        raise TieringError(
            f"as_of {as_of.isoformat()} is before the latest applied event "
            f"{state.high_water.isoformat()}; state cannot be evaluated in the past"
        )
    window_start = as_of - timedelta(days=policy.window_days)
    split = as_of - timedelta(days=policy.lifecycle.half_split_days)
    frequency, net = _net(state, policy, window_start, as_of)
    _, first_net = _net(state, policy, window_start, split)
    _, second_net = _net(state, policy, split, as_of)
    h1, h2 = max(first_net, _ZERO), max(second_net, _ZERO)
    active = frequency > 0
    last = state.last_purchase_at
    recency_days = None if last is None else math.floor((as_of - last) / DAY)

    gap = _expected_gap_days(state)
    overdue_after = (
        None if gap is None else max(policy.risk.min_gap_days, policy.risk.gap_factor * gap)
    )
    lookback_start = as_of - timedelta(days=policy.risk.feedback_lookback_days)
    negatives = [
        f.occurred_at for f in state.negative_feedback if lookback_start < f.occurred_at <= as_of
    ]
    last_negative = max(negatives) if negatives else None

    if not active:
        risk = Risk.CHURNED
    elif (
        overdue_after is not None and recency_days is not None and recency_days > overdue_after
    ) or (last_negative is not None):
        risk = Risk.AT_RISK
    else:
        risk = Risk.OK
    return Measurement(
        customer_id=state.customer_id,
        as_of=as_of,
        active=active,
        recency_days=recency_days,
        frequency=frequency,
        monetary=max(net, _ZERO),
        first_half=h1,
        second_half=h2,
        first_purchase_at=state.first_purchase_at,
        last_purchase_at=last,
        purchase_count=state.purchase_count,
        expected_gap_days=gap,
        overdue_after_days=overdue_after,
        last_negative_feedback_at=last_negative,
        lifecycle=_lifecycle(state, policy, as_of, active, h1, h2),
        risk=risk,
        repeat_days=state.transaction_days.repeat_days,
        repeat_value=state.transaction_days.repeat_value,
    )


def measurement_to_json(measurement: Measurement) -> bytes:
    """Compact JSON of a measurement (it travels between the worker's two stages)."""
    fields: dict[str, object] = {}
    for name in Measurement.__slots__:
        value = getattr(measurement, name)
        if name == "group" and value is None:
            continue
        if isinstance(value, datetime):
            value = value.isoformat()
        elif isinstance(value, Decimal):
            value = str(value)
        elif isinstance(value, Lifecycle | Risk):
            value = value.value
        fields[name] = value
    return json.dumps(fields, separators=(",", ":")).encode()


def measurement_from_json(raw: bytes) -> Measurement:
    """Inverse of `measurement_to_json`."""
    return measurement_from_dict(json.loads(raw))


def measurement_from_dict(data: dict[str, Any]) -> Measurement:
    """A measurement from the decoded JSON object of `measurement_to_json` (consumed)."""
    for name in ("as_of", "first_purchase_at", "last_purchase_at", "last_negative_feedback_at"):
        data[name] = None if data[name] is None else datetime.fromisoformat(data[name])
    for name in ("monetary", "first_half", "second_half"):
        data[name] = Decimal(data[name])
    if data.get("repeat_value") is not None:
        data["repeat_value"] = Decimal(data["repeat_value"])
    data["lifecycle"] = Lifecycle(data["lifecycle"])
    data["risk"] = Risk(data["risk"])
    return Measurement(**data)


def at_later_instant(measurement: Measurement, as_of: datetime) -> Measurement:
    """The same measurement seen at a later `as_of` with no new event: only recency moves.

    Everything else that time alone changes (window exits, lifecycle, overdue risk, feedback
    ageing) is a due instant (`tiering.next_due`) and gets a fresh measurement instead.
    """
    last = measurement.last_purchase_at
    recency_days = None if last is None else math.floor((as_of - last) / DAY)
    return replace(measurement, as_of=as_of, recency_days=recency_days)
