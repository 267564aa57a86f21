"""Find the customers whose rank-derived class changes when the population's cut points move.

A class such as "ABC class given monetary" or "M score given monetary" is a monotone step
function of one value. Between an old and a new population, the customers whose class
changes are those in the value intervals where the two step functions disagree. With the
customers sorted by value, bisection finds those intervals in O(k log n) class evaluations
(k = number of steps and changed runs) instead of evaluating all n customers.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from typing import Any

__all__ = ["changed_positions"]

# Values only need to be ordered (numbers, instants); the class functions read them.
ClassOf = Callable[[Any], Hashable]


def changed_positions(values: Sequence[Any], before: ClassOf, after: ClassOf) -> list[int]:
    """Positions i (values sorted ascending) where before(values[i]) != after(values[i]).

    Both functions must be monotone step functions of the value (non-decreasing or
    non-increasing): then a run whose two ends agree in each function is constant inside.
    """
    changed: list[int] = []
    pending = [(0, len(values) - 1)] if values else []
    while pending:
        low, high = pending.pop()
        low_before, high_before = before(values[low]), before(values[high])
        low_after, high_after = after(values[low]), after(values[high])
        if low_before == high_before and low_after == high_after:
            if low_before != low_after:
                changed.extend(range(low, high + 1))
            continue
        if high - low <= 1:
            changed.extend(
                position
                for position in (low, high)
                if before(values[position]) != after(values[position])
            )
            continue
        middle = (low + high) // 2
        pending.append((middle, high))
        pending.append((low, middle))
    return sorted(set(changed))
