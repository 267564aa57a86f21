"""Customers whose figures depend on the order the fold forgets ids in: measured by the fold.

The fold (`tiering.state.apply`) recognises a repeated order id only while the first purchase
with it is still held, i.e. not older than the window at the customer's latest event. When a
customer reuses an order id W days apart or more, whether the second one counts depends on
every event in between, so the columnar engine hands such customers (rare: a reused order
number years later) to the fold itself, rebuilt from their typed rows.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import polars as pl

from schemas import FeedbackEvent, OrderEvent
from streams.batch.engine import MEASURE_COLUMNS
from streams.data.csv_input import event_id_of
from tiering import Policy, score_history

__all__ = ["instant_of", "measure_by_fold"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def instant_of(at: int, offset: int) -> datetime:
    """The aware instant of (UTC microseconds since 1970, UTC offset in seconds)."""
    instant = _EPOCH + timedelta(microseconds=at)
    return instant if offset == 0 else instant.astimezone(timezone(timedelta(seconds=offset)))


def _as_written(value: Decimal, scale: int) -> Decimal:
    return value.quantize(Decimal(1).scaleb(-scale))


def _orders(rows: pl.DataFrame) -> list[OrderEvent]:
    events = []
    for row in rows.sort("seq").iter_rows(named=True):
        occurred_at = instant_of(row["at"], row["offset"])
        amount = _as_written(row["amount"], row["amount_scale"])
        margin = row.get("margin")
        kind = row.get("kind") or "purchase"
        events.append(
            OrderEvent(
                event_id=event_id_of(kind, row["order_id"], occurred_at, amount),
                order_id=row["order_id"],
                customer_id=row["customer_id"],
                occurred_at=occurred_at,
                amount=amount,
                kind=kind,
                margin=None if margin is None else _as_written(margin, row["margin_scale"]),
            )
        )
    return events


def _feedback(rows: pl.DataFrame) -> list[FeedbackEvent]:
    return [
        FeedbackEvent(
            event_id=f"batch:feedback:{row['seq']}",
            customer_id=row["customer_id"],
            occurred_at=instant_of(row["at"], row["offset"]),
            kind=row["kind"],
            score=row["score"],
        )
        for row in rows.sort("seq").iter_rows(named=True)
    ]


def measure_by_fold(
    customers: pl.Series,
    purchases: pl.DataFrame,
    adjustments: pl.DataFrame,
    feedback: pl.DataFrame,
    policy: Policy,
    as_of: datetime,
) -> pl.DataFrame:
    """MEASURE_COLUMNS of `customers` from the fold over all their rows up to as_of."""
    mine = pl.col("customer_id").cast(pl.String).is_in(customers.implode())
    orders = pl.concat(
        [
            frame.filter(mine).with_columns(pl.col("customer_id").cast(pl.String))
            for frame in (purchases.with_columns(kind=pl.lit("purchase")), adjustments)
        ],
        how="diagonal_relaxed",
    )
    result = score_history(_orders(orders), _feedback(feedback.filter(mine)), policy, as_of)
    rows = [
        {
            "customer_id": e.customer_id,
            "active": e.measurement.active,
            "recency_days": e.measurement.recency_days,
            "frequency": e.measurement.frequency,
            "monetary": str(e.measurement.monetary),
            "monetary_float": float(e.measurement.monetary),
            "lifecycle": e.measurement.lifecycle.value,
            "risk": e.measurement.risk.value,
            "second_half": float(e.measurement.second_half),
        }
        for e in result.evaluations
    ]
    schema = {
        "customer_id": pl.String,
        "active": pl.Boolean,
        "recency_days": pl.Int64,
        "frequency": pl.Int64,
        "monetary": pl.String,
        "monetary_float": pl.Float64,
        "lifecycle": pl.String,
        "risk": pl.String,
        "second_half": pl.Float64,
    }
    assert tuple(schema) == MEASURE_COLUMNS
    return pl.DataFrame(rows, schema=schema, orient="row")
