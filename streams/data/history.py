"""Generated order and feedback histories for demos, tests and benchmarks.

Deterministic for a seed. Spend is heavy-tailed (a few big customers, a long tail) so that
the Pareto classes are meaningful. With `messy=True` the files also hold what real exports
hold: duplicate purchase rows, refunds and cancels, rows out of time order, identical
amounts (ties), free purchases (amount 0: samples, full discounts, replacements; every
`FREE_PURCHASE_EVERY`-th order), and unusable rows (missing ids, bad timestamps or amounts,
unknown kinds).
"""

from __future__ import annotations

import csv
import itertools
import random
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

__all__ = [
    "FEEDBACK_HEADER",
    "FREE_PURCHASE_EVERY",
    "ORDER_HEADER",
    "History",
    "generate_history",
    "write_csv",
]

ORDER_HEADER = ("customer_id", "order_id", "occurred_at", "amount", "kind", "margin", "currency")
FEEDBACK_HEADER = ("customer_id", "occurred_at", "kind", "score")

FREE_PURCHASE_EVERY = 250
"""In a messy history every 250th order is free (0.4%; the CDNOW master has 0.11%, enough
to lose 68 customers when they are dropped). Chosen by position, not by the random
generator, so a seed yields the same other rows as before free purchases existed."""


@dataclass(frozen=True)
class History:
    """Rows of an orders file and a feedback file (header order as in the CSV formats)."""

    orders: list[dict[str, str]]
    feedback: list[dict[str, str]]
    end: datetime


def _bad_order_row(generator: random.Random, row: dict[str, str]) -> dict[str, str]:
    broken = dict(row)
    # "blank": an empty amount. Until contract 1.3 this flaw was a zero amount, but a $0
    # purchase is a usable purchase now (DESIGN.md, Events); the flaw keeps its slot so that
    # a seed still yields the same rows and the same number of unusable ones.
    flaw = generator.choice(["customer_id", "occurred_at", "amount", "negative", "kind", "blank"])
    if flaw == "customer_id":
        broken["customer_id"] = ""
    elif flaw == "occurred_at":
        broken["occurred_at"] = "yesterday-ish"
    elif flaw == "amount":
        broken["amount"] = "12,50€"
    elif flaw == "negative":
        # "-0" is a usable zero amount, so a free purchase's negative copy is "-1".
        broken["amount"] = "-" + (broken["amount"] if Decimal(broken["amount"]) else "1")
    elif flaw == "kind":
        broken["kind"] = "gift"
    else:
        broken["amount"] = ""
    return broken


def generate_history(
    customers: int,
    orders: int,
    *,
    seed: int = 1,
    end: datetime = datetime(2026, 6, 30, tzinfo=UTC),
    span_days: int = 900,
    messy: bool = True,
) -> History:
    """About `orders` order rows over `span_days` ending at `end`, for `customers` customers."""
    generator = random.Random(seed)  # noqa: S311 - synthetic data, not a secret
    start = end - timedelta(days=span_days)
    # Heavy-tailed activity and basket size per customer; some customers stop buying.
    activity = [generator.paretovariate(1.2) for _ in range(customers)]
    basket = [generator.lognormvariate(5, 1.0) for _ in range(customers)]
    stops_at = [
        end - timedelta(days=generator.uniform(0, span_days)) if generator.random() < 0.3 else end
        for _ in range(customers)
    ]
    cumulative = list(itertools.accumulate(activity))
    population = range(customers)
    order_rows: list[dict[str, str]] = []
    purchases: list[dict[str, str]] = []
    for index in range(orders):
        customer = generator.choices(population, cum_weights=cumulative)[0]
        occurred = start + (stops_at[customer] - start) * generator.random()
        # Round amounts to whole currency units half of the time: realistic, and it makes ties.
        raw = basket[customer] * generator.uniform(0.5, 1.5)
        amount = Decimal(round(raw)) if generator.random() < 0.5 else Decimal(f"{raw:.2f}")
        amount = max(amount, Decimal("1"))
        if messy and index % FREE_PURCHASE_EVERY == FREE_PURCHASE_EVERY - 1:
            amount = Decimal(0)  # a free purchase: counts for frequency, adds 0 to monetary
        row = {
            "customer_id": f"C{customer:06d}",
            "order_id": f"O{index:08d}",
            "occurred_at": occurred.isoformat(timespec="seconds"),
            "amount": str(amount),
            "kind": "purchase",
            "margin": str((amount * Decimal("0.3")).quantize(Decimal("0.01"))),
            "currency": "EUR",
        }
        order_rows.append(row)
        purchases.append(row)
        if messy and generator.random() < 0.03:
            order_rows.append(dict(row))  # exact duplicate export row
        if messy and generator.random() < 0.06:
            kind = generator.choice(["refund", "cancel"])
            refund_at = occurred + timedelta(days=generator.uniform(0, 40))
            fraction = Decimal(1) if kind == "cancel" else Decimal(generator.choice(["0.5", "1"]))
            order_rows.append(
                {
                    **row,
                    "kind": kind,
                    "occurred_at": min(refund_at, end).isoformat(timespec="seconds"),
                    "amount": str((amount * fraction).quantize(Decimal("0.01"))),
                    "margin": "",
                }
            )
        if messy and generator.random() < 0.01:
            order_rows.append(_bad_order_row(generator, row))
    if messy:
        generator.shuffle(order_rows)
    else:
        order_rows.sort(key=lambda r: r["occurred_at"])
    feedback_rows: list[dict[str, str]] = []
    for _ in range(max(1, orders // 20)):
        customer = generator.randrange(customers)
        kind = generator.choice(["csat", "csat", "nps", "complaint", "praise"])
        score = {
            "csat": str(generator.randint(1, 5)),
            "nps": str(generator.randint(0, 10)),
            "complaint": str(generator.randint(1, 3)),
            "praise": "",
        }[kind]
        occurred = end - timedelta(days=generator.uniform(0, 120))
        feedback_rows.append(
            {
                "customer_id": f"C{customer:06d}",
                "occurred_at": occurred.isoformat(timespec="seconds"),
                "kind": kind,
                "score": score,
            }
        )
    return History(order_rows, feedback_rows, end)


def write_csv(path: Path, header: Iterable[str], rows: Iterable[dict[str, str]]) -> Path:
    """Write rows (dicts keyed by header names) to a CSV file; returns the path."""
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(header))
        writer.writeheader()
        writer.writerows(rows)
    return path
