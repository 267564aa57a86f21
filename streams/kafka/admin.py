"""Topic creation with the partition count the worker's co-partitioning needs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["ensure_topics", "ranked_through"]


async def ensure_topics(
    bootstrap: str,
    names: Sequence[str],
    partitions: int,
    replication: int,
    config: dict[str, str] | None = None,
    client_options: Mapping[str, Any] | None = None,
) -> None:
    """Create the topics that do not exist yet (with `config`, e.g. compaction); existing
    ones are left as they are."""
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, **(client_options or {}))
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [name for name in dict.fromkeys(names) if name not in existing]
        if missing:
            await admin.create_topics(
                [
                    NewTopic(name, partitions, replication, topic_configs=config or {})
                    for name in missing
                ]
            )
    finally:
        await admin.close()


async def ranked_through(bootstrap: str, app_id: str) -> dict[int, str]:
    """The last boundary each partition's rank stage committed (from the worker's checkpoint
    table), so a caller knows the stream has settled at a boundary (tests, bench)."""
    changelog = f"{app_id}-progress-changelog"
    from aiokafka import AIOKafkaConsumer

    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        isolation_level="read_committed",
        enable_auto_commit=False,
    )
    await consumer.start()
    # Subscribing to a missing topic would make the broker auto-create it with one
    # partition, before the worker creates it with the right count.
    if changelog not in await consumer.topics():
        await consumer.stop()
        return {}
    consumer.subscribe([changelog])
    ranked: dict[int, str] = {}
    try:
        while True:
            batches = await consumer.getmany(timeout_ms=1000, max_records=10_000)
            if not batches:
                return ranked
            for records in batches.values():
                for record in records:
                    if record.key and record.key.startswith(b"ranked-") and record.value:
                        ranked[int(record.key.removeprefix(b"ranked-"))] = record.value.decode()
    finally:
        await consumer.stop()
