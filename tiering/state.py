"""Per-customer state and the fold that applies one event to it.

The state keeps, exactly, the purchases, refunds/cancels and negative feedback that can still
fall inside a window (anything at or before `high_water - window_days` never can, because
evaluations happen at `as_of >= high_water`), plus lifetime figures (first and last purchase,
number of purchases) and the tier hysteresis bookkeeping. A customer with ten years of daily
orders therefore holds about one window of entries.

Duplicates: a purchase is identified by its `order_id`, a refund/cancel or feedback by its
`event_id`, among the entries still held. A duplicate of an event older than the window cannot
be recognised (its id is gone); it is counted as late and touches lifetime figures only.
"""

from __future__ import annotations

import bisect
import json
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any, TypeVar

from schemas import FeedbackEvent, FeedbackKind, OrderEvent, OrderKind
from tiering.exceptions import TieringError
from tiering.policy import Policy
from tiering.transaction_days import (
    TransactionDays,
    days_from_row,
    days_of_v1,
    days_to_row,
    with_purchase,
    with_unheld,
)

__all__ = [
    "SCHEMA_VERSION",
    "Adjustment",
    "ApplyResult",
    "CustomerState",
    "NegativeFeedback",
    "Outcome",
    "Purchase",
    "apply",
    "empty_state",
    "entry_count",
    "state_from_dict",
    "state_to_dict",
]

# 2 added `td` (the transaction-day figures of the value models); 1 is still read (see
# `tiering.transaction_days.days_of_v1`).
SCHEMA_VERSION = 2
_READABLE_VERSIONS = (1, 2)

_Entry = TypeVar("_Entry", "Purchase", "Adjustment", "NegativeFeedback")


class Outcome(StrEnum):
    """What applying an event did: applied, ignored as a duplicate, or late (lifetime only)."""

    APPLIED = "applied"
    DUPLICATE = "duplicate"
    LATE = "late"


@dataclass(frozen=True, slots=True, order=True)
class Purchase:
    """A purchase inside the retention horizon."""

    occurred_at: datetime
    order_id: str
    amount: Decimal
    margin: Decimal | None


@dataclass(frozen=True, slots=True, order=True)
class Adjustment:
    """A refund or cancel inside the horizon; acts on monetary at its own `occurred_at`."""

    occurred_at: datetime
    event_id: str
    amount: Decimal
    margin: Decimal | None


@dataclass(frozen=True, slots=True, order=True)
class NegativeFeedback:
    """A complaint, or a csat at or below the policy's threshold, inside the lookback."""

    occurred_at: datetime
    event_id: str


@dataclass(frozen=True, slots=True)
class CustomerState:
    """Everything the classification of one customer depends on besides the population."""

    customer_id: str
    schema_version: int = SCHEMA_VERSION
    high_water: datetime | None = None
    purchases: tuple[Purchase, ...] = ()
    adjustments: tuple[Adjustment, ...] = ()
    negative_feedback: tuple[NegativeFeedback, ...] = ()
    first_purchase_at: datetime | None = None
    last_purchase_at: datetime | None = None
    purchase_count: int = 0
    transaction_days: TransactionDays = field(default_factory=TransactionDays)
    late_events: int = 0
    tier: str | None = None
    below_since: datetime | None = None
    _order_ids: frozenset[str] = field(default=frozenset(), compare=False, repr=False)

    def to_json(self) -> bytes:
        """Compact JSON bytes (the Faust table value)."""
        return json.dumps(state_to_dict(self), separators=(",", ":")).encode()

    @staticmethod
    def from_json(raw: bytes) -> CustomerState:
        """Inverse of `to_json`; refuses a state written by an unknown schema version."""
        return state_from_dict(json.loads(raw))


def empty_state(customer_id: str) -> CustomerState:
    """The state of a customer no event has been seen for."""
    return CustomerState(customer_id=customer_id)


@dataclass(frozen=True, slots=True)
class ApplyResult:
    """The new state and what the event did."""

    state: CustomerState
    outcome: Outcome


def _horizon(high_water: datetime | None, days: int) -> datetime | None:
    return None if high_water is None else high_water - timedelta(days=days)


def _time_of(entry: Purchase | Adjustment | NegativeFeedback) -> datetime:
    return entry.occurred_at


def _first_after(entries: tuple[_Entry, ...], horizon: datetime) -> int:
    """Index of the first entry strictly after the horizon (entries are sorted by time)."""
    return bisect.bisect_right(entries, horizon, key=_time_of)


