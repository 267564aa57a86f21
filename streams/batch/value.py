"""The value columns of `score --clv-model` (DESIGN.md, "Customer value") from purchase rows.

Same summaries as `tiering.value.summarise_orders`, which the row-by-row score used: purchases
up to as_of, a repeated (customer, order_id) counted once (its first row in input order), the
purchases of one UTC day one transaction worth their sum; x = transaction days after the
first, zbar = (sum of the repeat days' values) / x with Decimal division. The per-customer
figures are aggregated over columns; the summaries and predictions are `tiering.value`'s own.
"""

from __future__ import annotations

from datetime import date, datetime

import polars as pl

from streams.batch.fold import instant_of
from streams.cli.score_clv import CLV_COLUMNS, prediction_cells
from tiering.value import ValueModel, predict, summarise_transactions

__all__ = ["value_columns"]

_US_PER_DAY = 86_400_000_000
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()


def value_columns(
    purchases: pl.DataFrame,
    model: ValueModel,
    as_of: datetime,
    horizon_days: float,
    annual_discount_rate: float,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """customer_id and CLV_COLUMNS (text) of every customer with a purchase up to as_of,
    and customer_id with predicted_clv as a float; `purchases` holds one row per
    (customer, order_id), its first in input order."""
    days = purchases.with_columns(day=pl.col("at") // _US_PER_DAY)
    last_rows = (
        days.sort("at", "seq", descending=[True, False])
        .unique("customer_id", keep="first")
        .select("customer_id", pl.col("at").alias("last_at"), pl.col("offset").alias("last_offset"))
    )
    figures = (
        days.group_by("customer_id", "day")
        .agg(pl.col("amount").sum().alias("value"))
        .group_by("customer_id")
        .agg(
            pl.col("day").min().alias("first_day"),
            pl.col("day").max().alias("last_day"),
            pl.len().alias("days"),
            pl.col("value").sum().alias("total"),
            pl.col("value").sort_by("day").first().alias("first_value"),
        )
        .join(last_rows, on="customer_id")
        .with_columns(pl.col("customer_id").cast(pl.String))
        .sort("customer_id")
    )
    unit = model.time_unit
    summaries = [
        summarise_transactions(
            row["customer_id"],
            date.fromordinal(_EPOCH_ORDINAL + row["first_day"]),
            date.fromordinal(_EPOCH_ORDINAL + row["last_day"]),
            row["days"] - 1,
            row["total"] - row["first_value"],
            instant_of(row["last_at"], row["last_offset"]),
            as_of,
            unit,
        )
        for row in figures.iter_rows(named=True)
    ]
    predictions = predict(model, summaries, horizon_days, annual_discount_rate)
    cells = [[prediction.customer_id, *prediction_cells(prediction)] for prediction in predictions]
    schema = dict.fromkeys(("customer_id", *CLV_COLUMNS), pl.String)
    # The unrounded figure ranks rising stars (`tiering.rising`), as the stream's does.
    figures = pl.DataFrame(
        {
            "customer_id": [prediction.customer_id for prediction in predictions],
            "predicted_clv": [prediction.predicted_clv for prediction in predictions],
        },
        schema={"customer_id": pl.String, "predicted_clv": pl.Float64},
    )
    return pl.DataFrame(cells, schema=schema, orient="row"), figures
