"""The `customers` topic into the worker's `profiles` table: each customer's latest profile.

The table (key customer_id) is co-partitioned with the inputs, so stage 2 of partition p
finds the account managers of its customers locally. What a record does (store, erase on a
tombstone, or reject) is decided by streams.pipeline.profile_stage; this module applies it.
The manager is personal data: nothing here logs it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from schemas.dead_letter import DeadLetter
from streams.metrics import WorkerMetrics
from streams.pipeline.decode import RecordOrigin
from streams.pipeline.profile_stage import EraseProfile, StoreProfile, read_profile_record
from streams.worker.dead_letters import DeadLetters

__all__ = ["ProfileUpdates"]


class ProfileUpdates:
    """Records of the customers topic applied to the `profiles` table."""

    def __init__(
        self,
        profiles: Any,
        dead_letters: DeadLetters,
        metrics: WorkerMetrics,
        on_erase: Callable[[Any, str], Awaitable[None]] | None = None,
        on_store: Callable[[Any, str], Awaitable[None]] | None = None,
    ) -> None:
        """`on_erase(event, customer_id)`: erase the customer from the stages too (called
        under the fence lock, with the tombstone's event, after the profile is gone);
        `on_store(event, customer_id)`: likewise after a profile is stored (a ranking group
        may have changed)."""
        self._profiles = profiles
        self._dead_letters = dead_letters
        self._metrics = metrics
        self._on_erase = on_erase
        self._on_store = on_store

    async def apply(self, event: Any) -> None:
        """Store or erase one customer's profile (the manager in it is never logged); an
        erase also erases the customer from the stages (`on_erase`)."""
        message = event.message
        origin = RecordOrigin(message.topic, message.partition, message.offset)
        change = read_profile_record(message.key, message.value, origin, datetime.now(UTC))
        if isinstance(change, DeadLetter):
            await self._dead_letters.send(change, message)
            return
        if isinstance(change, StoreProfile):
            self._profiles[change.key] = change.profile
            if self._on_store is not None:
                await self._on_store(event, change.key.decode("utf-8", "replace"))
        elif isinstance(change, EraseProfile):
            if change.key in self._profiles:
                del self._profiles[change.key]
            if self._on_erase is not None:
                await self._on_erase(event, change.key.decode("utf-8", "replace"))
        self._metrics.events_consumed.labels(topic=message.topic, outcome="applied").inc()