def _prune(state: CustomerState, policy: Policy) -> CustomerState:
    """Drop what no window at or after the high water can contain (bisection, no rescans)."""
    window_horizon = _horizon(state.high_water, policy.window_days)
    feedback_horizon = _horizon(state.high_water, policy.risk.feedback_lookback_days)
    if window_horizon is None or feedback_horizon is None:
        return state
    keep_purchases = _first_after(state.purchases, window_horizon)
    keep_adjustments = _first_after(state.adjustments, window_horizon)
    keep_feedback = _first_after(state.negative_feedback, feedback_horizon)
    if keep_purchases == keep_adjustments == keep_feedback == 0:
        return state
    removed_ids = {p.order_id for p in state.purchases[:keep_purchases]}
    days = state.transaction_days
    if keep_purchases:
        days = with_unheld(days, state.purchases[keep_purchases - 1].occurred_at)
    return replace(
        state,
        transaction_days=days,
        purchases=state.purchases[keep_purchases:],
        adjustments=state.adjustments[keep_adjustments:],
        negative_feedback=state.negative_feedback[keep_feedback:],
        _order_ids=state._order_ids.difference(removed_ids) if removed_ids else state._order_ids,
    )


def _advance(state: CustomerState, occurred_at: datetime, policy: Policy) -> CustomerState:
    if state.high_water is not None and occurred_at <= state.high_water:
        return state
    return _prune(replace(state, high_water=occurred_at), policy)


def _is_late(state: CustomerState, occurred_at: datetime, days: int) -> bool:
    horizon = _horizon(state.high_water, days)
    return horizon is not None and occurred_at <= horizon


def _with_lifetime_purchase(state: CustomerState, event: OrderEvent) -> CustomerState:
    first = state.first_purchase_at
    last = state.last_purchase_at
    occurred_at = event.occurred_at
    days = with_purchase(
        state.transaction_days, first, last, state.purchases, occurred_at, event.amount
    )
    return replace(
        state,
        first_purchase_at=occurred_at if first is None or occurred_at < first else first,
        last_purchase_at=occurred_at if last is None or occurred_at > last else last,
        purchase_count=state.purchase_count + 1,
        transaction_days=days,
    )


def _insert(items: tuple[_Entry, ...], item: _Entry) -> tuple[_Entry, ...]:
    as_list = list(items)
    bisect.insort(as_list, item)
    return tuple(as_list)


def _apply_order(state: CustomerState, event: OrderEvent, policy: Policy) -> ApplyResult:
    if event.kind is OrderKind.PURCHASE:
        if event.order_id in state._order_ids:
            return ApplyResult(state, Outcome.DUPLICATE)
        if _is_late(state, event.occurred_at, policy.window_days):
            counted = _with_lifetime_purchase(state, event)
            late = replace(
                counted,
                late_events=state.late_events + 1,
                transaction_days=with_unheld(counted.transaction_days, event.occurred_at),
            )
            return ApplyResult(late, Outcome.LATE)
        purchase = Purchase(event.occurred_at, event.order_id, event.amount, event.margin)
        updated = replace(
            _with_lifetime_purchase(state, event),
            purchases=_insert(state.purchases, purchase),
            _order_ids=state._order_ids | {event.order_id},
        )
        return ApplyResult(_advance(updated, event.occurred_at, policy), Outcome.APPLIED)
    if any(a.event_id == event.event_id for a in state.adjustments):
        return ApplyResult(state, Outcome.DUPLICATE)
    if _is_late(state, event.occurred_at, policy.window_days):
        return ApplyResult(replace(state, late_events=state.late_events + 1), Outcome.LATE)
    adjustment = Adjustment(event.occurred_at, event.event_id, event.amount, event.margin)
    updated = replace(state, adjustments=_insert(state.adjustments, adjustment))
    return ApplyResult(_advance(updated, event.occurred_at, policy), Outcome.APPLIED)


def _is_negative(event: FeedbackEvent, policy: Policy) -> bool:
    if event.kind is FeedbackKind.COMPLAINT:
        return True
    return (
        event.kind is FeedbackKind.CSAT
        and event.score is not None
        and event.score <= policy.risk.low_csat_max
    )


def _apply_feedback(state: CustomerState, event: FeedbackEvent, policy: Policy) -> ApplyResult:
    if any(f.event_id == event.event_id for f in state.negative_feedback):
        return ApplyResult(state, Outcome.DUPLICATE)
    if _is_late(state, event.occurred_at, policy.risk.feedback_lookback_days):
        return ApplyResult(replace(state, late_events=state.late_events + 1), Outcome.LATE)
    updated = state
    if _is_negative(event, policy):
        entry = NegativeFeedback(event.occurred_at, event.event_id)
        updated = replace(state, negative_feedback=_insert(state.negative_feedback, entry))
    return ApplyResult(_advance(updated, event.occurred_at, policy), Outcome.APPLIED)


