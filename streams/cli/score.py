"""`tierstream score`: in-process batch classification of CSV history, no Kafka.

Same engine as the stream with exact population ranks: backfills and policy what-ifs.
"""

from __future__ import annotations

import argparse
import csv
import sys
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, nullcontext
from datetime import UTC, date, datetime, time
from decimal import Decimal
from pathlib import Path
from typing import IO

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
    parser.add_argument("orders", type=Path, metavar="ORDERS.csv")
    parser.add_argument("--feedback", type=Path, metavar="F.csv")
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


def _rows(evaluations: tuple[object, ...], clv: dict[str, list[str]] | None) -> Iterator[list[str]]:
    from streams.cli.score_clv import EMPTY_CELLS
    from tiering import Evaluation

    for evaluation in evaluations:
        assert isinstance(evaluation, Evaluation)
        c, m = evaluation.classification, evaluation.metrics
        scores = c.scores
        yield [
            evaluation.customer_id,
            c.tier.value,
            c.abc_class.value,
            "" if scores is None else str(scores.recency),
            "" if scores is None else str(scores.frequency),
            "" if scores is None else str(scores.monetary),
            "" if c.segment is None else c.segment.value,
            c.lifecycle.value,
            c.risk.value,
            "" if m.recency_days is None else str(m.recency_days),
            str(m.frequency),
            str(m.monetary),
            *([] if clv is None else clv.get(evaluation.customer_id, EMPTY_CELLS)),
        ]


def _write(out: IO[str], evaluations: tuple[object, ...], clv: dict[str, list[str]] | None) -> None:
    from streams.cli.score_clv import CLV_COLUMNS

    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(OUTPUT_COLUMNS + (CLV_COLUMNS if clv is not None else ()))
    writer.writerows(_rows(evaluations, clv))


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
            print(f"  line {problem.line}: {problem.reason}", file=sys.stderr)
        if len(report.problems) > _MAX_PROBLEM_LINES:
            print(f"  … {len(report.problems) - _MAX_PROBLEM_LINES} more", file=sys.stderr)


def _summary(evaluations: tuple[object, ...], policy: object) -> None:
    from rich.console import Console
    from rich.table import Table

    from schemas import Tier
    from tiering import Evaluation, Policy

    assert isinstance(policy, Policy)
    customers: dict[Tier, int] = defaultdict(int)
    revenue: dict[Tier, Decimal] = defaultdict(Decimal)
    for evaluation in evaluations:
        assert isinstance(evaluation, Evaluation)
        customers[evaluation.classification.tier] += 1
        revenue[evaluation.classification.tier] += evaluation.metrics.monetary
    total = sum(revenue.values(), Decimal(0))
    table = Table(title=f"Tiers ({policy.basis.value} basis, {policy.window_days}-day window)")
    for column in ("tier", "label", "customers", f"{policy.basis.value} share"):
        table.add_column(column, justify="right" if column != "label" else "left")
    for tier in Tier:
        share = f"{revenue[tier] / total * 100:.1f} %" if total else "-"
        table.add_row(tier.value, policy.tiers[tier].label, f"{customers[tier]:,}", share)
    Console(stderr=True).print(table)


def run(args: argparse.Namespace) -> int:
    """Score the files; exit 0 unless an input cannot be read at all (2)."""
    from streams.analytics.command import run_analytics, wants_analytics

    if wants_analytics(args):  # --compare / --report: scores by calling this run again
        return run_analytics(args, run)
    from streams.data.csv_input import CsvError, CsvReport, read_feedback, read_orders
    from tiering import PolicyError, default_policy, load_policy, score_history

    try:
        policy = load_policy(args.policy) if args.policy else default_policy()
    except PolicyError as error:
        print(f"tierstream score: {error}", file=sys.stderr)
        return 2
    paths = [args.orders, *([args.feedback] if args.feedback else [])]
    order_report, feedback_report = CsvReport(args.orders), CsvReport(args.feedback or Path())
    progress, advance = _progress(paths)
    try:
        with progress:
            orders = list(read_orders(args.orders, order_report, advance))
            feedback = (
                list(read_feedback(args.feedback, feedback_report, advance))
                if args.feedback
                else []
            )
    except CsvError as error:
        print(f"tierstream score: {error}", file=sys.stderr)
        return 2
    result = score_history(orders, feedback, policy, args.as_of)
    clv: dict[str, list[str]] | None = None
    if args.clv_model:
        from streams.cli.score_clv import clv_cells
        from tiering.value import ModelFileError, ValueModelError

        try:
            horizon = args.clv_horizon_days or policy.value.horizon_days
            discount = policy.value.annual_discount_rate
            clv = clv_cells(args.clv_model, orders, args.as_of, horizon, discount)
        except (ModelFileError, ValueModelError) as error:
            print(f"tierstream score: {error}", file=sys.stderr)
            return 2
    report_problems([order_report, feedback_report])
    if result.after_as_of:
        print(f"{result.after_as_of} events after --as-of were left out", file=sys.stderr)
    if args.out:
        with args.out.open("w", newline="", encoding="utf-8") as out:
            _write(out, result.evaluations, clv)
    else:
        _write(sys.stdout, result.evaluations, clv)
    _summary(result.evaluations, policy)
    return 0
