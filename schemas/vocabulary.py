"""The closed vocabularies of a customer classification.

These enums are part of the public event contract (they appear as strings in every
`TierChanged`); adding a member is a minor contract change, renaming or removing one is major.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import StringConstraints

__all__ = [
    "TIER_NAME_PATTERN",
    "AbcClass",
    "ChangedField",
    "Direction",
    "Lifecycle",
    "RfmSegment",
    "Risk",
    "TierName",
]


class AbcClass(StrEnum):
    """Pareto value class among active customers: A top 5 %, B next 15 %, C the rest."""

    A = "A"
    B = "B"
    C = "C"


# A tier's name, as the policy defines it (DESIGN.md "Policy-defined tiers"): the default
# policy's are A, B and C; a value-layer policy may call them premium, developing, ... Names
# are short identifiers, so they are safe as Prometheus label values and Redis key parts; the
# policy bounds how many there are (2 to 8) and orders them (first = highest).
TIER_NAME_PATTERN = r"^[A-Za-z][A-Za-z0-9_]{0,31}$"
TierName = Annotated[str, StringConstraints(pattern=TIER_NAME_PATTERN)]


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
    RISING_STAR = "rising_star"


class Direction(StrEnum):
    """Direction of a change: first classification, tier up, tier down, or same tier."""

    INITIAL = "initial"
    UPGRADE = "upgrade"
    DOWNGRADE = "downgrade"
    LATERAL = "lateral"
