"""Raw text columns of an input chunk → typed event rows, with the CSV reader's row rules.

Every row gets exactly the verdict `streams.data.csv_input` gives it (the reference for the
row rules, bounds and problem reasons): a vectorised fast path accepts the rows whose every
field is in a plain form (ids of 1-200 characters, an RFC 3339 timestamp, a decimal amount
such as `12.50`, a known kind); every other row goes through the reference parser itself,
one row at a time, which either accepts it in an unusual spelling (`+5`, `1E2`, `2026-01-10T10`)
or names the reason it is unusable. Messy exports have about 1 % of such rows.

Typed order rows: `seq` (input position, for ties kept in input order), `customer_id`,
`order_id`, `at` (UTC microseconds since 1970), `offset` (the timestamp's UTC offset in
seconds, which the event's id and isoformat keep), `kind`, `amount` and `margin` as exact
`Decimal(38, 18)` with `amount_scale`/`margin_scale` (digits after the point as written,
which the fold's Decimal sums keep in their text: 10.50 + 1 = 11.50). Feedback rows: `seq`,
`customer_id`, `at`, `offset`, `kind`, `score`.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import TypeVar

import polars as pl

from schemas import FeedbackEvent, OrderEvent
from schemas.bounds import LATEST_EVENT_TIME, MAX_DECIMAL_PLACES, MAX_ID_LENGTH
from streams.data.csv_input import (
    RowProblem,
    parse_feedback_row,
    parse_order_row,
    row_verdict,
)

_EventT = TypeVar("_EventT", OrderEvent, FeedbackEvent)

__all__ = [
    "FEEDBACK_SCHEMA",
    "FIELD_LIMIT_REASON",
    "MONEY",
    "ORDER_SCHEMA",
    "PY_WHITESPACE",
    "RawChunk",
    "instant_parts",
    "typed_feedback",
    "typed_orders",
]

MONEY = pl.Decimal(38, MAX_DECIMAL_PLACES)
"""Exact money: 13 integer digits (10^12) and 18 decimal places fit in 38 digits, and a sum
of 10^7 amounts of 10^12 still does."""
ORDER_KINDS = pl.Enum(["purchase", "refund", "cancel"])
FEEDBACK_KINDS = pl.Enum(["csat", "nps", "complaint", "praise"])
ORDER_SCHEMA: dict[str, pl.DataType] = {
    "seq": pl.Int64(),
    "customer_id": pl.String(),
    "order_id": pl.String(),
    "at": pl.Int64(),
    "offset": pl.Int32(),
    "kind": ORDER_KINDS,
    "amount": MONEY,
    "amount_scale": pl.Int8(),
    "margin": MONEY,
    "margin_scale": pl.Int8(),
}
FEEDBACK_SCHEMA: dict[str, pl.DataType] = {
    "seq": pl.Int64(),
    "customer_id": pl.String(),
    "at": pl.Int64(),
    "offset": pl.Int32(),
    "kind": FEEDBACK_KINDS,
    "score": pl.Int16(),
}

PY_WHITESPACE = "".join(chr(c) for c in range(sys.maxunicode + 1) if chr(c).isspace())
"""What `str.strip()` strips (Unicode White_Space plus \\x1c-\\x1f), so both paths strip alike."""

_US_PER_SECOND = 1_000_000
_US_PER_DAY = 86_400 * _US_PER_SECOND
_LATEST_US = int(LATEST_EVENT_TIME.timestamp()) * _US_PER_SECOND
_MAX_AMOUNT = Decimal(10) ** 12
_TIME = (
    r"^(\d{4})-(\d{2})-(\d{2})"
    r"(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,6}))?)?(?:(Z)|([+-])(\d{2}):(\d{2}))?)?$"
)
_MONEY = r"^(\d{1,13})(?:\.(\d{1,18}))?$"
_FIELD_LIMIT = 131_072
FIELD_LIMIT_REASON = f"field larger than field limit ({_FIELD_LIMIT})"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class RawChunk:
    """Text columns of consecutive input rows (null: an absent field) and where they are:
    row i is at `positions[i]`, or at `first_position + i` when `positions` is None (a line
    number in a CSV file, a row number in a Parquet file named by `source`)."""

    def __init__(
        self,
        frame: pl.DataFrame,
        first_seq: int,
        *,
        first_position: int = 1,
        positions: list[int] | None = None,
        source: str | None = None,
    ) -> None:
        self.frame = frame
        self.first_seq = first_seq
        self.first_position = first_position
        self.positions = positions
        self.source = source

    def position(self, index: int) -> int:
        """Line or row number of the chunk's row `index`."""
        if self.positions is None:
            return self.first_position + index
        return self.positions[index]

    def problem(self, index: int, reason: str) -> RowProblem:
        """A problem with the chunk's row `index`."""
        return RowProblem(self.position(index), reason, self.source)


def _stripped(name: str, raw: pl.DataFrame) -> pl.Expr:
    if name not in raw.columns:
        return pl.lit("", dtype=pl.String).alias(f"_{name}")
    return pl.col(f"raw:{name}").fill_null("").str.strip_chars(PY_WHITESPACE).alias(f"_{name}")


