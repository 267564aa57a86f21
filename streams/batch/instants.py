"""RFC 3339 timestamp text → (UTC microseconds since 1970, UTC offset in seconds), over columns.

Accepts a subset of what `streams.data.csv_input.parse_instant` (Python's `fromisoformat`)
accepts and reads it to the same instant; anything else is left null for the reference
parser. The common layout `YYYY-MM-DDTHH:MM:SS[zone]` is sliced at fixed places and its few
distinct dates and zones are read by Python (`date.fromisoformat`), so validity is Python's;
other plain layouts (fractions, no seconds, a date alone) go through a regular expression.
Instants outside the event bounds (1970 to before 2100) are null too.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime

import polars as pl

from schemas.bounds import LATEST_EVENT_TIME

__all__ = ["instant_parts", "with_instant"]

_US_PER_SECOND = 1_000_000
_US_PER_DAY = 86_400 * _US_PER_SECOND
_LATEST_US = int(LATEST_EVENT_TIME.timestamp()) * _US_PER_SECOND
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_EPOCH_DAY = date(1970, 1, 1)
_TIME = (
    r"^(\d{4})-(\d{2})-(\d{2})"
    r"(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,6}))?)?(?:(Z)|([+-])(\d{2}):(\d{2}))?)?$"
)
_TIME_PARTS = [
    "year",
    "month",
    "day",
    "hour",
    "minute",
    "second",
    "fraction",
    "zulu",
    "sign",
    "offset_hours",
    "offset_minutes",
]
_FIXED_TIME = r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:Z|[+-]\d{2}:\d{2})?$"


def _general_instant(frame: pl.DataFrame, name: str) -> pl.DataFrame:
    """`at` and `offset` of any plain RFC 3339 layout (null where it is not plain or not in
    range), by regular expression; computed in stages, each stage materialised once."""
    parts = frame.select(
        pl.col(name).str.extract_groups(_TIME).struct.rename_fields(_TIME_PARTS).struct.unnest()
    )
    numbers = parts.select(
        *(pl.col(n).cast(pl.Int64) for n in ("year", "month", "day")),
        *(pl.col(n).cast(pl.Int64).fill_null(0) for n in ("hour", "minute", "second")),
        pl.col("fraction").str.pad_end(6, "0").cast(pl.Int64).fill_null(0),
        (
            pl.when(pl.col("sign") == "-").then(-1).otherwise(1)
            * (
                pl.col("offset_hours").cast(pl.Int64).fill_null(0) * 3600
                + pl.col("offset_minutes").cast(pl.Int64).fill_null(0) * 60
            )
        ).alias("offset"),
    )
    year, month, day = pl.col("year"), pl.col("month"), pl.col("day")
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
        & (pl.col("hour") <= 23)
        & (pl.col("minute") <= 59)
        & (pl.col("second") <= 59)
    )
    numbers = numbers.with_columns(valid.fill_null(value=False).alias("valid"))
    ok = pl.col("valid")
    days = pl.date(
        pl.when(ok).then(year).otherwise(1970),
        pl.when(ok).then(month).otherwise(1),
        pl.when(ok).then(day).otherwise(1),
    ).cast(pl.Int64)
    seconds = pl.col("hour") * 3600 + pl.col("minute") * 60 + pl.col("second")
    at = days * _US_PER_DAY + (seconds - pl.col("offset")) * _US_PER_SECOND + pl.col("fraction")
    numbers = numbers.with_columns(at.alias("at"))
    in_bounds = ok & (pl.col("at") >= 0) & (pl.col("at") < _LATEST_US)
    return frame.with_columns(
        numbers.select(
            pl.when(in_bounds).then(pl.col("at")).alias("at"),
            pl.when(in_bounds).then(pl.col("offset").cast(pl.Int32)).alias("offset"),
        )
    )


def with_instant(frame: pl.DataFrame, name: str) -> pl.DataFrame:
    """`at` and `offset` of a plain RFC 3339 text column (null where it is not plain or not
    in range). The common layout `YYYY-MM-DDTHH:MM:SS[zone]` is sliced at fixed places and
    its few distinct dates and zones are read by Python (so validity is Python's); rows in
    other plain layouts (fractions, no seconds, date only) go through `_general_instant`."""
    text = pl.col(name)
    work = frame.select(
        text.str.contains(_FIXED_TIME).alias("fixed"),
        text.str.slice(0, 10).alias("date"),
        text.str.slice(19).alias("zone"),
        *(
            text.str.slice(start, 2).cast(pl.Int64, strict=False).alias(unit)
            for start, unit in ((11, "hour"), (14, "minute"), (17, "second"))
        ),
    )
    fixed_rows = work.filter("fixed")
    days = _lookup("date", fixed_rows, _days_of)
    zones = _lookup("zone", fixed_rows, _offset_of)
    at = (
        pl.col("days") * _US_PER_DAY
        + (pl.col("hour") * 3600 + pl.col("minute") * 60 + pl.col("second") - pl.col("offset"))
        * _US_PER_SECOND
    )
    valid = (
        pl.col("fixed")
        & (pl.col("hour") <= 23)
        & (pl.col("minute") <= 59)
        & (pl.col("second") <= 59)
    )
    work = work.with_columns(days.alias("days"), zones.alias("offset")).with_columns(
        at.alias("at"), valid.fill_null(value=False).alias("valid")
    )
    in_bounds = pl.col("valid") & (pl.col("at") >= 0) & (pl.col("at") < _LATEST_US)
    frame = frame.with_columns(
        work.select(
            pl.when(in_bounds).then(pl.col("at")).alias("at"),
            pl.when(in_bounds).then(pl.col("offset")).cast(pl.Int32).alias("offset"),
        )
    )
    others = frame.filter(~work.get_column("fixed") & frame.get_column(name).str.contains(_TIME))
    if others.is_empty():
        return frame
    general = _general_instant(others.select("_line", name), name).select("_line", "at", "offset")
    return frame.update(general, on="_line")


def _lookup(column: str, rows: pl.DataFrame, read: Callable[[str], int | None]) -> pl.Expr:
    """`read` of each value of a column, called once per distinct value among `rows`."""
    mapping = {value: read(value) for value in rows.get_column(column).unique().to_list()}
    return pl.col(column).replace_strict(mapping, default=None, return_dtype=pl.Int64)


def _days_of(text: str) -> int | None:
    """Days since 1970-01-01 of an ISO date, None when Python's date refuses it."""
    try:
        return (date.fromisoformat(text) - _EPOCH_DAY).days
    except ValueError:
        return None


def _offset_of(zone: str) -> int | None:
    """UTC offset in seconds of `Z`, `±HH:MM` or nothing (UTC), None when out of range."""
    if zone in ("", "Z"):
        return 0
    hours, minutes = int(zone[1:3]), int(zone[4:6])
    if hours > 23 or minutes > 59:
        return None
    return (1 if zone[0] == "+" else -1) * (hours * 3600 + minutes * 60)


def instant_parts(instant: datetime) -> tuple[int, int]:
    """(UTC microseconds since 1970, UTC offset in seconds) of an aware instant."""
    offset = instant.utcoffset()
    assert offset is not None  # events carry a zone
    delta = instant - _EPOCH
    at = (delta.days * 86_400 + delta.seconds) * _US_PER_SECOND + delta.microseconds
    return at, int(offset.total_seconds())
