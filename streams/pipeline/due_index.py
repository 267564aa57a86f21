"""Which customers are due for re-evaluation by time alone, without scanning every key.

A min-heap of (due instant, customer id) with lazy deletion: rescheduling a customer pushes a
new entry and remembers the latest instant; stale entries are skipped when popped. Rebuilt
from the table on partition assignment, so it needs no changelog of its own.
"""

from __future__ import annotations

import heapq
from datetime import datetime

__all__ = ["DueIndex"]


class DueIndex:
    """Due instants of one partition's customers; O(log n) schedule and pop."""

    def __init__(self) -> None:
        self._heap: list[tuple[datetime, str]] = []
        self._due_at: dict[str, datetime] = {}

    def __len__(self) -> int:
        return len(self._due_at)

    def schedule(self, customer_id: str, due_at: datetime | None) -> None:
        """Set (or, with None, clear) when a customer is next due."""
        if due_at is None:
            self._due_at.pop(customer_id, None)
            return
        if self._due_at.get(customer_id) == due_at:
            return
        self._due_at[customer_id] = due_at
        heapq.heappush(self._heap, (due_at, customer_id))

    def earliest(self) -> datetime | None:
        """The earliest due instant, or None when nobody is due (drops stale heap tops)."""
        while self._heap:
            due_at, customer_id = self._heap[0]
            if self._due_at.get(customer_id) == due_at:
                return due_at
            heapq.heappop(self._heap)
        return None

    def pop_due(self, until: datetime) -> list[str]:
        """Remove and return the customers due at or before `until`, earliest first."""
        due: list[str] = []
        while self._heap and self._heap[0][0] <= until:
            due_at, customer_id = heapq.heappop(self._heap)
            if self._due_at.get(customer_id) == due_at:
                del self._due_at[customer_id]
                due.append(customer_id)
        # Lazy deletion leaves stale entries; compact when they dominate the heap.
        if len(self._heap) > 2 * len(self._due_at) + 1024:
            self._heap = [(at, cid) for cid, at in self._due_at.items()]
            heapq.heapify(self._heap)
        return due
