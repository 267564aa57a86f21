"""The closed vocabularies of a customer classification.

These enums are part of the public event contract (they appear as strings in every
`TierChanged`); adding a member is a minor contract change, renaming or removing one is major.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = [
    "AbcClass",
    "ChangedField",
    "Direction",
    "Lifecycle",
    "RfmSegment",
    "Risk",
    "Tier",
]


class AbcClass(StrEnum):
    """Pareto value class among active customers: A top 5 %, B next 15 %, C the rest."""

    A = "A"
    B = "B"
    C = "C"


class Tier(StrEnum):
    """The policy's service tier; by default the ABC class with hysteresis on downgrades.

    Ordered: A is the highest tier (`Tier.A.rank == 0`).
    """

    A = "A"
    B = "B"
    C = "C"

    @property
    def rank(self) -> int:
        """0 for the highest tier; an upgrade lowers the rank."""
        return _TIER_ORDER[self]


_TIER_ORDER = {Tier.A: 0, Tier.B: 1, Tier.C: 2}


class Lifecycle(StrEnum):
    """Lifecycle stage: new (first purchase ≤ 90 days ago), growth, mature, decline, churned."""

    NEW = "new"
    GROWTH = "growth"
    MATURE = "mature"
    DECLINE = "decline"
    CHURNED = "churned"


class Risk(StrEnum):
    """Churn risk: ok, at_risk (overdue or unhappy), churned (no purchase in the window)."""

    OK = "ok"
    AT_RISK = "at_risk"
    CHURNED = "churned"


class RfmSegment(StrEnum):
    """Named RFM segments; the policy maps (R, F, M) scores onto these."""

    CHAMPIONS = "champions"
    LOYAL = "loyal"
    POTENTIAL_LOYALIST = "potential_loyalist"
    NEW = "new"
    PROMISING = "promising"
    NEED_ATTENTION = "need_attention"
    ABOUT_TO_SLEEP = "about_to_sleep"
    AT_RISK = "at_risk"
    CANT_LOSE = "cant_lose"
    HIBERNATING = "hibernating"
    LOST = "lost"


class ChangedField(StrEnum):
    """Which part of a classification changed, as listed in `TierChanged.changes`."""

    TIER = "tier"
    RISK = "risk"
    LIFECYCLE = "lifecycle"
    SEGMENT = "segment"


class Direction(StrEnum):
    """Direction of a change: first classification, tier up, tier down, or same tier."""

    INITIAL = "initial"
    UPGRADE = "upgrade"
    DOWNGRADE = "downgrade"
    LATERAL = "lateral"
