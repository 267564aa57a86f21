"""`tierstream score` inputs: CSV quirks (BOM, CRLF, bad bytes, huge fields) skip one row at
most, and Parquet files or directories score like the same rows in CSV."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest

from streams.cli.main import main

HEADER = b"customer_id,order_id,occurred_at,amount\n"
ROWS = [
    ("big", "o1", "2026-01-10T10:00:00Z", "900"),
    ("small", "o2", "2026-01-11T10:00:00+00:00", "10.50"),
    ("small", "o3", "2026-01-12T10:00:00Z", "4"),
]


def _score(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, list[dict[str, str]], str]:
    code = main(["score", *argv, "--as-of", "2026-01-31"])
    captured = capsys.readouterr()
    rows = list(csv.DictReader(io.StringIO(captured.out))) if code == 0 else []
    return code, rows, captured.err


def _csv_bytes(rows: list[tuple[str, ...]], line_end: bytes = b"\n") -> bytes:
    return HEADER.replace(b"\n", line_end) + b"".join(
        ",".join(row).encode() + line_end for row in rows
    )


@pytest.fixture
def plain_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> list[dict[str, str]]:
    path = tmp_path / "plain.csv"
    path.write_bytes(_csv_bytes(ROWS))
    code, rows, _ = _score(capsys, str(path))
    assert code == 0
    return rows


def test_a_byte_order_mark_before_the_header_is_accepted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], plain_output: list[dict[str, str]]
) -> None:
    path = tmp_path / "bom.csv"
    path.write_bytes(b"\xef\xbb\xbf" + _csv_bytes(ROWS))
    assert _score(capsys, str(path))[1] == plain_output


def test_crlf_line_ends_score_like_lf(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], plain_output: list[dict[str, str]]
) -> None:
    path = tmp_path / "crlf.csv"
    path.write_bytes(_csv_bytes(ROWS, b"\r\n"))
    assert _score(capsys, str(path))[1] == plain_output


def test_a_row_with_an_invalid_utf8_byte_is_skipped_with_its_line_number(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "latin1.csv"
    path.write_bytes(_csv_bytes(ROWS[:1]) + b"m\xfcller,o9,2026-01-12T10:00:00Z,5\n")
    code, rows, err = _score(capsys, str(path))
    assert (code, [row["customer_id"] for row in rows]) == (0, ["big"])
    assert "line 3: not valid UTF-8" in err


def test_a_field_over_the_csv_limit_skips_only_its_row(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "long.csv"
    huge = "x" * 200_000
    path.write_bytes(_csv_bytes([ROWS[0], (huge, "o9", "2026-01-12T10:00:00Z", "5"), ROWS[1]]))
    code, rows, err = _score(capsys, str(path))
    assert (code, [row["customer_id"] for row in rows]) == (0, ["big", "small"])
    assert "line 3: field larger than field limit (131072)" in err


def test_a_quoted_amount_with_a_comma_is_one_unusable_row_not_a_shifted_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "quoted.csv"
    path.write_bytes(_csv_bytes(ROWS[:1]) + b'mid,o9,2026-01-12T10:00:00Z,"12,50"\n')
    _, rows, err = _score(capsys, str(path))
    assert [row["customer_id"] for row in rows] == ["big"]
    assert "line 3: unparseable amount" in err


def test_a_parquet_file_scores_like_the_same_rows_in_csv(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], plain_output: list[dict[str, str]]
) -> None:
    path = tmp_path / "orders.parquet"
    pl.DataFrame(
        [list(row) for row in ROWS],
        schema=["customer_id", "order_id", "occurred_at", "amount"],
        orient="row",
    ).write_parquet(path)
    assert _score(capsys, str(path))[1] == plain_output


def test_typed_parquet_columns_are_read_as_their_values(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], plain_output: list[dict[str, str]]
) -> None:
    """A timestamp column and a decimal amount column, as a warehouse export writes them."""
    frame = pl.DataFrame(
        [list(row) for row in ROWS],
        schema=["customer_id", "order_id", "occurred_at", "amount"],
        orient="row",
    ).with_columns(
        pl.col("occurred_at").str.to_datetime(time_zone="UTC"),
        pl.col("amount").cast(pl.Decimal(12, 2)),
    )
    frame.write_parquet(tmp_path / "typed.parquet")
    rows = _score(capsys, str(tmp_path / "typed.parquet"))[1]
    assert [(r["customer_id"], r["frequency"]) for r in rows] == [("big", "1"), ("small", "2")]
    assert [r["monetary"] for r in rows] == ["900.00", "14.50"]


def test_a_directory_of_parquet_files_is_one_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], plain_output: list[dict[str, str]]
) -> None:
    directory = tmp_path / "orders"
    directory.mkdir()
    for index, row in enumerate(ROWS):
        pl.DataFrame(
            [list(row)], schema=["customer_id", "order_id", "occurred_at", "amount"], orient="row"
        ).write_parquet(directory / f"part-{index}.parquet")
    assert _score(capsys, str(directory))[1] == plain_output


def test_a_parquet_problem_names_the_file_and_row(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "orders.parquet"
    pl.DataFrame(
        [list(ROWS[0]), ["mid", "o9", "yesterday", "5"]],
        schema=["customer_id", "order_id", "occurred_at", "amount"],
        orient="row",
    ).write_parquet(path)
    _, _, err = _score(capsys, str(path))
    assert "orders.parquet row 2: unparseable occurred_at" in err


def test_orders_format_says_what_the_name_does_not(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], plain_output: list[dict[str, str]]
) -> None:
    path = tmp_path / "orders.export"
    path.write_bytes(_csv_bytes(ROWS))
    assert _score(capsys, str(path), "--orders-format", "csv")[1] == plain_output


def test_a_name_without_a_known_format_is_refused_with_a_hint(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "orders.export"
    path.write_bytes(_csv_bytes(ROWS))
    code, _, err = _score(capsys, str(path))
    assert code == 2
    assert "--orders-format" in err


TRICKY = (
    "customer_id,order_id,occurred_at,amount,kind\n"
    "a,o1,2026-01-10T10:00:00Z,5,purchase\n"
    '"b\nwith a line break",o2,2026-01-10T10:00:00Z,5,purchase\n'
    "\n"
    'c,o3,2026-01-10T10:00:00Z,"1,5",purchase\n'
    "c,o4,not-a-time,5,purchase\r\n"
    "d,o5,2026-01-10T10:00:00Z,5\n"
    ",o6,2026-01-10T10:00:00Z,5,purchase\n"
    'e,"o7 ""quoted""",2026-01-10T10:00:00Z,-5,purchase\n'
    "f,o8,2026-01-10T10:00:00Z,5,gift\n"
)


