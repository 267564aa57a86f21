"""Consumer lag of the worker's group, read from the broker (what lag exporters and KEDA do).

End offsets come from a plain consumer (no group; under exactly_once `read_committed`, so
the end is the last stable offset), committed offsets from the admin API. Reading them from
the broker instead of Faust's consumer internals keeps the figure the same one that
`kafka-consumer-groups --describe` prints.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["LagReader", "Offsets"]

Partition = tuple[str, int]


@dataclass(frozen=True)
class Offsets:
    """End, committed (None: nothing committed) and first offsets of some partitions."""

    ends: dict[Partition, int]
    committed: dict[Partition, int | None]
    beginnings: dict[Partition, int]


class LagReader:
    """Reads offsets for one consumer group; `start` before use, `stop` after."""

    def __init__(
        self,
        bootstrap: str,
        group_id: str,
        *,
        read_committed: bool,
        client_options: Mapping[str, Any] | None = None,
    ) -> None:
        from aiokafka import AIOKafkaConsumer
        from aiokafka.admin import AIOKafkaAdminClient

        self._group_id = group_id
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap,
            enable_auto_commit=False,
            isolation_level="read_committed" if read_committed else "read_uncommitted",
            **(client_options or {}),
        )
        self._admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, **(client_options or {}))

    async def start(self) -> None:
        """Connect both clients."""
        await self._consumer.start()
        await self._admin.start()

    async def stop(self) -> None:
        """Close both clients."""
        await self._consumer.stop()
        await self._admin.close()

    async def read(self, partitions: Sequence[Partition]) -> Offsets:
        """The offsets of `partitions` (an empty sequence gives empty maps)."""
        from aiokafka import TopicPartition

        if not partitions:
            return Offsets({}, {}, {})
        tps = [TopicPartition(topic, partition) for topic, partition in partitions]
        ends = await self._consumer.end_offsets(tps)
        beginnings = await self._consumer.beginning_offsets(tps)
        committed = await self._admin.list_consumer_group_offsets(self._group_id, partitions=tps)
        return Offsets(
            ends={(tp.topic, tp.partition): offset for tp, offset in ends.items()},
            committed={
                (tp.topic, tp.partition): (
                    committed[tp].offset if tp in committed and committed[tp].offset >= 0 else None
                )
                for tp in tps
            },
            beginnings={(tp.topic, tp.partition): offset for tp, offset in beginnings.items()},
        )
