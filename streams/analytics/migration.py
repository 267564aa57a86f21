"""Migration matrix: how customers and revenue moved between tiers from one scoring to another.

The two scorings are either two policies on the same history (`--policy A --policy B`) or two
as_of instants under one policy (`--as-of D1 --as-of D2`). Customers are matched by
customer_id. A customer's state in a scoring is its tier, or `none` when it is not a customer
there: not in that scoring's output, or without any purchase up to its as_of (recency_days
empty). The score output lists every customer of the files, with tier C, even one whose first
purchase comes after as_of; without `none`, customers won between two dates would look like
customers staying in C. Every customer of either scoring is counted in exactly one cell.

For the cell (from, to): `customers` = number of customers in state `from` in the first
scoring and `to` in the second; `from_revenue` = sum of their monetary in the first scoring,
`to_revenue` = sum of their monetary in the second (0 where not in the output). Revenue is
the monetary column: net spend in the window, or margin under a margin-basis policy.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import IO

from streams.analytics.scored import ScoredCustomer

__all__ = ["DEFAULT_TIERS", "MATRIX_COLUMNS", "NONE", "MigrationCell", "MigrationMatrix", "migrate"]

NONE = "none"
DEFAULT_TIERS: tuple[str, ...] = ("A", "B", "C")
"""The default policy's tier names, highest first."""
MATRIX_COLUMNS = ("from_tier", "to_tier", "customers", "from_revenue", "to_revenue")


@dataclass
class MigrationCell:
    """Customers that went from one state to another, and their revenue on each side."""

    customers: int = 0
    from_revenue: Decimal = Decimal(0)
    to_revenue: Decimal = Decimal(0)


@dataclass
class MigrationMatrix:
    """Cells for every (from, to) pair of `states`, in that order: the policies' tier
    names from highest to lowest (both scorings' tiers when two policies are compared), then
    `none`."""

    first_label: str
    second_label: str
    tiers: tuple[str, ...] = DEFAULT_TIERS
    cells: dict[tuple[str, str], MigrationCell] = field(default_factory=dict)

    @property
    def states(self) -> tuple[str, ...]:
        """Row and column order: tiers from highest to lowest, then `none`."""
        return (*self.tiers, NONE)

    def _rank(self, state: str) -> int:
        """Tier rank (0 = highest); `none` ranks below every tier."""
        return self.states.index(state)

    def __post_init__(self) -> None:
        STATES = self.states
        for source in STATES:
            for target in STATES:
                self.cells.setdefault((source, target), MigrationCell())

    def cell(self, source: str, target: str) -> MigrationCell:
        """The cell of customers that were `source` first and `target` second."""
        return self.cells[(source, target)]

    def customers_from(self, source: str) -> int:
        """Customers in `source` in the first scoring (row total)."""
        return sum(self.cells[(source, target)].customers for target in self.states)

    def customers_to(self, target: str) -> int:
        """Customers in `target` in the second scoring (column total)."""
        return sum(self.cells[(source, target)].customers for source in self.states)

    @property
    def stayed(self) -> int:
        """Customers with the same state in both scorings (`none` → `none` included: a
        customer of the files that had not bought yet at either as_of)."""
        return sum(self.cells[(state, state)].customers for state in self.states)

    @property
    def upgrades(self) -> int:
        """Customers whose tier rose, between tiers (a customer won is not counted)."""
        return sum(
            cell.customers
            for (source, target), cell in self.cells.items()
            if NONE not in (source, target) and self._rank(target) < self._rank(source)
        )

    @property
    def downgrades(self) -> int:
        """Customers whose tier fell, between tiers (a customer lost is not counted)."""
        return sum(
            cell.customers
            for (source, target), cell in self.cells.items()
            if NONE not in (source, target) and self._rank(target) > self._rank(source)
        )

    def rows(self) -> list[tuple[str, str, int, Decimal, Decimal]]:
        """One row per (from, to) pair in STATES order, empty cells included (long form)."""
        return [
            (source, target, cell.customers, cell.from_revenue, cell.to_revenue)
            for source in self.states
            for target in self.states
            for cell in (self.cells[(source, target)],)
        ]

    def write_csv(self, out: IO[str]) -> None:
        """Header MATRIX_COLUMNS, then `rows()`; revenue as exact decimals."""
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(MATRIX_COLUMNS)
        for source, target, customers, from_revenue, to_revenue in self.rows():
            writer.writerow([source, target, customers, from_revenue, to_revenue])


def _state(customer: ScoredCustomer | None) -> str:
    if customer is None or customer.recency_days is None:
        return NONE
    return customer.tier


def migrate(
    first: Iterable[ScoredCustomer],
    second: Iterable[ScoredCustomer],
    first_label: str = "first",
    second_label: str = "second",
    tiers: Sequence[str] = DEFAULT_TIERS,
) -> MigrationMatrix:
    """The migration matrix from the `first` scoring to the `second` (see the module doc);
    `tiers`: every tier name either scoring may give, highest first."""
    before = {customer.customer_id: customer for customer in first}
    after = {customer.customer_id: customer for customer in second}
    matrix = MigrationMatrix(first_label, second_label, tuple(tiers))
    for customer_id in before.keys() | after.keys():
        old, new = before.get(customer_id), after.get(customer_id)
        cell = matrix.cell(_state(old), _state(new))
        cell.customers += 1
        cell.from_revenue += Decimal(0) if old is None else old.monetary
        cell.to_revenue += Decimal(0) if new is None else new.monetary
    return matrix
