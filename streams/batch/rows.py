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
from decimal import Decimal
from typing import TypeVar

import polars as pl

from schemas import FeedbackEvent, OrderEvent
from schemas.bounds import MAX_DECIMAL_PLACES, MAX_ID_LENGTH
from streams.batch.instants import instant_parts, with_instant
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

_MAX_AMOUNT = Decimal(10) ** 12
_MONEY = r"^(\d{1,13})(?:\.(\d{1,18}))?$"
_FIELD_LIMIT = 131_072
FIELD_LIMIT_REASON = f"field larger than field limit ({_FIELD_LIMIT})"


class RawChunk:
    """Text columns of some input rows (null: an absent field) and where each row is: the
    `_line` column holds its line number in a CSV file, or its row number in the Parquet file
    named by `source`. Input order is (`seq_base` + `_line`), the order ties keep."""

    def __init__(self, frame: pl.DataFrame, *, seq_base: int = 0, source: str | None = None):
        self.frame = frame
        self.seq_base = seq_base
        self.source = source

    @property
    def text_columns(self) -> list[str]:
        """The input's columns (without `_line`)."""
        return [name for name in self.frame.columns if name != "_line"]


def _stripped(name: str, raw: pl.DataFrame) -> pl.Expr:
    if name not in raw.columns:
        return pl.lit("", dtype=pl.String).alias(f"_{name}")
    return pl.col(f"raw:{name}").fill_null("").str.strip_chars(PY_WHITESPACE).alias(f"_{name}")


def _id_ok(name: str) -> pl.Expr:
    return (pl.col(name) != "") & (pl.col(name).str.len_chars() <= MAX_ID_LENGTH)


def _with_money(frame: pl.DataFrame, name: str, *, optional: bool) -> pl.DataFrame:
    """Exact value and written scale of a plain decimal text (null: not plain or too big)."""
    text = pl.col(f"_{name}")
    parts = frame.select(
        text.cast(MONEY, strict=False).alias("value"),
        text.str.contains(_MONEY).alias("plain"),
        # digits after the point: the text is plain ASCII wherever it is used
        pl.when(text.str.contains(".", literal=True))
        .then(text.str.len_bytes().cast(pl.Int64) - text.str.find(".", literal=True) - 1)
        .otherwise(0)
        .cast(pl.Int8)
        .alias("scale"),
        (text == "").alias("empty"),
    ).with_columns((pl.col("plain") & (pl.col("value") <= _MAX_AMOUNT)).alias("plain"))
    plain = pl.col("plain")
    ok = (plain | pl.col("empty")) if optional else plain
    return frame.with_columns(
        parts.select(
            pl.when(plain).then(pl.col("value")).alias(name),
            pl.when(plain).then(pl.col("scale")).alias(f"{name}_scale"),
            ok.fill_null(value=False).alias(f"_{name}_ok"),
        )
    )


def _too_long(raw: pl.DataFrame) -> pl.Expr:
    """Whether a row has a field over csv's limit (in characters, as `csv` counts); the byte
    lengths, which bound the character counts, rule it out at once in nearly every chunk."""
    columns = [c for c in raw.columns if c != "_line"]
    longest = raw.select(pl.max_horizontal(pl.col(columns).str.len_bytes().max())).item()
    if not columns or longest is None or longest <= _FIELD_LIMIT:
        return pl.lit(value=False)
    return pl.any_horizontal(
        pl.col(f"raw:{c}").str.len_chars().fill_null(0) > _FIELD_LIMIT for c in columns
    )


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
    columns = chunk.text_columns
    for values in slow.iter_rows():
        line, too_long, fields = values[0], values[1], values[2:]
        if too_long:
            problems.append(RowProblem(line, FIELD_LIMIT_REASON, chunk.source))
            continue
        event, reason = row_verdict(parse, dict(zip(columns, fields, strict=True)))
        if event is None:
            problems.append(RowProblem(line, reason or "unusable row", chunk.source))
        else:
            rows.append(to_row(chunk.seq_base + line, event))
    return pl.DataFrame(rows, schema=schema, orient="row") if rows else pl.DataFrame(schema=schema)


def _split(
    chunk: RawChunk, prepared: pl.DataFrame, fast: pl.Expr, schema: dict[str, pl.DataType]
) -> tuple[pl.DataFrame, pl.DataFrame]:
    marked = prepared.with_columns(fast.fill_null(value=False).alias("_fast"))
    typed = marked.filter("_fast").select(
        (pl.col("_line") + chunk.seq_base).alias("seq"),
        *(pl.col(name).cast(dtype) for name, dtype in schema.items() if name != "seq"),
    )
    slow = marked.filter(~pl.col("_fast")).select(
        "_line", "_too_long", *(f"raw:{c}" for c in chunk.text_columns)
    )
    return typed, slow


def typed_orders(chunk: RawChunk, problems: list[RowProblem]) -> pl.DataFrame:
    """Usable order rows of a chunk (ORDER_SCHEMA); problems appended in input order."""
    raw = chunk.frame
    names = ("customer_id", "order_id", "occurred_at", "amount", "kind", "margin", "currency")
    prepared = (
        raw.select("_line", pl.exclude("_line").name.prefix("raw:"))
        .with_columns(_too_long(raw).alias("_too_long"), *(_stripped(n, raw) for n in names))
        .pipe(with_instant, "_occurred_at")
        .pipe(_with_money, "amount", optional=False)
        .pipe(_with_money, "margin", optional=True)
        .with_columns(
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
        raw.select("_line", pl.exclude("_line").name.prefix("raw:"))
        .with_columns(_too_long(raw).alias("_too_long"), *(_stripped(n, raw) for n in names))
        .pipe(with_instant, "_occurred_at")
        .with_columns(
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
