"""`tierstream policy validate FILE`: check a tier policy file and name the first problem."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

__all__ = ["HELP", "add_arguments", "run"]

HELP = "work with tier policy files (validate)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """`policy validate FILE`."""
    actions = parser.add_subparsers(dest="policy_action", required=True, metavar="ACTION")
    validate = actions.add_parser("validate", help="check a policy file")
    validate.add_argument("file", type=Path, metavar="FILE")


def run(args: argparse.Namespace) -> int:
    """Print OK with the policy version, or the first problem by field name (exit 1)."""
    from tiering import PolicyError, load_policy

    try:
        policy = load_policy(args.file)
    except PolicyError as error:
        print(f"invalid policy: {error}", file=sys.stderr)
        return 1
    print(f"OK: {args.file} is a valid policy, version {policy.version}")
    return 0
