"""A large messy orders CSV written in blocks (numpy + polars), for the memory benchmark.

`streams.data.history` builds every row as a Python dict first, which is fine for a million
rows and far too slow and big for a gigabyte. This writes blocks of rows with the same kinds
of mess: a heavy-tailed customer activity, repeated purchase rows (3 %), refunds and cancels
(6 %), free purchases, rows in random time order, and unusable rows (1 %: an amount with a
comma and a currency sign, which the writer quotes, or an unparseable time).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import polars as pl

ORDER_HEADER = ("customer_id", "order_id", "occurred_at", "amount", "kind", "margin", "currency")
_BLOCK_ROWS = 1_000_000
_END = datetime(2026, 6, 30, tzinfo=UTC)
_SPAN_SECONDS = 900 * 86_400


def _block(rng: np.random.Generator, block: int, weights: np.ndarray) -> pl.DataFrame:
    customers = rng.choice(len(weights), size=_BLOCK_ROWS, p=weights)
    seconds = int(_END.timestamp()) - rng.integers(0, _SPAN_SECONDS, size=_BLOCK_ROWS)
    raw = np.exp(rng.normal(5, 1, size=_BLOCK_ROWS)) * rng.uniform(0.5, 1.5, size=_BLOCK_ROWS)
    whole = rng.random(_BLOCK_ROWS) < 0.5
    cents = np.where(whole, np.round(raw) * 100, np.round(raw * 100)).astype(np.int64)
    cents[np.arange(_BLOCK_ROWS) % 250 == 249] = 0  # free purchases
    frame = pl.DataFrame(
        {
            "customer": customers,
            "order": np.arange(_BLOCK_ROWS),
            "seconds": seconds,
            "cents": cents,
            "whole": whole,
        }
    )

    def money(column: pl.Expr, whole: pl.Expr) -> pl.Expr:
        units = (column // 100).cast(pl.String)
        fraction = (column % 100).cast(pl.String).str.pad_start(2, "0")
        return pl.when(whole).then(units).otherwise(pl.concat_str(units, pl.lit("."), fraction))

    rows = frame.select(
        pl.format("C{}", pl.col("customer").cast(pl.String).str.pad_start(7, "0")).alias(
            "customer_id"
        ),
        pl.format("O{}-{}", pl.lit(block), pl.col("order")).alias("order_id"),
        pl.from_epoch("seconds", "s").dt.strftime("%Y-%m-%dT%H:%M:%S+00:00").alias("occurred_at"),
        money(pl.col("cents"), pl.col("whole")).alias("amount"),
        pl.lit("purchase").alias("kind"),
        money(pl.col("cents") * 3 // 10, pl.lit(value=False)).alias("margin"),
        pl.lit("EUR").alias("currency"),
    )
    repeated = rows.sample(fraction=0.03, seed=block)
    returned = rows.sample(fraction=0.06, seed=block + 1).with_columns(
        pl.lit("refund").alias("kind"), pl.lit("").alias("margin")
    )
    broken = rows.sample(fraction=0.01, seed=block + 2).with_columns(
        pl.lit("12,50€").alias("amount")
    )
    return pl.concat([rows, repeated, returned, broken]).sample(
        fraction=1.0, shuffle=True, seed=block
    )


def write_large_csv(path: Path, gib: float, customers: int, seed: int = 5) -> int:
    """Write about `gib` GiB of order rows to `path`; returns the number of data rows."""
    rng = np.random.default_rng(seed)
    activity = rng.pareto(1.2, size=customers) + 1
    weights = activity / activity.sum()
    target = int(gib * 1024**3)
    rows = 0
    with path.open("wb") as handle:
        handle.write((",".join(ORDER_HEADER) + "\n").encode())
        block = 0
        while handle.tell() < target:
            frame = _block(rng, block, weights)
            frame.write_csv(handle, include_header=False)
            rows += frame.height
            block += 1
    return rows