def _id_ok(name: str) -> pl.Expr:
    return (pl.col(name) != "") & (pl.col(name).str.len_chars() <= MAX_ID_LENGTH)


def _instant(name: str) -> list[pl.Expr]:
    """`at` and `offset` of a plain RFC 3339 text (null where it is not plain or in range)."""
    parts = pl.col(name).str.extract_groups(_TIME)
    year, month, day = (parts.struct.field(str(i)).cast(pl.Int32) for i in (1, 2, 3))
    hour, minute, second = (
        parts.struct.field(str(i)).cast(pl.Int64).fill_null(0) for i in (4, 5, 6)
    )
    fraction = parts.struct.field("7").str.pad_end(6, "0").cast(pl.Int64).fill_null(0)
    sign = pl.when(parts.struct.field("9") == "-").then(-1).otherwise(1)
    offset = (
        sign
        * (
            parts.struct.field("10").cast(pl.Int32).fill_null(0) * 3600
            + parts.struct.field("11").cast(pl.Int32).fill_null(0) * 60
        )
    ).cast(pl.Int32)
    leap = ((year % 4 == 0) & (year % 100 != 0)) | (year % 400 == 0)
    month_days = (
        pl.when(month == 2)
        .then(pl.when(leap).then(29).otherwise(28))
        .when(month.is_in([4, 6, 9, 11]))
        .then(30)
        .otherwise(31)
    )
    valid = (
        year.is_not_null()
        & (year >= 1)
        & month.is_between(1, 12)
        & day.is_between(1, 31)
        & (day <= month_days)
        & (hour <= 23)
        & (minute <= 59)
        & (second <= 59)
    )
    days = pl.date(
        pl.when(valid).then(year).otherwise(1970),
        pl.when(valid).then(month).otherwise(1),
        pl.when(valid).then(day).otherwise(1),
    ).cast(pl.Int64)
    at = (
        days * _US_PER_DAY
        + (hour * 3600 + minute * 60 + second - offset.cast(pl.Int64)) * _US_PER_SECOND
        + fraction
    )
    in_bounds = valid & (at >= 0) & (at < _LATEST_US)
    return [
        pl.when(in_bounds).then(at).alias("at"),
        pl.when(in_bounds).then(offset).alias("offset"),
    ]


def _money(name: str, *, optional: bool) -> list[pl.Expr]:
    """Exact value and written scale of a plain decimal text (null: not plain or too big)."""
    text = pl.col(f"_{name}")
    parts = text.str.extract_groups(_MONEY)
    value = text.cast(MONEY, strict=False)
    plain = parts.struct.field("1").is_not_null() & (value <= _MAX_AMOUNT)
    scale = parts.struct.field("2").str.len_chars().fill_null(0).cast(pl.Int8)
    ok = (plain | (text == "")) if optional else plain
    return [
        pl.when(plain).then(value).alias(name),
        pl.when(plain).then(scale).alias(f"{name}_scale"),
        ok.fill_null(value=False).alias(f"_{name}_ok"),
    ]


def _too_long(raw: pl.DataFrame) -> pl.Expr:
    checks = [pl.col(f"raw:{c}").str.len_chars().fill_null(0) > _FIELD_LIMIT for c in raw.columns]
    return pl.any_horizontal(checks) if checks else pl.lit(value=False)


def instant_parts(instant: datetime) -> tuple[int, int]:
    """(UTC microseconds since 1970, UTC offset in seconds) of an aware instant."""
    offset = instant.utcoffset()
    assert offset is not None  # events carry a zone
    delta = instant - _EPOCH
    at = (delta.days * 86_400 + delta.seconds) * _US_PER_SECOND + delta.microseconds
    return at, int(offset.total_seconds())


def _scale(value: Decimal) -> int:
    exponent = value.as_tuple().exponent
    assert isinstance(exponent, int)  # finite: checked by the row rules
    return max(0, -exponent)


def _exact(value: Decimal) -> Decimal:
    # At most 18 significant decimal places (bounds), so this never rounds.
    return value.quantize(_QUANTUM)


_QUANTUM = Decimal(1).scaleb(-MAX_DECIMAL_PLACES)


def _order_row(seq: int, event: OrderEvent) -> dict[str, object]:
    at, offset = instant_parts(event.occurred_at)
    margin = event.margin
    return {
        "seq": seq,
        "customer_id": event.customer_id,
        "order_id": event.order_id,
        "at": at,
        "offset": offset,
        "kind": event.kind.value,
        "amount": _exact(event.amount),
        "amount_scale": _scale(event.amount),
        "margin": None if margin is None else _exact(margin),
        "margin_scale": None if margin is None else _scale(margin),
    }


def _feedback_row(seq: int, event: FeedbackEvent) -> dict[str, object]:
    at, offset = instant_parts(event.occurred_at)
    return {
        "seq": seq,
        "customer_id": event.customer_id,
        "at": at,
        "offset": offset,
        "kind": event.kind.value,
        "score": event.score,
    }


