"""`tierstream score --compare` and `--report`: scoring once or twice, then the analysis.

Each scoring is an ordinary `tierstream score` run (whatever its engine) into a temporary
CSV file, read back through the output contract; this module never calls the engine itself.

- `--compare` with two `--policy` (same history, same as_of) or two `--as-of` (same policy):
  the migration matrix from the first scoring to the second (streams.analytics.migration) is
  printed as a table on standard error and written as CSV to `--out` (default: standard
  output). Each scoring still prints its own tier summary.
- `--report REPORT.html`: the HTML report (streams.analytics.report) of the scoring, or of
  the second scoring plus the migration matrix when comparing. Without `--compare` the scored
  CSV still goes to `--out` or standard output as usual.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from collections.abc import Callable, Sequence
from datetime import datetime, time
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tiering import Policy

__all__ = ["RepeatableOption", "add_arguments", "run_analytics", "wants_analytics"]


class RepeatableOption(argparse.Action):
    """An option that may be given more than once: `dest` keeps the first value (what one
    scoring reads) and `dest_all` every value in order (what `--compare` reads)."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: str | Sequence[Any] | None,
        option_string: str | None = None,
    ) -> None:
        every = [*getattr(namespace, f"{self.dest}_all", []), values]
        setattr(namespace, f"{self.dest}_all", every)
        setattr(namespace, self.dest, every[0])


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """`--compare` and `--report` of `tierstream score`."""
    parser.add_argument(
        "--compare",
        action="store_true",
        help="score twice, with two --policy or at two --as-of, and write the migration "
        "matrix (customers and revenue from each tier to each tier) instead of the rows",
    )
    parser.add_argument(
        "--report",
        type=Path,
        metavar="REPORT.html",
        help="also write a self-contained HTML report (charts and watch lists)",
    )


def _every(args: argparse.Namespace, name: str) -> list[Any]:
    return list(getattr(args, f"{name}_all", [getattr(args, name)]))


def wants_analytics(args: argparse.Namespace) -> bool:
    """Whether the run needs this module rather than one plain scoring."""
    return bool(
        args.compare
        or args.report
        or len(_every(args, "policy")) > 1
        or len(_every(args, "as_of")) > 1
    )


def _as_of_label(as_of: datetime) -> str:
    """A date given on the command line (end of day UTC) shows as the date."""
    if as_of.time() == time.max:
        return as_of.date().isoformat()
    return as_of.isoformat()


def _policy_label(path: Path | None) -> str:
    return "built-in policy" if path is None else str(path)


def _sides(args: argparse.Namespace) -> list[tuple[str, argparse.Namespace]] | str:
    """(label, arguments of one scoring) per scoring, or the usage problem."""
    policies, as_ofs = _every(args, "policy"), _every(args, "as_of")
    if not args.compare:
        if len(policies) > 1 or len(as_ofs) > 1:
            return "--policy or --as-of given twice: add --compare to compare two scorings"
        runs = [("", policies[0], as_ofs[0])]
    elif len(policies) == 2 and len(as_ofs) == 1:
        runs = [(f"policy {_policy_label(p)}", p, as_ofs[0]) for p in policies]
    elif len(as_ofs) == 2 and len(policies) == 1:
        runs = [(f"as of {_as_of_label(a)}", policies[0], a) for a in as_ofs]
    else:
        return "--compare needs two --policy or two --as-of (not both, not more)"
    sides = []
    for label, policy, as_of in runs:
        single = argparse.Namespace(**vars(args))
        single.policy, single.policy_all, single.as_of, single.as_of_all = (
            policy,
            [policy],
            as_of,
            [as_of],
        )
        single.compare, single.report = False, None
        sides.append((label, single))
    return sides


