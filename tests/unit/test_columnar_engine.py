"""The columnar engine (`streams.batch`) equals the fold (`tiering.score_history`) on every
customer and every output cell, on generated messy histories and small random ones."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from streams.batch import score_files
from streams.cli.score import parse_as_of
from streams.data.history import FEEDBACK_HEADER, ORDER_HEADER, generate_history, write_csv
from tests.unit.cdnow import PUBLISHED_MODEL
from tests.unit.fold_reference import fold_rows
from tiering import Basis, Policy, default_policy
from tiering.value import parse_model

AS_OF = parse_as_of("2026-06-15")
REVENUE = default_policy()
MARGIN = REVENUE.model_copy(update={"basis": Basis.MARGIN})
DAY_MODEL = json.dumps({**PUBLISHED_MODEL, "time_unit": "day"})


def columnar_rows(
    orders: Path, feedback: Path | None, policy: Policy, as_of: datetime, model: Path | None
) -> list[list[str]]:
    """The engine's frame printed as the score CSV prints it."""
    scored = score_files(
        orders,
        as_of,
        feedback=feedback,
        policy=policy,
        value_model=None if model is None else parse_model(model.read_text()),
    )
    return [
        ["" if cell is None else str(cell) for cell in row] for row in scored.customers.iter_rows()
    ]


def first_differences(ours: list[list[str]], theirs: list[list[str]]) -> list[object]:
    """Up to five differing rows, side by side (empty when equal)."""
    if [row[0] for row in ours] != [row[0] for row in theirs]:
        return ["customer lists differ", len(ours), len(theirs)]
    return [(a, b) for a, b in zip(ours, theirs, strict=True) if a != b][:5]


@pytest.fixture(scope="module")
def messy_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    directory = tmp_path_factory.mktemp("messy")
    history = generate_history(4_000, 40_000, seed=23)
    orders = write_csv(directory / "orders.csv", ORDER_HEADER, history.orders)
    feedback = write_csv(directory / "feedback.csv", FEEDBACK_HEADER, history.feedback)
    model = directory / "model.json"
    model.write_text(DAY_MODEL)
    return orders, feedback, model


@pytest.mark.parametrize("policy", [REVENUE, MARGIN], ids=["revenue", "margin"])
def test_every_cell_of_every_customer_of_a_messy_history_equals_the_fold(
    policy: Policy, messy_files: tuple[Path, Path, Path]
) -> None:
    orders, feedback, model = messy_files
    ours = columnar_rows(orders, feedback, policy, AS_OF, model)
    theirs = fold_rows(orders, feedback, policy, AS_OF, model)
    assert len(ours) > 3_000
    assert first_differences(ours, theirs) == []


def test_a_messy_history_scored_long_after_its_end_equals_the_fold(
    messy_files: tuple[Path, Path, Path],
) -> None:
    """Late as_of: most customers churned, windows nearly empty."""
    orders, feedback, _ = messy_files
    as_of = datetime(2027, 3, 1, tzinfo=UTC)
    ours = columnar_rows(orders, feedback, REVENUE, as_of, None)
    assert first_differences(ours, fold_rows(orders, feedback, REVENUE, as_of)) == []
