"""Event-time merge of a partition's input topics (orders and feedback).

Kafka orders records within one topic-partition, never across topics, and Faust delivers
two topics' partitions in whatever order its fetches return. Stream time must not depend on
that: an order at noon must not close the day's boundary while the feedback partition still
holds a record from ten o'clock. So each input's progress is tracked separately (its high
water: the latest event time or watermark seen on it) and items are released in event-time
order only up to the merged time, the minimum over all inputs. An input that has delivered
nothing yet holds the merge back; watermarks (from `tierstream replay`) or the wall clock
move idle inputs. Pure bookkeeping: no Kafka, no clock.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Generic, TypeVar

__all__ = ["InputMerge"]

Item = TypeVar("Item")


class InputMerge(Generic[Item]):
    """Buffers items from several ordered inputs and releases them in event-time order."""

    def __init__(self, inputs: Sequence[str]) -> None:
        if not inputs:
            raise ValueError("a merge needs at least one input")
        self._rank = {name: index for index, name in enumerate(inputs)}
        self._high_water: dict[str, datetime] = {}
        self._heap: list[tuple[datetime, int, int, Item]] = []
        self._sequence = itertools.count()

    @property
    def merged_time(self) -> datetime | None:
        """The instant up to which every input has delivered (None until each has spoken)."""
        if len(self._high_water) < len(self._rank):
            return None
        return min(self._high_water.values())

    @property
    def high_water(self) -> dict[str, datetime]:
        """Each input's latest observed instant (for checkpoints)."""
        return dict(self._high_water)

    def __len__(self) -> int:
        return len(self._heap)

    def observe(self, source: str, instant: datetime) -> None:
        """An input has reached `instant` (an event's time or a watermark); never moves back."""
        self._check(source)
        current = self._high_water.get(source)
        if current is None or instant > current:
            self._high_water[source] = instant

    def offer(self, source: str, instant: datetime, item: Item) -> None:
        """Buffer `item` of `source` at event time `instant`; the input has reached it."""
        self.observe(source, instant)
        self.hold(source, instant, item)

    def hold(self, source: str, instant: datetime, item: Item) -> None:
        """Buffer `item` of `source` at event time `instant` without moving the input's high
        water: for an input whose progress is reported apart from its items (a repartitioned
        input, whose records of several source partitions arrive interleaved)."""
        self._check(source)
        heapq.heappush(self._heap, (instant, self._rank[source], next(self._sequence), item))

    def release(self) -> list[Item]:
        """Items at or before the merged time, in (time, input, arrival) order.

        Ties between inputs are broken by the input's position, never by arrival, so that
        the released order depends on the events alone.
        """
        merged = self.merged_time
        released: list[Item] = []
        while self._heap and merged is not None and self._heap[0][0] <= merged:
            released.append(heapq.heappop(self._heap)[3])
        return released

    def drop(self, unwanted: Callable[[Item], bool]) -> list[Item]:
        """Remove the buffered items `unwanted` selects (an erased customer's) and return
        them; the inputs' high waters stay (they describe the inputs, not the items).
        O(buffered items)."""
        kept = [entry for entry in self._heap if not unwanted(entry[3])]
        dropped = [entry[3] for entry in self._heap if unwanted(entry[3])]
        if dropped:
            heapq.heapify(kept)
            self._heap = kept
        return dropped

    def _check(self, source: str) -> None:
        if source not in self._rank:
            raise KeyError(f"unknown input {source!r}; expected one of {sorted(self._rank)}")
