"""Rank-dependent classification: ABC class, R/F/M scores, segment, and tier with hysteresis.

- ABC: p = share of active customers with strictly greater monetary; A if p < a_cut,
  B if p < b_cut, else C; inactive customers are C (ties share a class, since equal values
  have equal p).
- Scores: s = min(5, 1 + floor(5 × share)), share = strictly smaller frequency / monetary,
  or strictly larger recency_days for R (fresher is better). Inactive: no scores.
- Tier: the first of the policy's tiers whose condition holds (`tiering.tiers`; under the
  default policy the ABC class), with hysteresis: an upgrade applies at once; a downgrade
  only after the customer has failed the current tier's condition widened by the policy
  margin (every top_share + margin) for `downgrade_after_days` of event time (while it
  meets the widened condition the hold clock resets).
- Rising star: `tiering.rising`.
- Under `rank_within`, the caller passes the population of the customer's group: every
  share, score and class here is then taken within that group.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from schemas import (
    AbcClass,
    Classification,
    ClassificationMetrics,
    Reason,
    RfmScores,
    Risk,
)
from schemas.profile import ProfileDimensions
from tiering.explain import reasons_for
from tiering.measure import Measurement, measure
from tiering.policy import Policy
from tiering.population import Population, RankedMetric
from tiering.rising import growth_projection, is_rising_star, projected_share_above
from tiering.state import CustomerState
from tiering.tiers import Standing, candidate_tier, tier_holds
from tiering.valuation import value_figures
from tiering.value import ValueModel

__all__ = [
    "SCORE_EPSILON",
    "Evaluation",
    "TierHold",
    "abc_class",
    "classify",
    "classify_measurement",
    "score_of",
]

# 5 × k / n is either an integer or at least 1/n away from one; this absorbs float rounding.
SCORE_EPSILON = 1e-9


@dataclass(frozen=True, slots=True)
class TierHold:
    """The tier a customer holds and since when it has been clearly below that tier's cut."""

    tier: str | None = None
    below_since: datetime | None = None


@dataclass(frozen=True, slots=True)
class Evaluation:
    """A classification with the figures and reasons behind it, and the updated hold."""

    customer_id: str
    as_of: datetime
    classification: Classification
    metrics: ClassificationMetrics
    reasons: tuple[Reason, ...]
    hold: TierHold
    measurement: Measurement


def score_of(share: float) -> int:
    """1 + floor(5 × share), capped at 5."""
    return min(5, 1 + math.floor(5 * share + SCORE_EPSILON))


def abc_class(share_above: float | None, policy: Policy) -> AbcClass:
    """ABC class from p (None for an inactive customer)."""
    if share_above is None:
        return AbcClass.C
    if share_above < policy.abc.a_cut:
        return AbcClass.A
    if share_above < policy.abc.b_cut:
        return AbcClass.B
    return AbcClass.C


def _next_tier(
    candidate: str, standing: Standing, hold: TierHold, policy: Policy, as_of: datetime
) -> TierHold:
    current = hold.tier
    if current is None or policy.tier_rank(candidate) <= policy.tier_rank(current):
        return TierHold(candidate, None)
    # A lower candidate: the current tier is a tier of this policy (tier_rank < len).
    if tier_holds(policy.tier(current), standing, policy.hysteresis.margin):
        return TierHold(current, None)
    below_since = hold.below_since or as_of
    if as_of - below_since >= timedelta(days=policy.hysteresis.downgrade_after_days):
        return TierHold(candidate, None)
    return TierHold(current, below_since)


