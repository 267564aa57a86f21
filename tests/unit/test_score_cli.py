"""`tierstream score` on small files: output columns, bad rows by line, exit codes."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from streams.cli.main import main
from streams.cli.score import OUTPUT_COLUMNS

ORDERS = """customer_id,order_id,occurred_at,amount,kind
big,o1,2026-01-10T10:00:00Z,900,purchase
small,o2,2026-01-11T10:00:00Z,10,
small,o2,2026-01-11T10:00:00Z,10,purchase
,o3,2026-01-12T10:00:00Z,5,purchase
mid,o4,not-a-time,5,purchase
mid,o5,2026-01-12T10:00:00Z,-5,purchase
mid,o6,2026-01-12T10:00:00Z,50,gift
mid,o7,2026-01-12T10:00:00Z,50,purchase
mid,o7,2026-01-13T10:00:00Z,50,refund
"""


def _score(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], orders: str = ORDERS
) -> tuple[int, list[dict[str, str]], str]:
    path = tmp_path / "orders.csv"
    path.write_text(orders)
    code = main(["score", str(path), "--as-of", "2026-01-31"])
    captured = capsys.readouterr()
    rows = list(csv.DictReader(io.StringIO(captured.out))) if code == 0 else []
    return code, rows, captured.err


def test_output_has_the_contract_columns_one_row_per_customer(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, rows, _ = _score(tmp_path, capsys)
    assert code == 0
    assert tuple(rows[0]) == OUTPUT_COLUMNS
    assert [row["customer_id"] for row in rows] == ["big", "mid", "small"]


def test_bad_rows_are_reported_with_line_numbers_and_reasons(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, _, err = _score(tmp_path, capsys)
    assert "line 5: missing customer_id" in err
    assert "line 6: unparseable occurred_at" in err
    assert "line 7: negative amount" in err
    assert "line 8: unknown kind" in err
    assert "skipped 4 of 9 rows" in err


def test_duplicate_purchase_row_counts_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, rows, _ = _score(tmp_path, capsys)
    small = next(row for row in rows if row["customer_id"] == "small")
    assert (small["frequency"], small["monetary"]) == ("1", "10")


def test_fully_refunded_customer_has_monetary_zero(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, rows, _ = _score(tmp_path, capsys)
    mid = next(row for row in rows if row["customer_id"] == "mid")
    assert (mid["frequency"], mid["monetary"]) == ("1", "0")


FREE_SAMPLE_ORDERS = """customer_id,order_id,occurred_at,amount,kind,margin
payer,o1,2026-01-10T10:00:00Z,120,purchase,40
free,o2,2026-01-20T10:00:00Z,0,purchase,0
"""


def test_customer_whose_only_purchase_is_free_appears_with_frequency_one_and_monetary_zero(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A $0 purchase is a purchase (DESIGN.md, Events): the customer is active and scored."""
    code, rows, err = _score(tmp_path, capsys, FREE_SAMPLE_ORDERS)
    assert code == 0
    assert "skipped" not in err
    free = next(row for row in rows if row["customer_id"] == "free")
    assert (free["frequency"], free["monetary"], free["recency_days"]) == ("1", "0", "11")
    assert (free["lifecycle"], free["risk"]) == ("new", "ok")


def test_summary_shows_customers_and_revenue_share_per_tier(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, _, err = _score(tmp_path, capsys)
    assert "revenue share" in err
    assert "core" in err


def test_missing_file_exits_non_zero_with_a_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["score", str(tmp_path / "absent.csv"), "--as-of", "2026-01-31"])
    assert code == 2
    assert "cannot open" in capsys.readouterr().err


def test_missing_required_column_exits_non_zero(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = _score(tmp_path, capsys, "customer_id,order_id,amount\nc,o,1\n")
    assert code == 2
    assert "occurred_at" in err


def test_bad_as_of_is_a_usage_error(tmp_path: Path) -> None:
    (tmp_path / "o.csv").write_text(ORDERS)
    with pytest.raises(SystemExit) as exit_info:
        main(["score", str(tmp_path / "o.csv"), "--as-of", "someday"])
    assert exit_info.value.code == 2


def test_feedback_file_raises_risk(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    orders = tmp_path / "orders.csv"
    orders.write_text(ORDERS)
    feedback = tmp_path / "feedback.csv"
    feedback.write_text(
        "customer_id,occurred_at,kind,score\nbig,2026-01-20T09:00:00Z,complaint,2\nbig,2026-01-21,csat,9\n"
    )
    assert main(["score", str(orders), "--feedback", str(feedback), "--as-of", "2026-01-31"]) == 0
    captured = capsys.readouterr()
    big = next(
        row for row in csv.DictReader(io.StringIO(captured.out)) if row["customer_id"] == "big"
    )
    assert big["risk"] == "at_risk"
    assert "line 3: score out of range for kind" in captured.err