def apply(
    state: CustomerState | None, event: OrderEvent | FeedbackEvent, policy: Policy
) -> ApplyResult:
    """Fold one event into a customer's state (None: the customer is new).

    Exact for out-of-order events inside the window. O(entries held) per event: the state is
    bounded by one window, and it is serialised whole into the table anyway.
    """
    current = state if state is not None else empty_state(event.customer_id)
    if current.customer_id != event.customer_id:
        raise TieringError(
            f"event for customer {event.customer_id!r} applied to state of {current.customer_id!r}"
        )
    if isinstance(event, OrderEvent):
        return _apply_order(current, event, policy)
    return _apply_feedback(current, event, policy)


# --- serialisation ---------------------------------------------------------------------------


def _dt(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _pdt(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def _dec(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def _pdec(value: str | None) -> Decimal | None:
    return None if value is None else Decimal(value)


def entry_count(state: CustomerState) -> int:
    """Purchases, refunds/cancels and negative feedback held (what the state's size grows with)."""
    return len(state.purchases) + len(state.adjustments) + len(state.negative_feedback)


def entry_rows(
    purchases: tuple[Purchase, ...],
    adjustments: tuple[Adjustment, ...],
    negative_feedback: tuple[NegativeFeedback, ...],
) -> dict[str, list[list[str | None]]]:
    """The JSON rows of some entries (the `p`, `a` and `nf` fields of a state)."""
    return {
        "p": [[_dt(p.occurred_at), p.order_id, str(p.amount), _dec(p.margin)] for p in purchases],
        "a": [[_dt(a.occurred_at), a.event_id, str(a.amount), _dec(a.margin)] for a in adjustments],
        "nf": [[_dt(f.occurred_at), f.event_id] for f in negative_feedback],
    }


def state_to_dict(state: CustomerState, *, with_entries: bool = True) -> dict[str, object]:
    """The state as JSON-ready fields; without entries, `p`, `a` and `nf` are empty."""
    rows = (
        entry_rows(state.purchases, state.adjustments, state.negative_feedback)
        if with_entries
        else {"p": [], "a": [], "nf": []}
    )
    return {
        "v": state.schema_version,
        "c": state.customer_id,
        "hw": _dt(state.high_water),
        **rows,
        "fp": _dt(state.first_purchase_at),
        "lp": _dt(state.last_purchase_at),
        "n": state.purchase_count,
        "td": days_to_row(state.transaction_days),
        "late": state.late_events,
        "t": state.tier,
        "bs": _dt(state.below_since),
    }


def state_from_dict(data: dict[str, Any]) -> CustomerState:
    """Inverse of `state_to_dict` (with entries); refuses an unknown schema version."""
    version = data.get("v")
    if version not in _READABLE_VERSIONS:
        raise TieringError(
            f"customer state schema_version {version!r} is not one of {_READABLE_VERSIONS}"
        )
    purchases = tuple(
        Purchase(datetime.fromisoformat(t), order_id, Decimal(amount), _pdec(margin))
        for t, order_id, amount, margin in data["p"]
    )
    adjustments = tuple(
        Adjustment(datetime.fromisoformat(t), event_id, Decimal(amount), _pdec(margin))
        for t, event_id, amount, margin in data["a"]
    )
    negative = tuple(
        NegativeFeedback(datetime.fromisoformat(t), event_id) for t, event_id in data["nf"]
    )
    tier = data["t"]
    first_purchase_at = _pdt(data["fp"])
    purchase_count = int(data["n"])
    days = (
        days_from_row(data["td"])
        if version == SCHEMA_VERSION
        else days_of_v1(purchases, first_purchase_at, purchase_count)
    )
    return CustomerState(
        customer_id=str(data["c"]),
        high_water=_pdt(data["hw"]),
        purchases=purchases,
        adjustments=adjustments,
        negative_feedback=negative,
        first_purchase_at=first_purchase_at,
        last_purchase_at=_pdt(data["lp"]),
        purchase_count=purchase_count,
        transaction_days=days,
        late_events=int(data["late"]),
        tier=None if tier is None else str(tier),
        below_since=_pdt(data["bs"]),
        _order_ids=frozenset(p.order_id for p in purchases),
    )
