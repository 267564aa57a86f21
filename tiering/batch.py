"""Batch classification of a whole history at one `as_of` with exact population ranks.

The same engine as the stream (apply → measure → classify), with an `ExactPopulation` of
every active customer. Events after `as_of` have not happened yet and are left out. Every
customer is classified as a first classification (no tier hold history).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from schemas import FeedbackEvent, OrderEvent
from schemas.profile import ProfileDimensions
from tiering.classify import Evaluation, TierHold, classify_measurement
from tiering.measure import Measurement, measure
from tiering.policy import Policy
from tiering.population import ExactPopulation, RankedMetric
from tiering.state import CustomerState, Outcome, apply

__all__ = ["BatchResult", "group_of", "score_history"]


@dataclass(frozen=True)
class BatchResult:
    """One evaluation per customer (sorted by customer id) and the event outcomes."""

    evaluations: tuple[Evaluation, ...]
    outcomes: dict[Outcome, int] = field(default_factory=dict)
    after_as_of: int = 0


def _event_order(event: OrderEvent | FeedbackEvent) -> datetime:
    return event.occurred_at


def group_of(profile: ProfileDimensions | None, policy: Policy) -> str | None:
    """The customer's ranking group under `policy.rank_within`: the value of that profile
    dimension; None (its own group) without a profile, without that field, or when the
    policy ranks everyone together."""
    if policy.rank_within is None or profile is None:
        return None
    value: str | None = getattr(profile, policy.rank_within)
    return value


def _population(measurements: Sequence[Measurement]) -> ExactPopulation:
    active = [m for m in measurements if m.active]
    return ExactPopulation(
        {
            RankedMetric.MONETARY: [float(m.monetary) for m in active],
            RankedMetric.FREQUENCY: [float(m.frequency) for m in active],
            RankedMetric.RECENCY_DAYS: [float(m.recency_days or 0) for m in active],
        }
    )


def score_history(
    orders: Iterable[OrderEvent],
    feedback: Iterable[FeedbackEvent],
    policy: Policy,
    as_of: datetime,
    profiles: Mapping[str, ProfileDimensions] | None = None,
) -> BatchResult:
    """Classify every customer that appears in any event, at `as_of`.

    Events are applied in event-time order (a stable sort, so ties keep input order), which
    makes the result independent of how the input files were ordered. `profiles`
    (customer_id → industry/size/region) feed tier conditions on those dimensions and, under
    `rank_within`, the groups ranked apart: each customer is ranked among the active
    customers of its group (`group_of`).
    """
    known = profiles or {}
    events: list[OrderEvent | FeedbackEvent] = [*orders, *feedback]
    events.sort(key=_event_order)
    states: dict[str, CustomerState | None] = {}
    outcomes = dict.fromkeys(Outcome, 0)
    after = 0
    for event in events:
        if event.occurred_at > as_of:
            after += 1
            states.setdefault(event.customer_id, None)
            continue
        result = apply(states.get(event.customer_id), event, policy)
        states[event.customer_id] = result.state
        outcomes[result.outcome] += 1

    measurements: list[Measurement] = [
        measure(state if state is not None else CustomerState(customer_id), policy, as_of)
        for customer_id, state in sorted(states.items())
    ]
    groups: dict[str | None, list[Measurement]] = {}
    for measurement in measurements:
        group = group_of(known.get(measurement.customer_id), policy)
        groups.setdefault(group, []).append(measurement)
    populations = {group: _population(members) for group, members in groups.items()}
    evaluations = tuple(
        classify_measurement(
            measurement,
            TierHold(),
            populations[group_of(known.get(measurement.customer_id), policy)],
            policy,
            profile=known.get(measurement.customer_id),
        )
        for measurement in measurements
    )
    return BatchResult(evaluations, outcomes, after)