def classify_measurement(
    measurement: Measurement,
    hold: TierHold,
    population: Population,
    policy: Policy,
    value_model: ValueModel | None = None,
    profile: ProfileDimensions | None = None,
) -> Evaluation:
    """Classify one measured customer against the population, advancing its tier hold.

    `profile`: the customer's industry/size/region for tier conditions that name them.

    With a value model, the metrics carry the customer's p_alive, predicted_clv and
    expected_next_order_at (`tiering.valuation`); without one they are null. With one and
    the policy's `risk.p_alive_below`, a customer whose own events say ok is at_risk when its
    p_alive is below that threshold.
    """
    shares: dict[str, float | None] = {
        "monetary_share_above": None,
        "monetary_share_below": None,
        "frequency_share_below": None,
        "recency_share_above": None,
    }
    scores: RfmScores | None = None
    segment = None
    if measurement.active and measurement.recency_days is not None:
        monetary = float(measurement.monetary)
        shares = {
            "monetary_share_above": population.share_greater(RankedMetric.MONETARY, monetary),
            "monetary_share_below": population.share_smaller(RankedMetric.MONETARY, monetary),
            "frequency_share_below": population.share_smaller(
                RankedMetric.FREQUENCY, float(measurement.frequency)
            ),
            "recency_share_above": population.share_greater(
                RankedMetric.RECENCY_DAYS, float(measurement.recency_days)
            ),
        }
        scores = RfmScores(
            recency=score_of(shares["recency_share_above"] or 0.0),
            frequency=score_of(shares["frequency_share_below"] or 0.0),
            monetary=score_of(shares["monetary_share_below"] or 0.0),
        )
        segment = policy.segment_for(scores.recency, scores.frequency, scores.monetary)
    share_above = shares["monetary_share_above"]
    value_class = abc_class(share_above, policy)
    value = (
        None
        if value_model is None
        else value_figures(
            measurement,
            value_model,
            policy.value.horizon_days,
            policy.value.annual_discount_rate,
        )
    )
    threshold = policy.risk.p_alive_below
    risk = measurement.risk
    if risk is Risk.OK and value is not None and threshold is not None:
        risk = Risk.AT_RISK if value.p_alive < threshold else Risk.OK
    projected = value.predicted_clv if value is not None else growth_projection(measurement, policy)
    projected_share = (
        projected_share_above(projected, population) if share_above is not None else None
    )
    standing = Standing(
        share_above=share_above,
        lifecycle=measurement.lifecycle,
        risk=risk,
        rising_star=is_rising_star(share_above, projected_share, policy),
        profile=profile,
    )
    candidate = candidate_tier(policy, standing)
    new_hold = _next_tier(candidate, standing, hold, policy, measurement.as_of)
    assert new_hold.tier is not None
    classification = Classification(
        tier=new_hold.tier,
        abc_class=value_class,
        scores=scores,
        segment=segment,
        lifecycle=measurement.lifecycle,
        risk=risk,
        rising_star=standing.rising_star,
    )
    metrics = ClassificationMetrics(
        recency_days=measurement.recency_days,
        frequency=measurement.frequency,
        monetary=measurement.monetary,
        active_customers=population.active_count,
        **shares,
        p_alive=None if value is None else value.p_alive,
        predicted_clv=None if value is None else value.predicted_clv,
        expected_next_order_at=None if value is None else value.expected_next_order_at,
    )
    return Evaluation(
        customer_id=measurement.customer_id,
        as_of=measurement.as_of,
        classification=classification,
        metrics=metrics,
        reasons=reasons_for(
            measurement,
            classification,
            metrics,
            new_hold,
            policy,
            candidate,
            projected_share,
            projected_by_model=value is not None,
        ),
        hold=new_hold,
        measurement=measurement,
    )


def classify(
    state: CustomerState,
    population: Population,
    policy: Policy,
    as_of: datetime,
    value_model: ValueModel | None = None,
) -> tuple[CustomerState, Evaluation]:
    """Measure and classify a customer at `as_of`; returns the state with its hold advanced."""
    hold = TierHold(state.tier, state.below_since)
    evaluation = classify_measurement(
        measure(state, policy, as_of), hold, population, policy, value_model
    )
    updated = replace(state, tier=evaluation.hold.tier, below_since=evaluation.hold.below_since)
    return updated, evaluation
