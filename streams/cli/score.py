"""`tierstream score`: in-process batch classification of order history, no Kafka.

Same definitions as the stream with exact population ranks: backfills and policy what-ifs.
The columns are computed by the columnar engine (`streams.batch`), which reads CSV or
Parquet in chunks and is held equal to the stream's fold (`tiering.score_history`).
"""

from __future__ import annotations

import argparse
import csv
import sys
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, nullcontext
from datetime import UTC, date, datetime, time
from decimal import Decimal
from pathlib import Path
from typing import IO, TYPE_CHECKING

if TYPE_CHECKING:
    import polars as pl

__all__ = ["HELP", "OUTPUT_COLUMNS", "add_arguments", "parse_as_of", "report_problems", "run"]

HELP = "classify customers from order/feedback CSV files at one instant (no Kafka)"
OUTPUT_COLUMNS = (
    "customer_id",
    "tier",
    "abc_class",
    "r_score",
    "f_score",
    "m_score",
    "rfm_segment",
    "lifecycle",
    "risk",
    "recency_days",
    "frequency",
    "monetary",
    # Beyond the contract header (DESIGN.md: "more columns may follow"): true/false.
    "rising_star",
)
_MAX_PROBLEM_LINES = 50


def parse_as_of(text: str) -> datetime:
    """A date means the end of that day UTC (23:59:59.999999); a timestamp is taken as given
    (UTC when it has no zone)."""
    try:
        if len(text.strip()) == 10:
            day = date.fromisoformat(text.strip())
            return datetime.combine(day, time.max, tzinfo=UTC)
        from streams.data.csv_input import parse_instant

        return parse_instant(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--as-of {text!r}: expected a date (2026-01-31) or an RFC 3339 timestamp"
        ) from None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `tierstream score`."""
    parser.add_argument(
        "orders",
        type=Path,
        metavar="ORDERS",
        help="a .csv or .parquet file, or a directory of .parquet files",
    )
    parser.add_argument("--feedback", type=Path, metavar="FEEDBACK", help="same formats as ORDERS")
    parser.add_argument(
        "--profiles",
        type=Path,
        metavar="CUSTOMERS.csv",
        help="customer_id,industry,size,region (empty = unknown), for tier conditions on "
        "them and the policy's rank_within; adds those columns to the output",
    )
    for name in ("orders", "feedback"):
        parser.add_argument(
            f"--{name}-format",
            choices=("csv", "parquet"),
            help=f"format of the {name} input when its name does not say (.csv, .parquet)",
        )
    from streams.analytics.command import RepeatableOption
    from streams.analytics.command import add_arguments as add_analytics_arguments

    parser.add_argument(
        "--as-of",
        type=parse_as_of,
        required=True,
        metavar="DATE",
        action=RepeatableOption,
        help="evaluation instant (twice with --compare)",
    )
    parser.add_argument(
        "--policy",
        type=Path,
        metavar="P.yaml",
        action=RepeatableOption,
        help="default: built-in policy (twice with --compare)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        metavar="OUT.csv",
        help="the rows, or the migration matrix with --compare (default: standard output)",
    )
    parser.add_argument(
        "--clv-model",
        type=Path,
        metavar="MODEL.json",
        help="add p_alive, expected_purchases, expected_order_value, predicted_clv and "
        "expected_next_order_at from a `tierstream clv fit` model",
    )
    parser.add_argument(
        "--clv-horizon-days",
        type=float,
        metavar="N",
        help="horizon of expected_purchases and predicted_clv in days (default: the "
        "policy's value.horizon_days, 365; predicted_clv is discounted at the policy's "
        "value.annual_discount_rate, as in the stream)",
    )
    add_analytics_arguments(parser)


def _progress(
    paths: list[Path],
) -> tuple[AbstractContextManager[object], Callable[[int], None] | None]:
    if not sys.stderr.isatty():
        return nullcontext(), None
    from rich.console import Console
    from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn

    progress = Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        DownloadColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=True,
    )
    total = sum(path.stat().st_size for path in paths if path.exists())
    task = progress.add_task("reading", total=total)
    return progress, lambda size: progress.advance(task, size)


def _rows(customers: pl.DataFrame) -> Iterator[list[str]]:
    for row in customers.iter_rows():
        yield ["" if cell is None else str(cell) for cell in row]


def _write(out: IO[str], customers: pl.DataFrame) -> None:
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(customers.columns)
    writer.writerows(_rows(customers))


def report_problems(reports: list[object]) -> None:
    from streams.data.csv_input import CsvReport

    for report in reports:
        assert isinstance(report, CsvReport)
        if not report.problems:
            continue
        print(
            f"{report.path}: skipped {len(report.problems)} of {report.rows} rows",
            file=sys.stderr,
        )
        for reason, count in sorted(report.by_reason.items()):
            print(f"  {count:>8}  {reason}", file=sys.stderr)
        for problem in report.problems[:_MAX_PROBLEM_LINES]:
            where = f"{problem.source} " if problem.source else ""
            print(f"  {where}{report.unit} {problem.line}: {problem.reason}", file=sys.stderr)
        if len(report.problems) > _MAX_PROBLEM_LINES:
            print(f"  … {len(report.problems) - _MAX_PROBLEM_LINES} more", file=sys.stderr)


def _summary(customers: pl.DataFrame, policy: object) -> None:
    from rich.console import Console
    from rich.table import Table

    from tiering import Policy

    assert isinstance(policy, Policy)
    counts: dict[str, int] = dict(customers.get_column("tier").value_counts().iter_rows())
    revenue: dict[str, Decimal] = dict.fromkeys(policy.tier_names, Decimal(0))
    for tier, monetary in customers.select("tier", "monetary").iter_rows():
        revenue[tier] += Decimal(monetary)
    total = sum(revenue.values(), Decimal(0))
    table = Table(title=f"Tiers ({policy.basis.value} basis, {policy.window_days}-day window)")
    for column in ("tier", "label", "customers", f"{policy.basis.value} share"):
        table.add_column(column, justify="right" if column != "label" else "left")
    for tier in policy.tiers:
        share = f"{revenue[tier.name] / total * 100:.1f} %" if total else "-"
        customers_in_tier = counts.get(tier.name, 0)
        table.add_row(tier.name, tier.label, f"{customers_in_tier:,}", share)
    Console(stderr=True).print(table)


def run(args: argparse.Namespace) -> int:
    """Score the files; exit 0 unless an input cannot be read at all (2)."""
    from streams.analytics.command import run_analytics, wants_analytics

    if wants_analytics(args):  # --compare / --report: scores by calling this run again
        return run_analytics(args, run)
    from streams.batch import InputFormat, score_files
    from streams.data.csv_input import CsvError
    from tiering import PolicyError, TieringError, default_policy, load_policy

    try:
        policy = load_policy(args.policy) if args.policy else default_policy()
    except PolicyError as error:
        print(f"tierstream score: {error}", file=sys.stderr)
        return 2
    if policy.uses_profile and not args.profiles:
        print(
            "tierstream score: the policy reads profile dimensions (rank_within or tier "
            "conditions); without --profiles every customer's are unknown",
            file=sys.stderr,
        )
    value_model = None
    if args.clv_model:
        from tiering.value import ModelFileError, load_model

        try:
            value_model = load_model(args.clv_model)
        except ModelFileError as error:
            print(f"tierstream score: {error}", file=sys.stderr)
            return 2
    paths = [args.orders, *([args.feedback] if args.feedback else [])]
    paths += [args.profiles] if args.profiles else []
    progress, advance = _progress(paths)
    try:
        with progress:
            scored = score_files(
                args.orders,
                args.as_of,
                feedback=args.feedback,
                policy=policy,
                orders_format=InputFormat(args.orders_format) if args.orders_format else None,
                feedback_format=(
                    InputFormat(args.feedback_format) if args.feedback_format else None
                ),
                value_model=value_model,
                horizon_days=args.clv_horizon_days,
                on_progress=advance,
                profiles=args.profiles,
            )
    except CsvError as error:
        print(f"tierstream score: {error}", file=sys.stderr)
        return 2
    except TieringError as error:  # e.g. a value model that cannot predict these customers
        print(f"tierstream score: {error}", file=sys.stderr)
        return 2
    report_problems(list(scored.reports))
    if scored.after_as_of:
        print(f"{scored.after_as_of} events after --as-of were left out", file=sys.stderr)
    if args.out:
        with args.out.open("w", newline="", encoding="utf-8") as out:
            _write(out, scored.customers)
    else:
        _write(sys.stdout, scored.customers)
    _summary(scored.customers, policy)
    return 0
