"""When a customer's classification can next change with no new event (the due-index key).

Candidates after `as_of`: a purchase or refund leaving the window (t + W) or crossing the
lifecycle half split (t + split); the `new` stage ending (first purchase + new_days, just
after); recency passing the overdue threshold (last purchase + (floor(threshold) + 1) days);
negative feedback ageing out (t + lookback); a tier hold expiring (below_since + days).
Rank-only changes (others' events moving cut points) are the stream's cut sweep, not this.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterator
from datetime import datetime, timedelta

from tiering.measure import DAY, Measurement, measure
from tiering.policy import Policy
from tiering.state import Adjustment, CustomerState, Purchase

__all__ = ["next_due"]

_JUST_AFTER = timedelta(microseconds=1)


def _candidates(
    state: CustomerState, policy: Policy, as_of: datetime, measurement: Measurement
) -> Iterator[datetime]:
    window = timedelta(days=policy.window_days)
    split = timedelta(days=policy.lifecycle.half_split_days)
    # Entries are sorted by time, so the first entry after `as_of - span` gives the earliest
    # `t + span` after `as_of` (a large customer keeps thousands of purchases).
    for entries in (state.purchases, state.adjustments):
        for span in (window, split):
            first = bisect.bisect_right(entries, as_of - span, key=_time_of)
            if first < len(entries):
                yield entries[first].occurred_at + span
    if state.first_purchase_at is not None:
        yield state.first_purchase_at + timedelta(days=policy.lifecycle.new_days) + _JUST_AFTER
    lookback = timedelta(days=policy.risk.feedback_lookback_days)
    for feedback in state.negative_feedback:
        yield feedback.occurred_at + lookback
    if state.below_since is not None:
        yield state.below_since + timedelta(days=policy.hysteresis.downgrade_after_days)
    if measurement.overdue_after_days is not None and state.last_purchase_at is not None:
        yield state.last_purchase_at + DAY * (math.floor(measurement.overdue_after_days) + 1)


def _time_of(entry: Purchase | Adjustment) -> datetime:
    return entry.occurred_at


def next_due(
    state: CustomerState,
    policy: Policy,
    as_of: datetime,
    measurement: Measurement | None = None,
) -> datetime | None:
    """The earliest instant after `as_of` at which this customer must be re-evaluated.

    `measurement`: `measure(state, policy, as_of)`, if the caller has it already.
    """
    if measurement is None:
        measurement = measure(state, policy, as_of)
    return min(
        (instant for instant in _candidates(state, policy, as_of, measurement) if instant > as_of),
        default=None,
    )
