"""Read a CSV file in blocks of bytes, as text columns, never the whole file at once.

Each block ends at a line end; a block whose lines are all plain (no quote character, no NUL,
no blank line, no lone CR line end, valid UTF-8) is parsed by polars' native reader, and its
rows are its lines, so their line numbers are known. Any other block is parsed line by line
with Python's `csv` module, exactly like `streams.data.csv_input`, except that a line that is
not valid UTF-8 or holds a field over csv's 128 KiB limit skips that row with a reason and its
line number instead of ending the whole file. A UTF-8 byte order mark before the header and
CRLF line ends are accepted (exports from spreadsheet programs have both).

Line numbers are those of `csv.reader.line_num`: 1 is the header, and a row is numbered by
the last physical line it occupies (lines end at LF, CR or CRLF).
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

import numpy as np
import polars as pl
from polars.exceptions import PolarsError

from streams.batch.rows import FIELD_LIMIT_REASON, RawChunk
from streams.data.csv_input import CsvError, CsvReport, RowProblem

__all__ = ["BLOCK_BYTES", "INVALID_UTF8_REASON", "csv_chunks"]

BLOCK_BYTES = 8 * 1024 * 1024
"""Bytes read at a time: small enough that the per-block columns stay well below the kept
rows (measured: 8 MiB gives the same time as 32 MiB and 300 MiB less peak on 1 M rows)."""
INVALID_UTF8_REASON = "not valid UTF-8"
_BOM = b"\xef\xbb\xbf"


def _header(handle: BinaryIO, path: Path) -> tuple[list[str], bytes]:
    """The header's field names and the bytes read after it."""
    first = handle.readline()
    if first.startswith(_BOM):
        first = first[len(_BOM) :]
    # A file with CR-only line ends: the header ends at the first CR.
    rest = b""
    if b"\r" in first.rstrip(b"\r\n"):
        first, _, rest = first.partition(b"\r")
    try:
        text = first.decode("utf-8")
    except UnicodeDecodeError:
        raise CsvError(f"{path}: line 1: cannot read: header is {INVALID_UTF8_REASON}") from None
    rows = list(csv.reader([text]))
    return (rows[0] if rows else []), rest


def _line_count(piece: bytes) -> int:
    """Physical lines in a piece, counted as Python's universal newlines split them."""
    ends = piece.count(b"\n")
    if b"\r" in piece:
        ends += piece.count(b"\r") - piece.count(b"\r\n")
    return ends + (0 if piece.endswith((b"\n", b"\r")) or not piece else 1)


_LF, _CR, _QUOTE = 10, 13, 34


class _Layout:
    """Where the lines of a piece start and end (numpy, one pass over the bytes)."""

    def __init__(self, piece: bytes) -> None:
        self.bytes = np.frombuffer(piece, dtype=np.uint8)
        ends = np.flatnonzero(self.bytes == _LF)
        if not piece.endswith(b"\n"):
            ends = np.append(ends, len(piece))
        self.ends = ends  # offset of each line's LF (or of the piece's end)
        self.starts = np.concatenate(([0], ends[:-1] + 1))

    def is_plain(self, piece: bytes) -> bool:
        """No NUL, no blank line, no CR except right before LF."""
        if b"\x00" in piece:
            return False
        lengths = self.ends - self.starts
        if not lengths.all():
            return False
        if b"\r" not in piece:
            return True
        at_lf = self.ends[self.ends < len(piece)]
        crlf = self.bytes[at_lf - 1] == _CR
        if int(np.count_nonzero(self.bytes == _CR)) != int(np.count_nonzero(crlf)):
            return False
        return not (crlf & (lengths[: len(at_lf)] == 1)).any()


def _record_end(data: bytes) -> int:
    """Length of the longest prefix of `data` ending at a line end outside quotes."""
    cut = data.rfind(b"\n") + 1 or data.rfind(b"\r") + 1
    while cut and data.count(b'"', 0, cut) % 2:
        cut = data.rfind(b"\n", 0, cut - 1) + 1
    return cut


def _polars(piece: bytes, width: int) -> pl.DataFrame | None:
    """Unquoted lines through polars, one row a line (None: not valid UTF-8)."""
    try:
        return pl.read_csv(
            piece,
            has_header=False,
            schema=dict.fromkeys((f"c{i}" for i in range(width)), pl.String),
            quote_char=None,
            truncate_ragged_lines=True,
            missing_columns="insert",
            raise_if_empty=False,
        )
    except PolarsError:  # not valid UTF-8, or anything else polars will not read as plain
        return None


