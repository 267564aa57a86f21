"""`score_files`: score order (and feedback) files into one row per customer.

Memory grows with customers and distinct purchases, not with the file: inputs are read in
chunks, each chunk is turned into typed columns (`streams.batch.rows`) and only what the
definitions need is kept: purchases and refunds/cancels up to as_of, feedback up to as_of,
and every customer id. Events after as_of only add their customer and a count.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import polars as pl

from streams.batch.engine import PROFILE_COLUMNS, classify, dedup_purchases, measure
from streams.batch.fold import measure_by_fold
from streams.batch.inputs import InputFormat, input_chunks
from streams.batch.rows import (
    FEEDBACK_SCHEMA,
    ORDER_SCHEMA,
    instant_parts,
    typed_feedback,
    typed_orders,
)
from streams.batch.value import value_columns
from streams.data.csv_input import FEEDBACK_COLUMNS, ORDER_COLUMNS, CsvReport, read_profiles
from tiering import Policy, default_policy
from tiering.policy import Basis
from tiering.value import ValueModel

__all__ = ["BatchScore", "score_files", "score_frame"]

_ORDER_FIELDS = (*ORDER_COLUMNS, "kind", "margin", "currency")


@dataclass(frozen=True)
class BatchScore:
    """One row per customer (`customers`, sorted by id), what reading found, and how many
    events were left out for being after as_of."""

    customers: pl.DataFrame
    reports: tuple[CsvReport, ...]
    after_as_of: int


@dataclass
class _Kept:
    """What the chunks leave behind (see the module docstring)."""

    customers: list[pl.DataFrame]
    rows: list[pl.DataFrame]
    after: int = 0

    def keep(self, typed: pl.DataFrame, end: int) -> pl.DataFrame:
        self.customers.append(typed.select("customer_id").unique())
        if len(self.customers) > 64:
            self.customers = [pl.concat(self.customers).unique()]
        later = typed.get_column("at") > end
        self.after += int(later.sum())
        return typed.filter(~later)


def _read_orders(
    path: Path,
    given: InputFormat | None,
    report: CsvReport,
    end: int,
    basis: Basis,
    on_progress: Callable[[int], None] | None,
) -> tuple[_Kept, pl.DataFrame, pl.DataFrame]:
    kept = _Kept([], [])
    purchases: list[pl.DataFrame] = []
    adjustments: list[pl.DataFrame] = []
    unused = [] if basis is Basis.MARGIN else ["margin", "margin_scale"]
    for chunk in input_chunks(path, given, _ORDER_FIELDS, ORDER_COLUMNS, report, on_progress):
        typed = (
            kept.keep(typed_orders(chunk, report.problems), end)
            .drop(unused)
            # 4 bytes a row instead of 16 and a cheaper group-by (global categories).
            .with_columns(pl.col("customer_id").cast(pl.Categorical))
        )
        is_purchase = typed.get_column("kind") == "purchase"
        purchases.append(typed.filter(is_purchase).drop("kind"))
        adjustments.append(typed.filter(~is_purchase))
    schema = {k: v for k, v in ORDER_SCHEMA.items() if k not in unused}
    schema["customer_id"] = pl.Categorical()
    empty = pl.DataFrame(schema=schema)
    return (
        kept,
        pl.concat(purchases, rechunk=False) if purchases else empty.drop("kind"),
        pl.concat(adjustments, rechunk=False) if adjustments else empty,
    )


def _read_feedback(
    path: Path | None,
    given: InputFormat | None,
    report: CsvReport,
    end: int,
    on_progress: Callable[[int], None] | None,
) -> tuple[_Kept, pl.DataFrame]:
    kept = _Kept([], [])
    if path is not None:
        for chunk in input_chunks(
            path, given, FEEDBACK_COLUMNS, FEEDBACK_COLUMNS, report, on_progress
        ):
            kept.rows.append(kept.keep(typed_feedback(chunk, report.problems), end))
    feedback = pl.concat(kept.rows) if kept.rows else pl.DataFrame(schema=FEEDBACK_SCHEMA)
    kept.rows = []
    return kept, feedback


def _profile_frame(path: Path, report: CsvReport) -> pl.DataFrame:
    """customer_id and PROFILE_COLUMNS of the usable profile rows (null = unknown)."""
    profiles = read_profiles(path, report)
    columns: dict[str, list[str | None]] = {
        "customer_id": list(profiles),
        **{name: [getattr(p, name) for p in profiles.values()] for name in PROFILE_COLUMNS},
    }
    return pl.DataFrame(columns, schema=dict.fromkeys(columns, pl.String))


def score_files(
    orders: Path,
    as_of: datetime,
    *,
    feedback: Path | None = None,
    policy: Policy | None = None,
    orders_format: InputFormat | None = None,
    feedback_format: InputFormat | None = None,
    value_model: ValueModel | None = None,
    horizon_days: float | None = None,
    on_progress: Callable[[int], None] | None = None,
    profiles: Path | None = None,
) -> BatchScore:
    """Score the files at `as_of` (DESIGN.md definitions; `policy` defaults to the built-in).

    `customers` has the columns of `streams.cli.score.OUTPUT_COLUMNS` (scores, recency and
    frequency as integers, null where the CSV cell is empty; monetary as the exact decimal
    text) and, with a value model, `streams.cli.score_clv.CLV_COLUMNS` as text. Raises
    `streams.data.csv_input.CsvError` when an input cannot be read at all.
    """
    policy = policy or default_policy()
    end, _ = instant_parts(as_of)
    order_report = CsvReport(orders)
    feedback_report = CsvReport(feedback or Path())
    kept_orders, purchases, adjustments = _read_orders(
        orders, orders_format, order_report, end, policy.basis, on_progress
    )
    kept_feedback, feedback_rows = _read_feedback(
        feedback, feedback_format, feedback_report, end, on_progress
    )
    profile_report = CsvReport(profiles or Path())
    profile_frame = None if profiles is None else _profile_frame(profiles, profile_report)
    for report in (order_report, feedback_report):
        report.problems.sort(key=lambda problem: (problem.source or "", problem.line))
    customers = (
        pl.concat([*kept_orders.customers, *kept_feedback.customers])
        .unique()
        .sort("customer_id")
        .get_column("customer_id")
        if kept_orders.customers or kept_feedback.customers
        else pl.Series("customer_id", [], dtype=pl.String)
    )
    purchases, odd = dedup_purchases(purchases, policy.window_days)
    measured = measure(customers, purchases, adjustments, feedback_rows, policy, as_of)
    if odd.len():
        odd = odd.cast(pl.String)
        by_fold = measure_by_fold(odd, purchases, adjustments, feedback_rows, policy, as_of)
        measured = pl.concat(
            [measured.filter(~pl.col("customer_id").is_in(odd.implode())), by_fold]
        ).sort("customer_id")
    values = figures = None
    if value_model is not None:
        horizon = horizon_days or policy.value.horizon_days
        values, figures = value_columns(
            purchases.filter("first_written"),
            value_model,
            as_of,
            horizon,
            policy.value.annual_discount_rate,
        )
    scored = classify(measured, policy, profiles=profile_frame, predicted_clv=figures)
    if values is not None:
        scored = scored.join(values, on="customer_id", how="left", maintain_order="left")
    reports = (order_report, feedback_report, *(() if profiles is None else (profile_report,)))
    return BatchScore(scored, reports, kept_orders.after + kept_feedback.after)


def score_frame(
    orders: Path,
    as_of: datetime,
    *,
    feedback: Path | None = None,
    policy: Policy | None = None,
    value_model: ValueModel | None = None,
) -> pl.DataFrame:
    """The `customers` frame of `score_files` (input problems are not reported)."""
    return score_files(
        orders, as_of, feedback=feedback, policy=policy, value_model=value_model
    ).customers
