"""`tierstream clv fit`: fit BG/NBD and Gamma-Gamma on order history up to a calibration end.

Prints the model JSON (DESIGN.md, "Customer value") on stdout or writes it to `--out`, and a
short summary on stderr: customers, log-likelihoods, and a warning for each parameter that
ended at the optimiser's search bound (the data do not pin it down).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from datetime import UTC, date
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from schemas import OrderEvent

__all__ = ["HELP", "add_arguments", "run"]

HELP = "customer value models (BG/NBD purchases, Gamma-Gamma spend): fit"


# `--calibration-end latest`: the UTC day of the file's last purchase, so a scheduled refit
# calibrates on the whole export without a date computed by a shell.
LATEST = "latest"


def _day(text: str) -> date | str:
    if text.strip() == LATEST:
        return LATEST
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--calibration-end {text!r}: expected a date (1997-09-30) or {LATEST!r}"
        ) from None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """`clv fit` and its options."""
    actions = parser.add_subparsers(dest="clv_command", required=True, metavar="ACTION")
    fit = actions.add_parser(
        "fit", help="fit both models on ORDERS.csv up to --calibration-end (inclusive)"
    )
    fit.add_argument("orders", type=Path, metavar="ORDERS.csv")
    fit.add_argument(
        "--calibration-end",
        type=_day,
        required=True,
        metavar="DATE",
        help=f"a date, or {LATEST!r}: the UTC day of the last purchase in ORDERS.csv",
    )
    fit.add_argument("--time-unit", choices=("day", "week"), default="week")
    fit.add_argument("--out", type=Path, metavar="MODEL.json", help="default: standard output")


def run(args: argparse.Namespace) -> int:
    """Fit and write the model; exit 2 when the input cannot be read or the fit cannot run."""
    from streams.cli.score import parse_as_of, report_problems
    from streams.data.csv_input import CsvError, CsvReport, read_orders
    from tiering.value import (
        TimeUnit,
        ValueModelError,
        fit_value_model,
        model_json,
        summarise_orders,
    )

    unit = TimeUnit(args.time_unit)
    report = CsvReport(args.orders)
    try:
        orders = list(read_orders(args.orders, report))
        end = args.calibration_end
        if end == LATEST:
            end = _last_purchase_day(orders)
        as_of = parse_as_of(end.isoformat())
        summaries = summarise_orders(orders, as_of, unit)
        fitted = fit_value_model(list(summaries.values()), end, unit)
    except (CsvError, ValueModelError) as error:
        print(f"tierstream clv fit: {error}", file=sys.stderr)
        return 2
    report_problems([report])
    text = model_json(fitted.model)
    if args.out:
        # Written aside and renamed over the old file: a worker watching it (a refit) sees
        # the old model or the new one, never half a file.
        staged = args.out.with_name(args.out.name + ".tmp")
        staged.write_text(text, encoding="utf-8")
        os.replace(staged, args.out)
    else:
        sys.stdout.write(text)
    model = fitted.model
    print(
        f"BG/NBD: {model.customers} customers, log-likelihood "
        f"{model.log_likelihood.bg_nbd:.2f}; r {model.bg_nbd.r:.4g}, alpha "
        f"{model.bg_nbd.alpha:.4g}, a {model.bg_nbd.a:.4g}, b {model.bg_nbd.b:.4g} "
        f"(time unit {unit.value})",
        file=sys.stderr,
    )
    print(
        f"Gamma-Gamma: {fitted.gamma_gamma_customers} customers with repeat purchases, "
        f"log-likelihood {model.log_likelihood.gamma_gamma:.2f}; p {model.gamma_gamma.p:.4g}, "
        f"q {model.gamma_gamma.q:.4g}, v {model.gamma_gamma.v:.4g}",
        file=sys.stderr,
    )
    if fitted.zero_value_customers:
        print(
            f"  {fitted.zero_value_customers} customers with repeat purchases worth 0 were "
            "left out of the Gamma-Gamma fit (they get the population mean)",
            file=sys.stderr,
        )
    for name in fitted.at_bound:
        print(
            f"warning: {name} ended at the optimiser's bound; the data do not determine it",
            file=sys.stderr,
        )
    for name in fitted.not_converged:
        print(
            f"warning: the {name} optimiser stopped without converging; check the data",
            file=sys.stderr,
        )
    return 0


def _last_purchase_day(orders: Sequence[OrderEvent]) -> date:
    """The UTC day of the latest purchase (refunds and cancels do not extend the history)."""
    from schemas import OrderKind
    from tiering.value import ValueModelError

    days = [o.occurred_at.astimezone(UTC).date() for o in orders if o.kind is OrderKind.PURCHASE]
    if not days:
        raise ValueModelError("--calibration-end latest: the file has no purchase")
    return max(days)
