"""Find the customers whose rank-derived class changes when the population's cut points move.

A class such as "ABC class given monetary" or "M score given monetary" is a monotone step
function of one value (non-decreasing or non-increasing). Between an old and a new population,
the customers whose class changes are those in the value intervals where the two step
functions disagree.

`StepClass` remembers every value it evaluated the class at. By monotonicity, a value lying
between two remembered values of equal class has that class too, so it is answered without
an evaluation. Its `runs` over customers sorted by value locates each step of the function
between two adjacent customers by bisection: O(steps × log n) evaluations the first time, and
almost none when the same function is asked again over slightly different customers — which
is what happens at the next boundary, where the population that was "after" is "before".
Customers then change class exactly where the two functions' runs disagree.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Hashable, Sequence
from typing import Any, Protocol

__all__ = ["SortedSequence", "StepClass", "changed_positions", "changed_ranges"]

# Values only need to be ordered (numbers, instants); the class functions read them.
ClassOf = Callable[[Any], Hashable]
# A run of constant class over sorted positions: (first position, class).
Run = tuple[int, Hashable]


class SortedSequence(Protocol):
    """Values in ascending order, with bisection by value."""

    def __len__(self) -> int: ...

    def __getitem__(self, position: int) -> Any: ...

    def bisect_left(self, value: Any) -> int:
        """Number of entries strictly below `value`."""
        ...

    def bisect_right(self, value: Any) -> int:
        """Number of entries at or below `value`."""
        ...


class _SortedList:
    """A plain ascending sequence seen as a `SortedSequence`."""

    def __init__(self, values: Sequence[Any]) -> None:
        self._values = values

    def __len__(self) -> int:
        return len(self._values)

    def __getitem__(self, position: int) -> Any:
        return self._values[position]

    def bisect_left(self, value: Any) -> int:
        return bisect.bisect_left(self._values, value)

    def bisect_right(self, value: Any) -> int:
        return bisect.bisect_right(self._values, value)


class StepClass:
    """A monotone step function of one value, evaluated lazily and remembered.

    `evaluations` counts the calls of the wrapped function (for tests and profiling).
    """

    def __init__(self, class_of: ClassOf) -> None:
        self._class_of = class_of
        # Values evaluated so far, ascending, and their classes.
        self._points: list[Any] = []
        self._classes: list[Hashable] = []
        self.evaluations = 0

    def __call__(self, value: Any) -> Hashable:
        points, classes = self._points, self._classes
        index = bisect.bisect_left(points, value)
        if index < len(points):
            if points[index] == value:
                return classes[index]
            if index > 0 and classes[index - 1] == classes[index]:
                # Between two values of equal class: monotone, so the same class.
                return classes[index]
        return self._evaluate(index, value)

    def _evaluate(self, index: int, value: Any) -> Hashable:
        self.evaluations += 1
        found = self._class_of(value)
        self._points.insert(index, value)
        self._classes.insert(index, found)
        return found

    def runs(self, values: SortedSequence) -> list[Run]:
        """The runs of constant class over `values`, by first position, ascending.

        Between two adjacent remembered values of different class, the customers strictly
        inside are bisected (evaluating the middle one) until none is left inside; the run
        then starts at the first customer at or above the upper value.
        """
        count = len(values)
        if count == 0:
            return []
        first_class = self(values[0])
        self(values[count - 1])
        points, classes = self._points, self._classes
        # Gaps of different class within [first value, last value]: the ends are remembered
        # or lie between remembered values of equal class, so no other gap holds a customer.
        low = bisect.bisect_left(points, values[0])
        high = bisect.bisect_right(points, values[count - 1])
        # Each pending gap: (below, its class, above, its class, customers strictly inside as
        # positions [first, end)); a gap found by a split inherits one bound from its parent.
        pending = [
            (
                points[index],
                classes[index],
                points[index + 1],
                classes[index + 1],
                values.bisect_right(points[index]),
                values.bisect_left(points[index + 1]),
            )
            for index in range(low, high - 1)
            if classes[index] != classes[index + 1]
        ]
        steps: list[tuple[int, Any, Hashable]] = []
        while pending:
            below, below_class, above, above_class, first, end = pending.pop()
            if first >= end:
                steps.append((first, above, above_class))
                continue
            middle = values[(first + end) // 2]
            middle_class = self._evaluate(bisect.bisect_left(points, middle), middle)
            if middle_class != below_class:
                middle_first = values.bisect_left(middle)
                pending.append((below, below_class, middle, middle_class, first, middle_first))
            if middle_class != above_class:
                middle_end = values.bisect_right(middle)
                pending.append((middle, middle_class, above, above_class, middle_end, end))
        # Several empty gaps can end at the same position: the highest one's class holds there.
        steps.sort(key=lambda step: (step[0], step[1]))
        runs: list[Run] = [(0, first_class)]
        for position, _, step_class in steps:
            if runs[-1][0] == position:
                runs[-1] = (position, step_class)
            else:
                runs.append((position, step_class))
        return runs


def changed_ranges(before: list[Run], after: list[Run], count: int) -> list[tuple[int, int]]:
    """Half-open position ranges [start, end) of `count` sorted values where the runs of
    `before` and `after` have different classes, ascending and not adjacent."""
    if count == 0:
        return []
    starts = sorted({position for position, _ in before} | {position for position, _ in after})
    ranges: list[tuple[int, int]] = []
    before_index = after_index = 0
    for number, start in enumerate(starts):
        while before_index + 1 < len(before) and before[before_index + 1][0] <= start:
            before_index += 1
        while after_index + 1 < len(after) and after[after_index + 1][0] <= start:
            after_index += 1
        if before[before_index][1] == after[after_index][1]:
            continue
        end = starts[number + 1] if number + 1 < len(starts) else count
        if ranges and ranges[-1][1] == start:
            ranges[-1] = (ranges[-1][0], end)
        else:
            ranges.append((start, end))
    return ranges


def changed_positions(values: Sequence[Any], before: ClassOf, after: ClassOf) -> list[int]:
    """Positions i (values sorted ascending) where before(values[i]) != after(values[i]).

    Both functions must be monotone step functions of the value (non-decreasing or
    non-increasing). Pass `StepClass` instances to keep their evaluations for a later sweep.
    """
    ordered = _SortedList(values)
    before_steps = before if isinstance(before, StepClass) else StepClass(before)
    after_steps = after if isinstance(after, StepClass) else StepClass(after)
    ranges = changed_ranges(before_steps.runs(ordered), after_steps.runs(ordered), len(ordered))
    return [position for start, end in ranges for position in range(start, end)]
