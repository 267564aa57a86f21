"""Who manages which customer: the compacted `customers` topic, held in memory.

Every notifier replica reads the whole topic (no consumer group: each needs every key) from
the beginning, up to the end it saw at start-up, before it consumes any TierChanged, so the
first alerts already route by profile; then it keeps following. A tombstone (null value)
is an erase request: the profile is dropped (and the read model entry, via `on_erase`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

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
        self._metrics = metrics
        self._on_erase = on_erase

    async def apply(self, key: bytes | None, value: bytes | None) -> None:
        """Apply one record of the topic (a profile, or a tombstone for `key`)."""
        if value is None:
            if key is None:
                self._metrics.records.labels(topic=self.topic, outcome="invalid").inc()
                return
            customer_id = key.decode()
            self.managers.pop(customer_id, None)
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

    async def _apply_records(self, records: list[ConsumerRecord[bytes, bytes]]) -> None:
        for record in records:
            await self.apply(record.key, record.value)

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
            for records in batch.values():
                await self._apply_records(records)

    async def follow(self, consumer: AIOKafkaConsumer) -> None:
        """Keep applying new records until cancelled."""
        while True:
            batch = await consumer.getmany(timeout_ms=1000)
            for records in batch.values():
                await self._apply_records(records)
