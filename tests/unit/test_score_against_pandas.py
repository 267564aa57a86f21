"""`tierstream score` agrees with an independent pandas computation on a messy history.

The history (generated, seed fixed) has ≥ 10,000 customers, duplicate rows, refunds and
cancels, rows out of time order, ties, feedback, and unusable rows. Every output column must
be equal for every customer (money compared as exact decimals).
"""

from __future__ import annotations

import csv
from decimal import Decimal

import pytest

from streams.cli.main import main
from streams.cli.score import OUTPUT_COLUMNS, parse_as_of
from streams.data.history import FEEDBACK_HEADER, ORDER_HEADER, generate_history, write_csv
from tests.unit.pandas_reference import score as reference_score

# The pandas reference predates rising stars (the fold reference checks that column).
COLUMNS = tuple(c for c in OUTPUT_COLUMNS if c not in ("customer_id", "monetary", "rising_star"))


@pytest.fixture(scope="module")
def scored(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[list[dict[str, str]], dict[str, dict[str, str]]]:
    directory = tmp_path_factory.mktemp("history")
    history = generate_history(15_000, 150_000, seed=11)
    orders = write_csv(directory / "orders.csv", ORDER_HEADER, history.orders)
    feedback = write_csv(directory / "feedback.csv", FEEDBACK_HEADER, history.feedback)
    out = directory / "scored.csv"
    as_of = "2026-06-15"
    assert (
        main(
            ["score", str(orders), "--feedback", str(feedback), "--as-of", as_of, "--out", str(out)]
        )
        == 0
    )
    with out.open() as handle:
        ours = list(csv.DictReader(handle))
    reference = reference_score(orders, feedback, parse_as_of(as_of))
    theirs = {
        row["customer_id"]: {
            **{
                column: "" if str(row[column]) in ("<NA>", "nan", "None") else str(row[column])
                for column in COLUMNS
            },
            "monetary": str(row["monetary"]),
        }
        for row in reference.to_dict("records")
    }
    return ours, theirs


def test_history_is_large_and_messy_enough(
    scored: tuple[list[dict[str, str]], dict[str, dict[str, str]]],
) -> None:
    ours, _ = scored
    assert len(ours) >= 10_000
    tiers = {row["tier"] for row in ours}
    assert tiers == {"A", "B", "C"}
    assert {row["risk"] for row in ours} == {"ok", "at_risk", "churned"}


def test_same_customers_in_both(
    scored: tuple[list[dict[str, str]], dict[str, dict[str, str]]],
) -> None:
    ours, theirs = scored
    assert [row["customer_id"] for row in ours] == sorted(theirs)


@pytest.mark.parametrize("column", COLUMNS)
def test_every_customer_agrees_on(
    column: str, scored: tuple[list[dict[str, str]], dict[str, dict[str, str]]]
) -> None:
    ours, theirs = scored
    disagreements = [
        (row["customer_id"], row[column], theirs[row["customer_id"]][column])
        for row in ours
        if row[column] != theirs[row["customer_id"]][column]
    ]
    assert disagreements[:5] == []


def test_every_customer_agrees_on_monetary(
    scored: tuple[list[dict[str, str]], dict[str, dict[str, str]]],
) -> None:
    ours, theirs = scored
    disagreements = [
        row["customer_id"]
        for row in ours
        if Decimal(row["monetary"]) != Decimal(theirs[row["customer_id"]]["monetary"])
    ]
    assert disagreements[:5] == []
