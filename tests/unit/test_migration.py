"""The migration matrix on a small known example (streams/analytics/migration.py)."""

from __future__ import annotations

import csv
import io
from decimal import Decimal

from streams.analytics.migration import MATRIX_COLUMNS, NONE, MigrationMatrix, migrate
from streams.analytics.scored import ScoredCustomer

STATES = ("A", "B", "C", NONE)


def _customer(
    customer_id: str, tier: str, monetary: str, recency_days: int | None = 1
) -> ScoredCustomer:
    return ScoredCustomer(
        customer_id=customer_id,
        tier=str(tier),
        r_score=None,
        f_score=None,
        m_score=None,
        rfm_segment=None,
        lifecycle="mature",
        risk="ok",
        recency_days=recency_days,
        frequency=1,
        monetary=Decimal(monetary),
        p_alive=None,
        predicted_clv=None,
        rising_star=None,
    )


# first: a A 100, b B 50, c C 10, d C 5, f B 20       second: a B 80, b A 70, c C 12, e C 3, f B 25
FIRST = [
    _customer("a", "A", "100"),
    _customer("b", "B", "50"),
    _customer("c", "C", "10"),
    _customer("d", "C", "5"),
    _customer("f", "B", "20"),
]
SECOND = [
    _customer("a", "B", "80"),
    _customer("b", "A", "70"),
    _customer("c", "C", "12"),
    _customer("e", "C", "3"),
    _customer("f", "B", "25"),
]


def _matrix() -> MigrationMatrix:
    return migrate(FIRST, SECOND, "D1", "D2")


def test_cell_counts_customers_and_sums_revenue_on_each_side() -> None:
    matrix = _matrix()
    cells = {
        (source, target): (cell.customers, cell.from_revenue, cell.to_revenue)
        for (source, target), cell in matrix.cells.items()
        if cell.customers
    }
    assert cells == {
        ("A", "B"): (1, Decimal(100), Decimal(80)),
        ("B", "A"): (1, Decimal(50), Decimal(70)),
        ("B", "B"): (1, Decimal(20), Decimal(25)),
        ("C", "C"): (1, Decimal(10), Decimal(12)),
        ("C", NONE): (1, Decimal(5), Decimal(0)),
        (NONE, "C"): (1, Decimal(0), Decimal(3)),
    }


def test_row_and_column_totals_are_the_tier_counts_of_each_scoring() -> None:
    matrix = _matrix()
    assert [matrix.customers_from(state) for state in STATES] == [1, 2, 2, 1]
    assert [matrix.customers_to(state) for state in STATES] == [1, 2, 2, 1]


def test_moves_between_tiers_count_as_up_down_or_unchanged_and_absence_as_neither() -> None:
    matrix = _matrix()
    assert (matrix.upgrades, matrix.downgrades, matrix.stayed) == (1, 1, 2)


def test_revenue_totals_match_each_scoring() -> None:
    matrix = _matrix()
    assert sum(cell.from_revenue for cell in matrix.cells.values()) == Decimal(185)
    assert sum(cell.to_revenue for cell in matrix.cells.values()) == Decimal(190)


def test_csv_has_one_row_per_state_pair_in_state_order() -> None:
    out = io.StringIO()
    _matrix().write_csv(out)
    rows = list(csv.reader(io.StringIO(out.getvalue())))
    assert tuple(rows[0]) == MATRIX_COLUMNS
    assert [(row[0], row[1]) for row in rows[1:]] == [(s, t) for s in STATES for t in STATES]
    assert ["A", "B", "1", "100", "80"] in rows
    assert ["none", "none", "0", "0", "0"] in rows


def test_customer_without_a_purchase_yet_is_in_state_none_whatever_its_tier() -> None:
    """score lists a customer whose first purchase is after as_of, as tier C, monetary 0."""
    not_yet = _customer("g", "C", "0", recency_days=None)
    matrix = migrate([not_yet], [_customer("g", "B", "40")])
    assert (matrix.cell(NONE, "B").customers, matrix.cell("C", "B").customers) == (1, 0)


def test_same_scoring_twice_keeps_everyone_on_the_diagonal() -> None:
    matrix = migrate(FIRST, FIRST)
    assert matrix.stayed == len(FIRST)
    assert (matrix.upgrades, matrix.downgrades) == (0, 0)