def _slow_path(
    chunk: RawChunk,
    slow: pl.DataFrame,
    parse: Callable[[dict[str, str | None]], _EventT],
    to_row: Callable[[int, _EventT], dict[str, object]],
    schema: dict[str, pl.DataType],
    problems: list[RowProblem],
) -> pl.DataFrame:
    """The reference parser's verdict on each row the fast path left (raw text as read)."""
    rows: list[dict[str, object]] = []
    columns = chunk.frame.columns
    for values in slow.iter_rows():
        index, too_long, fields = values[0], values[1], values[2:]
        if too_long:
            problems.append(chunk.problem(index, FIELD_LIMIT_REASON))
            continue
        event, reason = row_verdict(parse, dict(zip(columns, fields, strict=True)))
        if event is None:
            problems.append(chunk.problem(index, reason or "unusable row"))
        else:
            rows.append(to_row(chunk.first_seq + index, event))
    return pl.DataFrame(rows, schema=schema, orient="row") if rows else pl.DataFrame(schema=schema)


def _split(
    chunk: RawChunk, prepared: pl.DataFrame, fast: pl.Expr, schema: dict[str, pl.DataType]
) -> tuple[pl.DataFrame, pl.DataFrame]:
    marked = prepared.with_columns(fast.fill_null(value=False).alias("_fast"))
    typed = marked.filter("_fast").select(
        (pl.col("_index").cast(pl.Int64) + chunk.first_seq).alias("seq"),
        *(pl.col(name).cast(dtype) for name, dtype in schema.items() if name != "seq"),
    )
    slow = marked.filter(~pl.col("_fast")).select(
        "_index", "_too_long", *(f"raw:{c}" for c in chunk.frame.columns)
    )
    return typed, slow


def typed_orders(chunk: RawChunk, problems: list[RowProblem]) -> pl.DataFrame:
    """Usable order rows of a chunk (ORDER_SCHEMA); problems appended in input order."""
    raw = chunk.frame
    names = ("customer_id", "order_id", "occurred_at", "amount", "kind", "margin", "currency")
    prepared = (
        raw.select(pl.all().name.prefix("raw:"))
        .with_row_index("_index")
        .with_columns(_too_long(raw).alias("_too_long"), *(_stripped(n, raw) for n in names))
        .with_columns(
            *_instant("_occurred_at"),
            *_money("amount", optional=False),
            *_money("margin", optional=True),
            pl.col("_kind").replace("", "purchase").alias("kind"),
            pl.col("_customer_id").alias("customer_id"),
            pl.col("_order_id").alias("order_id"),
        )
    )
    fast = (
        _id_ok("customer_id")
        & _id_ok("order_id")
        & pl.col("at").is_not_null()
        & pl.col("_amount_ok")
        & pl.col("kind").is_in(ORDER_KINDS.categories.to_list())
        & pl.col("_margin_ok")
        & ((pl.col("_currency") == "") | pl.col("_currency").str.contains(r"^[A-Z]{3}$"))
        & ~pl.col("_too_long")
    )
    typed, slow = _split(chunk, prepared, fast, ORDER_SCHEMA)
    if slow.is_empty():
        return typed
    rescued = _slow_path(chunk, slow, parse_order_row, _order_row, ORDER_SCHEMA, problems)
    return pl.concat([typed, rescued]) if not rescued.is_empty() else typed


def typed_feedback(chunk: RawChunk, problems: list[RowProblem]) -> pl.DataFrame:
    """Usable feedback rows of a chunk (FEEDBACK_SCHEMA); problems appended in input order."""
    raw = chunk.frame
    names = ("customer_id", "occurred_at", "kind", "score")
    prepared = (
        raw.select(pl.all().name.prefix("raw:"))
        .with_row_index("_index")
        .with_columns(_too_long(raw).alias("_too_long"), *(_stripped(n, raw) for n in names))
        .with_columns(
            *_instant("_occurred_at"),
            pl.col("_customer_id").alias("customer_id"),
            pl.col("_kind").alias("kind"),
            pl.when(pl.col("_score").str.contains(r"^\d{1,3}$"))
            .then(pl.col("_score").cast(pl.Int16, strict=False))
            .alias("score"),
        )
    )
    score, kind = pl.col("score"), pl.col("kind")
    score_fits = (
        pl.when(kind == "praise")
        .then(pl.col("_score") == "")
        .when(kind == "complaint")
        .then((pl.col("_score") == "") | score.is_between(1, 3))
        .when(kind == "csat")
        .then(score.is_between(1, 5))
        .when(kind == "nps")
        .then(score.is_between(0, 10))
        .otherwise(pl.lit(value=False))
    )
    fast = (
        _id_ok("customer_id")
        & pl.col("at").is_not_null()
        & kind.is_in(FEEDBACK_KINDS.categories.to_list())
        & score_fits
        & ~pl.col("_too_long")
    )
    typed, slow = _split(chunk, prepared, fast, FEEDBACK_SCHEMA)
    if slow.is_empty():
        return typed
    rescued = _slow_path(chunk, slow, parse_feedback_row, _feedback_row, FEEDBACK_SCHEMA, problems)
    return pl.concat([typed, rescued]) if not rescued.is_empty() else typed
