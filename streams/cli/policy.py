"""`tierstream policy validate FILE`: check a tier policy file and name the first problem.

On success it prints the tiers in order (the first whose condition holds wins), so a reader
sees what the file means: name, label and when a customer is in the tier.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tiering.policy import Policy, TierCondition

__all__ = ["HELP", "add_arguments", "describe_condition", "run"]

HELP = "work with tier policy files (validate)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """`policy validate FILE`."""
    actions = parser.add_subparsers(dest="policy_action", required=True, metavar="ACTION")
    validate = actions.add_parser("validate", help="check a policy file")
    validate.add_argument("file", type=Path, metavar="FILE")


def describe_condition(condition: TierCondition) -> str:
    """One line a person reads, e.g. "top 50 % and risk ok" (fields joined by "and")."""
    parts = []
    if condition.top_share is not None:
        parts.append(f"top {condition.top_share * 100:g} %")
    for name in ("lifecycle", "risk"):
        listed = getattr(condition, name)
        if listed is not None:
            parts.append(f"{name} {' or '.join(value.value for value in listed)}")
    if condition.rising_star is not None:
        parts.append("rising star" if condition.rising_star else "not a rising star")
    for name in ("industry", "size", "region"):
        listed = getattr(condition, name)
        if listed is not None:
            parts.append(f"{name} {' or '.join(listed)}")
    return " and ".join(parts) or "always"


def _tier_lines(policy: Policy) -> list[str]:
    ranked = f"{policy.basis.value}, {policy.window_days}-day window"
    if policy.rank_within is not None:
        ranked += f", ranked within {policy.rank_within}"
    lines = [f"tiers (first that holds wins; top = by {ranked}):"]
    width = max(len(tier.name) for tier in policy.tiers)
    for position, tier in enumerate(policy.tiers, start=1):
        when = (
            "everyone else"
            if tier.when is None
            else " or ".join(f"({describe_condition(c)})" for c in tier.when)
            if len(tier.when) > 1
            else describe_condition(tier.when[0])
        )
        lines.append(f"  {position}. {tier.name:<{width}}  {tier.label}: {when}")
    return lines


def run(args: argparse.Namespace) -> int:
    """Print OK with the policy version and its tiers, or the first problem by field name
    (exit 1)."""
    from tiering import PolicyError, load_policy

    try:
        policy = load_policy(args.file)
    except PolicyError as error:
        print(f"invalid policy: {error}", file=sys.stderr)
        return 1
    print(f"OK: {args.file} is a valid policy, version {policy.version}")
    for line in _tier_lines(policy):
        print(line)
    return 0
