"""The `tierstream` console script.

Each subcommand lives in its own module under `streams.cli` exposing `HELP`,
`add_arguments(parser)` and `run(args) -> int`; modules import their heavy dependencies
(Faust, Kafka clients) inside `run`, so `tierstream score` never pays for the stream stack.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

__all__ = ["build_parser", "main"]

# (command, module) in the order `tierstream --help` lists them.
COMMANDS: tuple[tuple[str, str], ...] = (
    ("demo", "streams.cli.demo"),
    ("score", "streams.cli.score"),
    ("replay", "streams.cli.replay"),
    ("worker", "streams.cli.worker"),
    ("clv", "streams.cli.clv"),
    ("policy", "streams.cli.policy"),
    ("notifier", "streams.cli.notifier"),
    ("tier", "streams.cli.tier"),
    ("alerts", "streams.cli.alerts"),
)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every registered subcommand."""
    parser = argparse.ArgumentParser(
        prog="tierstream",
        description="Live customer tiers (ABC, RFM, lifecycle, churn risk) on Kafka.",
    )
    subcommands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, module_name in COMMANDS:
        module = importlib.import_module(module_name)
        sub = subcommands.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(sub)
        sub.set_defaults(_run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the command line and run one subcommand; returns the process exit code."""
    args = build_parser().parse_args(argv)
    exit_code: int = args._run(args)
    return exit_code


if __name__ == "__main__":
    sys.exit(main())
