"""A partition's active customers kept sorted by each ranked value, for the cut sweep.

The sweep (streams.pipeline.cut_sweep) bisects customers sorted by monetary, frequency and
last purchase. Sorting every active customer at every boundary was the largest single cost
of ranking (py-spy: 14 % of the in-process pipeline); kept sorted as measurements arrive, a
boundary costs O(changed customers × log n) upkeep instead of O(n log n).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, overload

from sortedcontainers import SortedList

from tiering import Measurement

__all__ = ["RANKED_VALUES", "SortedValues", "ValueFunction", "ValueIndex"]

# A value of an active measurement to keep customers sorted by; None leaves the customer
# out of that one index.
ValueFunction = Callable[[Measurement], Any]

# Each ranked value of an active measurement: monetary, frequency, last purchase instant.
RANKED_VALUES: tuple[tuple[str, ValueFunction], ...] = (
    ("monetary", lambda m: float(m.monetary)),
    ("frequency", lambda m: float(m.frequency)),
    ("last_purchase", lambda m: m.last_purchase_at),
)


class SortedValues(Sequence[Any]):
    """The values of one index in ascending order (ties by customer id), read-only."""

    def __init__(self, entries: SortedList) -> None:
        self._entries = entries

    def __len__(self) -> int:
        return len(self._entries)

    @overload
    def __getitem__(self, position: int) -> Any: ...
    @overload
    def __getitem__(self, position: slice) -> list[Any]: ...
    def __getitem__(self, position: int | slice) -> Any:
        if isinstance(position, slice):
            return [value for value, _ in self._entries[position]]
        return self._entries[position][0]

    def customer_at(self, position: int) -> str:
        """The customer id at a position."""
        customer_id: str = self._entries[position][1]
        return customer_id

    def customers_between(self, start: int, end: int) -> list[str]:
        """The customer ids at positions start ≤ i < end."""
        return [customer_id for _, customer_id in self._entries.islice(start, end)]

    def bisect_left(self, value: Any) -> int:
        """Number of entries whose value is strictly below `value`."""
        # (value,) sorts before every (value, customer id).
        position: int = self._entries.bisect_left((value,))
        return position

    def bisect_right(self, value: Any) -> int:
        """Number of entries whose value is at or below `value`."""
        position: int = self._entries.bisect_right((value, _ABOVE_EVERY_ID))
        return position


class _AboveEveryId:
    """Sorts after every customer id, so (value, this) follows every entry of that value."""

    def __eq__(self, other: object) -> bool:
        return other is self

    def __hash__(self) -> int:
        return 0

    def __lt__(self, other: object) -> bool:
        return False

    def __gt__(self, other: object) -> bool:
        return other is not self


_ABOVE_EVERY_ID = _AboveEveryId()


class ValueIndex:
    """Active customers sorted by each ranked value (and by any `extra` value, such as the
    rising-star projection); inactive ones are in no index."""

    def __init__(self, extra: tuple[tuple[str, ValueFunction], ...] = ()) -> None:
        self._values = (*RANKED_VALUES, *extra)
        self._entries = {name: SortedList() for name, _ in self._values}

    @property
    def names(self) -> tuple[str, ...]:
        """The indexed values' names."""
        return tuple(name for name, _ in self._values)

    def replace(self, old: Measurement | None, new: Measurement) -> None:
        """A customer's latest measurement changes from `old` to `new`."""
        if old is not None:
            self.remove(old)
        if _indexed(new):
            for name, value_of in self._values:
                value = value_of(new)
                if value is not None:
                    self._entries[name].add((value, new.customer_id))

    def remove(self, old: Measurement) -> None:
        """A customer leaves the index (erased) with its latest measurement `old`."""
        if _indexed(old):
            for name, value_of in self._values:
                value = value_of(old)
                if value is not None:
                    self._entries[name].discard((value, old.customer_id))

    def values(self, name: str) -> SortedValues:
        """The index of one ranked value."""
        return SortedValues(self._entries[name])


def _indexed(measurement: Measurement) -> bool:
    return measurement.active and measurement.last_purchase_at is not None