@pytest.mark.parametrize("block_bytes", [16, 64, 1 << 20])
def test_problems_and_rows_match_the_row_by_row_reader_whatever_the_block_size(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, block_bytes: int
) -> None:
    """Quoted line breaks, blank and CRLF lines and unusable rows across block ends."""
    from streams.batch import csv_chunks, score_files
    from streams.data.csv_input import CsvReport, read_orders

    path = tmp_path / "tricky.csv"
    path.write_text(TRICKY * 3)
    reference = CsvReport(path)
    customers = sorted({event.customer_id for event in read_orders(path, reference)})
    monkeypatch.setattr(csv_chunks, "BLOCK_BYTES", block_bytes)
    scored = score_files(path, datetime(2026, 1, 31, tzinfo=UTC))
    report = scored.reports[0]
    assert scored.customers.get_column("customer_id").to_list() == customers
    assert (report.rows, report.problems) == (reference.rows, reference.problems)


def test_feedback_can_be_parquet_under_any_name_with_feedback_format(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    orders = tmp_path / "orders.csv"
    orders.write_bytes(_csv_bytes(ROWS))
    feedback = tmp_path / "feedback.data"
    pl.DataFrame(
        {
            "customer_id": ["big"],
            "occurred_at": ["2026-01-20T09:00:00Z"],
            "kind": ["complaint"],
            "score": [2],
        }
    ).write_parquet(feedback)
    argv = (str(orders), "--feedback", str(feedback), "--feedback-format", "parquet")
    _, rows, _ = _score(capsys, *argv)
    assert {row["customer_id"]: row["risk"] for row in rows} == {"big": "at_risk", "small": "ok"}
