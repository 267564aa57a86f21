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

import polars as pl
from polars.exceptions import ComputeError

from streams.batch.rows import FIELD_LIMIT_REASON, RawChunk
from streams.data.csv_input import CsvError, CsvReport, RowProblem

__all__ = ["BLOCK_BYTES", "INVALID_UTF8_REASON", "csv_chunks"]

BLOCK_BYTES = 32 * 1024 * 1024
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
    ends = piece.count(b"\n") + piece.count(b"\r") - piece.count(b"\r\n")
    return ends + (0 if piece.endswith((b"\n", b"\r")) or not piece else 1)


def _is_plain(piece: bytes) -> bool:
    return (
        b'"' not in piece
        and b"\x00" not in piece
        and not piece.startswith((b"\n", b"\r"))
        and b"\n\n" not in piece
        and b"\n\r" not in piece
        and piece.count(b"\r") == piece.count(b"\r\n")
    )


def _record_end(data: bytes) -> int:
    """Length of the longest prefix of `data` ending at a line end outside quotes."""
    cut = data.rfind(b"\n") + 1 or data.rfind(b"\r") + 1
    while cut and data.count(b'"', 0, cut) % 2:
        cut = data.rfind(b"\n", 0, cut - 1) + 1
    return cut


def _fast(piece: bytes, names: list[str], first_line: int, first_seq: int) -> RawChunk | None:
    """A plain piece through polars, or None when polars cannot read it as one row a line."""
    try:
        frame = pl.read_csv(
            piece,
            has_header=False,
            schema=dict.fromkeys((f"c{i}" for i in range(len(names))), pl.String),
            quote_char=None,
            truncate_ragged_lines=True,
            raise_if_empty=False,
        )
    except ComputeError:  # invalid UTF-8 somewhere in the piece
        return None
    lines = _line_count(piece)
    if frame.height != lines:
        return None
    return RawChunk(_named(frame, names), first_seq, first_position=first_line)


def _named(frame: pl.DataFrame, names: list[str]) -> pl.DataFrame:
    """Columns under the header's names; a repeated name keeps its last column, as
    `csv.DictReader` does."""
    last = {name: index for index, name in enumerate(names)}
    return frame.select(pl.col(f"c{index}").alias(name) for name, index in last.items())


def _slow(
    piece: bytes, names: list[str], first_line: int, first_seq: int, problems: list[RowProblem]
) -> tuple[RawChunk, int]:
    """A piece through Python's csv module; (chunk, rows including unreadable ones)."""
    where = {"line": first_line - 1}
    rows_seen: list[None] = []  # unreadable rows (counted, not parsed)

    def lines() -> Iterator[str]:
        for raw in piece.splitlines(keepends=True):
            where["line"] += 1
            try:
                yield raw.decode("utf-8")
            except UnicodeDecodeError:
                problems.append(RowProblem(where["line"], INVALID_UTF8_REASON))
                rows_seen.append(None)

    records: list[list[str]] = []
    positions: list[int] = []
    reader = csv.reader(lines())
    while True:
        try:
            record = next(reader)
        except StopIteration:
            break
        except csv.Error as error:
            reason = FIELD_LIMIT_REASON if "field limit" in str(error) else str(error)
            problems.append(RowProblem(where["line"], reason))
            rows_seen.append(None)
            continue
        if record:
            records.append(record)
            positions.append(where["line"])
    last = {name: index for index, name in enumerate(names)}
    columns = {
        name: [record[index] if index < len(record) else None for record in records]
        for name, index in last.items()
    }
    frame = pl.DataFrame(columns, schema=dict.fromkeys(last, pl.String))
    return RawChunk(frame, first_seq, positions=positions), len(records) + len(rows_seen)


def csv_chunks(
    path: Path,
    required: tuple[str, ...],
    report: CsvReport,
    on_progress: Callable[[int], None] | None = None,
    block_bytes: int = BLOCK_BYTES,
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
            block = handle.read(block_bytes)
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
            chunk = _fast(piece, names, line, report.rows) if _is_plain(piece) else None
            rows = chunk.frame.height if chunk is not None else 0
            if chunk is None:
                chunk, rows = _slow(piece, names, line, report.rows, report.problems)
            report.rows += rows
            line += _line_count(piece)
            yield chunk