def _print_matrix(matrix: object) -> None:
    from rich.console import Console
    from rich.table import Table

    from streams.analytics.migration import MigrationMatrix

    assert isinstance(matrix, MigrationMatrix)
    STATES = matrix.states
    table = Table(
        title=f"Migration {matrix.first_label} → {matrix.second_label}: "
        f"{matrix.upgrades:,} up, {matrix.downgrades:,} down, {matrix.stayed:,} unchanged",
        caption="customers, then their revenue first → second",
    )
    table.add_column("from \\ to")
    for target in STATES:
        table.add_column(target, justify="right")
    for source in STATES:
        cells = [matrix.cell(source, target) for target in STATES]
        table.add_row(
            source,
            *(f"{c.customers:,}\n{c.from_revenue:,.2f} → {c.to_revenue:,.2f}" for c in cells),
        )
    Console(stderr=True).print(table)


def _deliver(source: Path, out: Path | None) -> None:
    """Copy a written CSV to `out`, or to standard output."""
    if out is not None:
        shutil.copyfile(source, out)
        return
    with source.open(encoding="utf-8", newline="") as handle:
        shutil.copyfileobj(handle, sys.stdout)


def _description(
    args: argparse.Namespace, sides: list[tuple[str, argparse.Namespace]], policy: Policy
) -> list[tuple[str, str]]:
    last = sides[-1][1]
    rows = [("orders", str(args.orders))]
    if len(sides) == 2:
        rows.append(("compared", f"{sides[0][0]} → {sides[1][0]}"))
        rows.append(("charts and lists show", sides[1][0]))
    rows.append(("as of", _as_of_label(last.as_of)))
    rows.append(
        (
            "policy",
            f"{policy.version} ({_policy_label(last.policy)}), {policy.basis.value} basis, "
            f"{policy.window_days}-day window",
        )
    )
    if args.clv_model:
        rows.append(("value model", str(args.clv_model)))
    return rows


def run_analytics(args: argparse.Namespace, score_one: Callable[[argparse.Namespace], int]) -> int:
    """Run the scorings with `score_one` (the plain `tierstream score` run), then compare
    and/or report. Exit codes as `score_one`'s, and 2 for a usage problem."""
    from streams.analytics.migration import MigrationMatrix, migrate
    from streams.analytics.report import ReportInput, write_report
    from streams.analytics.scored import Scoring, read_scoring
    from tiering import default_policy, load_policy

    sides = _sides(args)
    if isinstance(sides, str):
        print(f"tierstream score: {sides}", file=sys.stderr)
        return 2
    scorings: list[Scoring] = []
    with tempfile.TemporaryDirectory(prefix="tierstream-score-") as folder:
        for index, (label, single) in enumerate(sides):
            single.out = Path(folder) / f"scoring-{index}.csv"
            if label:
                print(f"── scoring {label}", file=sys.stderr)
            code = score_one(single)
            if code:
                return code
            scorings.append(read_scoring(single.out))
        if len(sides) == 1:
            _deliver(sides[0][1].out, args.out)
    policies = [
        load_policy(single.policy) if single.policy else default_policy() for _, single in sides
    ]
    # Both scorings' tiers, highest first: the first policy's, then the second's new ones.
    tiers = tuple(dict.fromkeys(name for policy in policies for name in policy.tier_names))
    matrix: MigrationMatrix | None = None
    if len(sides) == 2:
        matrix = migrate(
            scorings[0].customers, scorings[1].customers, sides[0][0], sides[1][0], tiers
        )
        _print_matrix(matrix)
        if args.out is not None:
            with args.out.open("w", newline="", encoding="utf-8") as out:
                matrix.write_csv(out)
        else:
            matrix.write_csv(sys.stdout)
    if args.report is not None:
        policy = policies[-1]
        labels = {tier.name: tier.label for tier in policy.tiers}
        description = _description(args, sides, policy)
        write_report(args.report, ReportInput(scorings[-1], labels, description, matrix))
        print(f"report written to {args.report}", file=sys.stderr)
    return 0
