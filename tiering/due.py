"""When a customer's classification can next change with no new event (the due-index key).

Candidates after `as_of`: a purchase or refund leaving the window (t + W) or crossing the
lifecycle half split (t + split); the `new` stage ending (first purchase + new_days, just
after); recency passing the overdue threshold (last purchase + (floor(threshold) + 1) days);
negative feedback ageing out (t + lookback); a tier hold expiring (below_since + days).
Rank-only changes (others' events moving cut points) are the stream's cut sweep, not this.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import datetime, timedelta

from tiering.measure import DAY, measure
from tiering.policy import Policy
from tiering.state import CustomerState

__all__ = ["next_due"]

_JUST_AFTER = timedelta(microseconds=1)


def _candidates(state: CustomerState, policy: Policy, as_of: datetime) -> Iterator[datetime]:
    window = timedelta(days=policy.window_days)
    split = timedelta(days=policy.lifecycle.half_split_days)
    entry_times = [p.occurred_at for p in state.purchases]
    entry_times += [a.occurred_at for a in state.adjustments]
    for occurred_at in entry_times:
        yield occurred_at + window
        yield occurred_at + split
    if state.first_purchase_at is not None:
        yield state.first_purchase_at + timedelta(days=policy.lifecycle.new_days) + _JUST_AFTER
    lookback = timedelta(days=policy.risk.feedback_lookback_days)
    for feedback in state.negative_feedback:
        yield feedback.occurred_at + lookback
    if state.below_since is not None:
        yield state.below_since + timedelta(days=policy.hysteresis.downgrade_after_days)
    measurement = measure(state, policy, as_of)
    if measurement.overdue_after_days is not None and state.last_purchase_at is not None:
        yield state.last_purchase_at + DAY * (math.floor(measurement.overdue_after_days) + 1)


def next_due(state: CustomerState, policy: Policy, as_of: datetime) -> datetime | None:
    """The earliest instant after `as_of` at which this customer must be re-evaluated."""
    later = [instant for instant in _candidates(state, policy, as_of) if instant > as_of]
    return min(later) if later else None
