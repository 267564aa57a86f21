"""Topic creation with the partition count the worker's co-partitioning needs."""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["ensure_topics"]


async def ensure_topics(
    bootstrap: str,
    names: Sequence[str],
    partitions: int,
    replication: int,
    config: dict[str, str] | None = None,
) -> None:
    """Create the topics that do not exist yet (with `config`, e.g. compaction); existing
    ones are left as they are."""
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
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
