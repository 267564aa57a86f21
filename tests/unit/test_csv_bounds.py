"""CSV rows are held to the event bounds (schemas.bounds): a row outside them is reported
with its line number and a reason naming the field and bound, never a crash."""

from __future__ import annotations

from pathlib import Path

import pytest

from schemas import OrderEvent
from schemas.bounds import MAX_ID_LENGTH
from streams.data.csv_input import CsvReport, RowProblem, read_feedback, read_orders

ORDER_HEADER = "customer_id,order_id,occurred_at,amount,kind,margin\n"
FEEDBACK_HEADER = "customer_id,occurred_at,kind,score\n"
LONG_ID = "x" * (MAX_ID_LENGTH + 1)


def _orders(tmp_path: Path, row: str) -> tuple[list[OrderEvent], CsvReport]:
    path = tmp_path / "orders.csv"
    path.write_text(ORDER_HEADER + row + "\n", encoding="utf-8")
    report = CsvReport(path)
    return list(read_orders(path, report)), report


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        ("c1,o1,2026-01-10,1e1000000,purchase,", "amount must be at most 1000000000000 (10^12)"),
        ("c1,o1,2026-01-10,1000000000000.01,purchase,", "amount must be at most 1000000000000"),
        ("c1,o1,2026-01-10,1.0000000000000000001,,", "amount has more than 18 decimal places"),
        ("c1,o1,2026-01-10,100,purchase,1000000000001", "margin must be at most 1000000000000"),
        ("c1,o1,1969-12-31T23:59:59Z,100,,", "occurred_at must be at or after 1970-01-01"),
        ("c1,o1,2100-01-01,100,,", "before 2100-01-01"),
        ("c1,o1,0001-01-01,100,,", "occurred_at must be at or after 1970-01-01"),
        ("c1,o1,9999-12-31T23:59:59-05:00,100,,", "before 2100-01-01"),
        (f"{LONG_ID},o1,2026-01-10,100,,", "customer_id longer than 200 characters"),
        (f"c1,{LONG_ID},2026-01-10,100,,", "order_id longer than 200 characters"),
    ],
)
def test_order_row_outside_a_bound_is_reported_with_its_line(
    tmp_path: Path, row: str, reason: str
) -> None:
    events, report = _orders(tmp_path, row)
    assert events == []
    assert len(report.problems) == 1
    assert report.problems[0].line == 2
    assert reason in report.problems[0].reason


@pytest.mark.parametrize(
    "row",
    [
        "c1,o1,2026-01-10,1000000000000,purchase,1000000000000",
        "c1,o1,1970-01-01T00:00:00Z,0.000000000000000001,,0",
        "c1,o1,2099-12-31T23:59:59.999999Z,100,,",
        f"{'c' * MAX_ID_LENGTH},{'o' * MAX_ID_LENGTH},2026-01-10,100,,",
    ],
)
def test_order_row_at_a_bound_is_read(tmp_path: Path, row: str) -> None:
    events, report = _orders(tmp_path, row)
    assert report.problems == []
    assert len(events) == 1


def test_row_with_longest_ids_gets_a_stable_event_id_within_the_id_bound(tmp_path: Path) -> None:
    """The CSV event id embeds the order id; with a 200-character order id it would pass
    the bound, so it is replaced by a digest (same row, same id: duplicates still match)."""
    row = f"{'c' * MAX_ID_LENGTH},{'o' * MAX_ID_LENGTH},2026-01-10,100,refund,"
    first, _ = _orders(tmp_path, row)
    again, _ = _orders(tmp_path, row)
    assert [event.event_id for event in first] == [event.event_id for event in again]
    assert len(first[0].event_id) <= MAX_ID_LENGTH


def test_feedback_row_with_a_long_customer_id_names_the_id_not_the_score(tmp_path: Path) -> None:
    path = tmp_path / "feedback.csv"
    path.write_text(FEEDBACK_HEADER + f"{LONG_ID},2026-01-10,csat,3\n", encoding="utf-8")
    report = CsvReport(path)
    assert list(read_feedback(path, report)) == []
    assert report.problems == [RowProblem(2, "customer_id longer than 200 characters")]


def test_feedback_row_in_year_9999_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "feedback.csv"
    path.write_text(FEEDBACK_HEADER + "c1,9999-01-01,csat,3\n", encoding="utf-8")
    report = CsvReport(path)
    assert list(read_feedback(path, report)) == []
    assert report.problems[0].line == 2
    assert "occurred_at" in report.problems[0].reason


@pytest.mark.parametrize(
    "row",
    [
        "c1,o1,2026-01-10,0,purchase,",
        "c1,o1,2026-01-10,0.00,purchase,0",
        "c1,o1,2026-01-10,0,refund,",
    ],
)
def test_order_row_with_a_zero_amount_is_read_as_an_event(tmp_path: Path, row: str) -> None:
    """A free sample or fully discounted order is a purchase (DESIGN.md, Events); a zero
    refund changes nothing but is not unusable either."""
    events, report = _orders(tmp_path, row)
    assert report.problems == []
    assert [event.amount for event in events] == [0]


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        ("c1,o1,2026-01-10,-0.01,purchase,", "negative amount"),
        ("c1,o1,2026-01-10,12.50€,purchase,", "unparseable amount"),
        ("c1,o1,2026-01-10,,purchase,", "missing amount"),
    ],
)
def test_order_row_with_a_negative_or_unparseable_amount_is_skipped_with_its_reason(
    tmp_path: Path, row: str, reason: str
) -> None:
    events, report = _orders(tmp_path, row)
    assert events == []
    assert report.problems == [RowProblem(2, reason)]
