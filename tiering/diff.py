"""What changed between two classifications of one customer, and in which direction."""

from __future__ import annotations

from dataclasses import dataclass

from schemas import ChangedField, Classification, Direction
from tiering.policy import Policy

__all__ = ["Change", "diff"]


@dataclass(frozen=True, slots=True)
class Change:
    """The counted fields that changed (policy order) and the tier direction."""

    changes: tuple[ChangedField, ...]
    direction: Direction


_FIELD_VALUES = {
    ChangedField.TIER: lambda c: c.tier,
    ChangedField.RISK: lambda c: c.risk,
    ChangedField.LIFECYCLE: lambda c: c.lifecycle,
    ChangedField.SEGMENT: lambda c: c.segment,
    ChangedField.RISING_STAR: lambda c: c.rising_star,
}


def diff(previous: Classification | None, current: Classification, policy: Policy) -> Change | None:
    """The change from `previous` to `current`, or None when no counted field changed.

    A first classification (previous None) is a change of every counted field, direction
    initial. Otherwise the direction is upgrade/downgrade by the policy's tier order, lateral
    for a same-tier change.
    """
    if previous is None:
        return Change(policy.counted_changes, Direction.INITIAL)
    changed = tuple(
        field
        for field in policy.counted_changes
        if _FIELD_VALUES[field](previous) != _FIELD_VALUES[field](current)
    )
    if not changed:
        return None
    before, after = policy.tier_rank(previous.tier), policy.tier_rank(current.tier)
    if after < before:
        direction = Direction.UPGRADE
    elif after > before:
        direction = Direction.DOWNGRADE
    else:
        direction = Direction.LATERAL
    return Change(changed, direction)