def _fast(
    piece: bytes, names: list[str], first_line: int, problems: list[RowProblem]
) -> tuple[pl.DataFrame, int] | None:
    """A plain piece: unquoted lines through polars, lines with a quote through `csv` (quotes
    can hide commas); None when a quoted field spans lines or a byte is not UTF-8."""
    layout = _Layout(piece)
    if not layout.is_plain(piece):
        return None
    lines = len(layout.ends)
    quotes = np.flatnonzero(layout.bytes == _QUOTE)
    if not len(quotes):
        frame = _polars(piece, len(names))
        if frame is None or frame.height != lines:
            return None
        numbers = pl.int_range(first_line, first_line + lines, dtype=pl.Int64, eager=True)
        return _named(frame, names).with_columns(numbers.alias("_line")), lines
    per_line = np.bincount(np.searchsorted(layout.ends, quotes), minlength=lines)
    quoted = np.flatnonzero(per_line)
    if (per_line[quoted] % 2).any():
        return None  # a quoted field goes on on the next line
    starts, ends = layout.starts.tolist(), layout.ends.tolist()
    kept, previous = [], 0
    for index in quoted.tolist():
        kept.append(piece[starts[previous] : starts[index]])
        previous = index + 1
    if previous < lines:
        kept.append(piece[starts[previous] :])
    frame = _polars(b"".join(kept), len(names))
    if frame is None or frame.height != lines - len(quoted):
        return None
    unquoted_lines = np.delete(np.arange(first_line, first_line + lines, dtype=np.int64), quoted)
    unquoted = _named(frame, names).with_columns(pl.Series("_line", unquoted_lines))
    with_quotes, rows = _slow_lines(
        [(first_line + i, piece[starts[i] : ends[i] + 1]) for i in quoted.tolist()],
        names,
        problems,
    )
    return pl.concat([unquoted, with_quotes]), lines - len(quoted) + rows


def _named(frame: pl.DataFrame, names: list[str]) -> pl.DataFrame:
    """Columns under the header's names; a repeated name keeps its last column, as
    `csv.DictReader` does."""
    last = {name: index for index, name in enumerate(names)}
    return frame.select(pl.col(f"c{index}").alias(name) for name, index in last.items())


def _slow_lines(
    lines: list[tuple[int, bytes]], names: list[str], problems: list[RowProblem]
) -> tuple[pl.DataFrame, int]:
    """(line number, bytes) through Python's csv module, as `csv.DictReader` reads them;
    (rows with `_line`, rows counted including unreadable ones)."""
    where = {"line": 0}
    unreadable = [0]

    def decoded() -> Iterator[str]:
        for number, raw in lines:
            where["line"] = number
            try:
                yield raw.decode("utf-8")
            except UnicodeDecodeError:
                problems.append(RowProblem(number, INVALID_UTF8_REASON))
                unreadable[0] += 1

    records: list[list[str]] = []
    positions: list[int] = []
    reader = csv.reader(decoded())
    while True:
        try:
            record = next(reader)
        except StopIteration:
            break
        except csv.Error as error:
            reason = FIELD_LIMIT_REASON if "field limit" in str(error) else str(error)
            problems.append(RowProblem(where["line"], reason))
            unreadable[0] += 1
            continue
        if record:
            records.append(record)
            positions.append(where["line"])
    last = {name: index for index, name in enumerate(names)}
    columns: dict[str, list[str | None] | list[int]] = {
        name: [record[index] if index < len(record) else None for record in records]
        for name, index in last.items()
    }
    columns["_line"] = positions
    schema: dict[str, pl.DataType] = {name: pl.String() for name in last}
    schema["_line"] = pl.Int64()
    return pl.DataFrame(columns, schema=schema), len(records) + unreadable[0]


def _slow(
    piece: bytes, names: list[str], first_line: int, problems: list[RowProblem]
) -> tuple[pl.DataFrame, int]:
    lines = piece.splitlines(keepends=True)
    return _slow_lines(list(enumerate(lines, start=first_line)), names, problems)


def csv_chunks(
    path: Path,
    required: tuple[str, ...],
    report: CsvReport,
    on_progress: Callable[[int], None] | None = None,
    block_bytes: int | None = None,
) -> Iterator[RawChunk]:
    """Text chunks of a CSV file; unreadable rows go to `report.problems`.

    Raises CsvError when the file cannot be opened or its header lacks a required column.
    """
    try:
        handle = path.open("rb")
    except OSError as error:
        raise CsvError(f"{path}: cannot open: {error.strerror}") from None
    with handle:
        names, leftover = _header(handle, path)
        missing = [name for name in required if name not in names]
        if missing:
            raise CsvError(f"{path}: header lacks required column(s): {', '.join(missing)}")
        line = 2
        while True:
            block = handle.read(block_bytes or BLOCK_BYTES)
            data = leftover + block
            if not data:
                break
            cut = len(data) if not block else _record_end(data)
            if cut == 0:  # no line end yet: one record longer than a block
                leftover = data
                continue
            piece, leftover = data[:cut], data[cut:]
            if on_progress is not None:
                on_progress(len(piece))
            read = _fast(piece, names, line, report.problems)
            frame, rows = read or _slow(piece, names, line, report.problems)
            report.rows += rows
            line += _line_count(piece)
            yield RawChunk(frame)
