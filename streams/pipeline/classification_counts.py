"""How a partition's current classifications are spread, kept as they change, for the
worker's gauges: customers per tier, risk and lifecycle, monetary per tier, and customers per
profile dimension value and tier for the policy's `metrics_dimensions`. No scan: each
classified customer's contribution is remembered and replaced when it is re-classified.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from schemas import Classification, Lifecycle, Risk
from schemas.profile import ProfileDimensions
from tiering import Policy

__all__ = ["NO_DIMENSION_VALUE", "ClassificationCounts", "CountKeeper"]


@dataclass(frozen=True)
class ClassificationCounts:
    """How a partition's current classifications are spread, for the worker's gauges.

    `monetary_by_tier` sums each classified customer's monetary value (the policy's basis:
    trailing-window revenue or margin, net of refunds, floored at 0) as of the boundary it
    was last evaluated at, per current tier. Every tier of the policy and every member of
    each enum is present.

    `by_dimension`: customers per (dimension, value, tier) for each of the policy's
    `metrics_dimensions`, the value as the customer's profile gave it when it was last
    evaluated (`NO_DIMENSION_VALUE` without one); only combinations with customers appear.
    """

    tiers: Mapping[str, int]
    risks: Mapping[Risk, int]
    lifecycles: Mapping[Lifecycle, int]
    monetary_by_tier: Mapping[str, Decimal]
    by_dimension: Mapping[tuple[str, str, str], int] = field(default_factory=dict)


# The value a customer without a profile, or without that field in it, is counted under.
NO_DIMENSION_VALUE = "none"

# tier, risk, lifecycle, monetary, and the metrics dimensions' values (policy order).
_Tally = tuple[str, Risk, Lifecycle, Decimal, tuple[str, ...]]


class CountKeeper:
    """Each classified customer's contribution to `ClassificationCounts`, and their sums."""

    def __init__(self, policy: Policy) -> None:
        self._policy = policy
        self._tallies: dict[str, _Tally] = {}
        self._tiers: Counter[str] = Counter()
        self._risks: Counter[Risk] = Counter()
        self._lifecycles: Counter[Lifecycle] = Counter()
        self._monetary: dict[str, Decimal] = dict.fromkeys(policy.tier_names, Decimal(0))
        self._by_dimension: Counter[tuple[str, str, str]] = Counter()

    def counts(self) -> ClassificationCounts:
        """The sums now (every tier of the policy and every enum member present)."""
        return ClassificationCounts(
            tiers={tier: self._tiers[tier] for tier in self._policy.tier_names},
            risks={risk: self._risks[risk] for risk in Risk},
            lifecycles={stage: self._lifecycles[stage] for stage in Lifecycle},
            monetary_by_tier={
                tier: self._monetary.get(tier, Decimal(0)) for tier in self._policy.tier_names
            },
            by_dimension={key: count for key, count in self._by_dimension.items() if count},
        )

    def count(
        self,
        customer_id: str,
        classification: Classification,
        monetary: Decimal,
        profile: ProfileDimensions | None,
    ) -> None:
        """The customer's classification is now `classification` (replacing any earlier)."""
        self.forget(customer_id)
        values = tuple(
            (getattr(profile, dimension) if profile is not None else None) or NO_DIMENSION_VALUE
            for dimension in self._policy.metrics_dimensions
        )
        tier = classification.tier
        self._tallies[customer_id] = (
            tier,
            classification.risk,
            classification.lifecycle,
            monetary,
            values,
        )
        self._tiers[tier] += 1
        self._risks[classification.risk] += 1
        self._lifecycles[classification.lifecycle] += 1
        self._monetary[tier] = self._monetary.get(tier, Decimal(0)) + monetary
        for dimension, value in zip(self._policy.metrics_dimensions, values, strict=True):
            self._by_dimension[(dimension, value, tier)] += 1

    def forget(self, customer_id: str) -> None:
        """Take the customer's contribution out (erased, or about to be re-counted)."""
        tally = self._tallies.pop(customer_id, None)
        if tally is None:
            return
        tier, risk, lifecycle, amount, values = tally
        self._tiers[tier] -= 1
        self._risks[risk] -= 1
        self._lifecycles[lifecycle] -= 1
        self._monetary[tier] -= amount
        for dimension, value in zip(self._policy.metrics_dimensions, values, strict=True):
            key = (dimension, value, tier)
            self._by_dimension[key] -= 1
            if not self._by_dimension[key]:
                del self._by_dimension[key]
