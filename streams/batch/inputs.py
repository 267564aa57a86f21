"""Input files as text chunks: CSV (`csv_chunks`), a Parquet file, or a directory of them.

The format comes from the name (`.csv`; `.parquet`/`.pq` or a directory) unless it is given
(`--orders-format`, `--feedback-format`), which it must be for any other name. Parquet
columns of any type are read as the text a CSV export would hold (timestamps as RFC 3339 in
UTC, a naive timestamp taken as UTC like a CSV one without a zone), so one set of row rules
serves both; a problem names the file and the row (1 = first data row).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from enum import StrEnum
from pathlib import Path

import polars as pl

from streams.batch.csv_chunks import csv_chunks
from streams.batch.rows import RawChunk
from streams.data.csv_input import CsvError, CsvReport

__all__ = ["InputFormat", "input_chunks", "input_format"]

_PARQUET_BATCH_ROWS = 500_000


class InputFormat(StrEnum):
    """How an input file is encoded."""

    CSV = "csv"
    PARQUET = "parquet"


def input_format(path: Path, given: InputFormat | None) -> InputFormat:
    """The given format, else the one the name says; CsvError when neither says."""
    if given is not None:
        return given
    if path.is_dir() or path.suffix.lower() in (".parquet", ".pq"):
        return InputFormat.PARQUET
    if path.suffix.lower() == ".csv":
        return InputFormat.CSV
    raise CsvError(
        f"{path}: cannot tell the format from the name; say --orders-format/--feedback-format "
        "csv or parquet"
    )


def _as_text(column: str, dtype: pl.DataType) -> pl.Expr:
    value = pl.col(column)
    if isinstance(dtype, pl.Datetime):
        utc = value.dt.convert_time_zone("UTC") if dtype.time_zone else value
        return utc.dt.strftime("%Y-%m-%dT%H:%M:%S%.6f+00:00").alias(column)
    if isinstance(dtype, pl.Date):
        return value.dt.strftime("%Y-%m-%d").alias(column)
    return value.cast(pl.String).alias(column)


def _parquet_files(path: Path) -> list[Path]:
    if not path.exists():
        raise CsvError(f"{path}: cannot open: No such file or directory")
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.suffix.lower() in (".parquet", ".pq"))
        if not files:
            raise CsvError(f"{path}: no .parquet file in this directory")
        return files
    return [path]


def _parquet_chunks(
    path: Path,
    columns: tuple[str, ...],
    required: tuple[str, ...],
    report: CsvReport,
    on_progress: Callable[[int], None] | None,
) -> Iterator[RawChunk]:
    for file in _parquet_files(path):
        try:
            scan = pl.scan_parquet(file)
            schema = scan.collect_schema()
        except (OSError, pl.exceptions.PolarsError) as error:
            raise CsvError(f"{file}: cannot read as Parquet: {error}") from None
        missing = [name for name in required if name not in schema]
        if missing:
            raise CsvError(f"{file}: lacks required column(s): {', '.join(missing)}")
        present = [name for name in columns if name in schema]
        text = scan.select(_as_text(name, schema[name]) for name in present)
        row, seq_base = 1, report.rows
        for batch in text.collect_batches(chunk_size=_PARQUET_BATCH_ROWS):
            numbered = batch.with_columns(
                pl.int_range(row, row + batch.height, dtype=pl.Int64).alias("_line")
            )
            yield RawChunk(numbered, seq_base=seq_base, source=file.name)
            row += batch.height
            report.rows += batch.height
        if on_progress is not None:
            on_progress(file.stat().st_size)


def input_chunks(
    path: Path,
    given: InputFormat | None,
    columns: tuple[str, ...],
    required: tuple[str, ...],
    report: CsvReport,
    on_progress: Callable[[int], None] | None = None,
) -> Iterator[RawChunk]:
    """Text chunks of an input (only `columns` are needed); raises CsvError when the input
    cannot be read at all or lacks a required column."""
    if input_format(path, given) is InputFormat.PARQUET:
        report.unit = "row"
        return _parquet_chunks(path, columns, required, report, on_progress)
    return csv_chunks(path, required, report, on_progress)
