"""Who manages which customer: the compacted `customers` topic, held in memory.

Every notifier replica reads the whole topic (no consumer group: each needs every key) from
the beginning, up to the end it saw at start-up, before it consumes any TierChanged, so the
first alerts already route by profile; then it keeps following. A tombstone (null value)
is an erase request: the profile is dropped (and the read model entry, via `on_erase`).
A tombstone whose key is missing or not UTF-8 names no customer: counted `invalid`.

When applying a record raises, every partition of the batch is sought back to its first
record not applied, so the follower's restart (`streams.notifier.service`) applies it
again: an erase that met a Redis error is retried, not lost.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from schemas.profile import AccountManager, CustomerProfile
from streams.metrics import NotifierMetrics

if TYPE_CHECKING:
    from aiokafka import AIOKafkaConsumer, ConsumerRecord

__all__ = ["ProfileDirectory"]

log = logging.getLogger(__name__)


class ProfileDirectory:
    """customer_id -> account manager, from the `customers` topic."""

    def __init__(
        self,
        topic: str,
        metrics: NotifierMetrics,
        on_erase: Callable[[str], Awaitable[object]] | None = None,
    ) -> None:
        self.topic = topic
        self.managers: dict[str, AccountManager] = {}
        # Erased customer -> timestamp (ms) of its latest tombstone: TierChanged records
        # written before it are not applied (the notifier may read them after the erase).
        self.erased_at: dict[str, int] = {}
        self._metrics = metrics
        self._on_erase = on_erase

    def erased_after(self, customer_id: str, timestamp: int) -> bool:
        """Whether a record of `customer_id` written at `timestamp` (ms) predates its erase."""
        erased = self.erased_at.get(customer_id)
        return erased is not None and timestamp <= erased

    async def apply(self, key: bytes | None, value: bytes | None, timestamp: int = 0) -> None:
        """Apply one record of the topic (a profile, or a tombstone for `key`, written at
        `timestamp`, ms since the epoch)."""
        if value is None:
            try:
                customer_id = key.decode() if key is not None else None
            except UnicodeDecodeError:
                customer_id = None
            if customer_id is None:
                self._metrics.records.labels(topic=self.topic, outcome="invalid").inc()
                log.warning("skipped a customers tombstone without a UTF-8 key")
                return
            self.managers.pop(customer_id, None)
            self.erased_at[customer_id] = max(timestamp, self.erased_at.get(customer_id, 0))
            if self._on_erase is not None:
                await self._on_erase(customer_id)
            self._metrics.records.labels(topic=self.topic, outcome="erased").inc()
            return
        try:
            profile = CustomerProfile.model_validate_json(value)
        except ValidationError:
            self._metrics.records.labels(topic=self.topic, outcome="invalid").inc()
            log.warning("skipped an invalid CustomerProfile record")
            return
        self.managers[profile.customer_id] = profile.account_manager
        self._metrics.records.labels(topic=self.topic, outcome="profile").inc()

    async def _apply_batch(
        self, consumer: AIOKafkaConsumer, batch: dict[Any, list[ConsumerRecord[bytes, bytes]]]
    ) -> None:
        todo = [(tp, list(records)) for tp, records in batch.items() if records]
        for index, (tp, records) in enumerate(todo):
            for record in records:
                try:
                    await self.apply(record.key, record.value, record.timestamp)
                except BaseException:
                    # Re-read from here (and the partitions not started) on the next getmany.
                    consumer.seek(tp, record.offset)
                    for other, rest in todo[index + 1 :]:
                        consumer.seek(other, rest[0].offset)
                    raise

    async def load(self, consumer: AIOKafkaConsumer, timeout: float = 120.0) -> None:
        """Read from the beginning up to the end offsets seen now (consumer already assigned)."""
        assignment = consumer.assignment()
        ends = await consumer.end_offsets(list(assignment))
        await consumer.seek_to_beginning(*assignment)
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            behind = [tp for tp in assignment if await consumer.position(tp) < ends[tp]]
            if not behind:
                return
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(f"customers topic not read to its end within {timeout:g}s")
            batch = await consumer.getmany(timeout_ms=500)
            await self._apply_batch(consumer, batch)

    async def follow(
        self, consumer: AIOKafkaConsumer, on_round: Callable[[], None] = lambda: None
    ) -> None:
        """Keep applying new records until cancelled; `on_round` after each poll applied."""
        while True:
            batch = await consumer.getmany(timeout_ms=1000)
            await self._apply_batch(consumer, batch)
            on_round()
