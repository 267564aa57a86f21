"""Which of the policy's tiers a customer is in (DESIGN.md "Policy-defined tiers").

Tiers are ordered, highest first; the first tier whose condition holds wins and the last one
takes everyone left. A condition holds when each of its fields does:

- `top_share`: p < top_share, with p the share of ranked customers (all active ones, or the
  customer's group under `rank_within`) whose monetary is strictly greater; an inactive
  customer (no p) meets no rank condition;
- `lifecycle`, `risk`: the customer's is listed;
- `rising_star`: the flag equals the given value (`tiering.rising`);
- `industry`, `size`, `region`: the customer's profile value is listed (no profile or a
  missing field: not listed).

Hysteresis asks the same question with every `top_share` widened by the policy margin: a
customer keeps a higher tier while it still meets that tier's widened condition.
"""

from __future__ import annotations

from dataclasses import dataclass

from schemas import Lifecycle, Risk
from schemas.profile import ProfileDimensions
from tiering.policy import Policy, TierCondition, TierPolicy

__all__ = ["Standing", "candidate_tier", "condition_holds", "rank_level", "tier_holds"]


@dataclass(frozen=True, slots=True)
class Standing:
    """What tier conditions read of a customer at one instant."""

    share_above: float | None
    lifecycle: Lifecycle
    risk: Risk
    rising_star: bool
    profile: ProfileDimensions | None = None


def condition_holds(condition: TierCondition, standing: Standing, margin: float = 0.0) -> bool:
    """Whether every field of `condition` holds; `top_share` widened by `margin`."""
    if condition.top_share is not None and (
        standing.share_above is None or not standing.share_above < condition.top_share + margin
    ):
        return False
    if condition.lifecycle is not None and standing.lifecycle not in condition.lifecycle:
        return False
    if condition.risk is not None and standing.risk not in condition.risk:
        return False
    if condition.rising_star is not None and standing.rising_star != condition.rising_star:
        return False
    profile = standing.profile
    for dimension, listed in (
        ("industry", condition.industry),
        ("size", condition.size),
        ("region", condition.region),
    ):
        if listed is not None:
            value = None if profile is None else getattr(profile, dimension)
            if value not in listed:
                return False
    return True


def tier_holds(tier: TierPolicy, standing: Standing, margin: float = 0.0) -> bool:
    """Whether any of the tier's conditions holds (the last tier, with none, always does)."""
    if tier.when is None:
        return True
    return any(condition_holds(condition, standing, margin) for condition in tier.when)


def candidate_tier(policy: Policy, standing: Standing) -> str:
    """The first tier whose condition holds (before hysteresis)."""
    for tier in policy.tiers:
        if tier_holds(tier, standing):
            return tier.name
    return policy.tiers[-1].name  # unreachable: the last tier has no condition


def rank_level(policy: Policy, share_above: float | None) -> int:
    """The position of the highest tier a rank share alone reaches: the first tier with a
    `top_share` condition that p < top_share meets; len(tiers) when none does (or no p)."""
    if share_above is not None:
        for position, tier in enumerate(policy.tiers):
            for condition in tier.when or ():
                if condition.top_share is not None and share_above < condition.top_share:
                    return position
    return len(policy.tiers)
