"""The notifier's Kafka clients: topics at start-up, the profiles reader, dead letters.

A `tier-changes` record that is not a valid TierChanged goes to the dead-letter topic
(`TIERSTREAM_TOPICS__DEAD_LETTER`, default `tierstream-dlq`) as a `DeadLetter` with its
original bytes, its topic/partition/offset and the reason, the same letter the worker sends
(`streams.pipeline.decode`); its offset is committed only once the letter is acknowledged.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from schemas.tier_changed import TierChanged
from streams.kafka.security import client_options
from streams.pipeline.decode import RecordOrigin, decode
from streams.settings import Settings

if TYPE_CHECKING:
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord

__all__ = ["DeadLetterSender", "ensure_notifier_topics", "profiles_consumer", "security"]


def security(settings: Settings) -> dict[str, Any]:
    """The SASL/TLS options of every Kafka client."""
    return client_options(settings.kafka)


async def ensure_notifier_topics(settings: Settings) -> None:
    """Create `tier-changes`, the dead-letter topic and the compacted `customers` topic if
    they do not exist yet."""
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic
    from aiokafka.errors import TopicAlreadyExistsError

    from streams.kafka.admin import ensure_topics

    topics = settings.topics
    await ensure_topics(
        settings.kafka.bootstrap,
        [topics.tier_changes, topics.dead_letter],
        topics.partitions,
        topics.replication_factor,
        client_options=security(settings),
    )
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka.bootstrap, **security(settings))
    await admin.start()
    try:
        if topics.customers not in set(await admin.list_topics()):
            # Another replica may create it at the same moment.
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics(
                    [
                        NewTopic(
                            topics.customers,
                            topics.partitions,
                            topics.replication_factor,
                            topic_configs={"cleanup.policy": "compact"},
                        )
                    ]
                )
    finally:
        await admin.close()


async def profiles_consumer(settings: Settings, timeout: float = 30.0) -> AIOKafkaConsumer:
    """A started consumer of the whole `customers` topic (no group: every replica needs
    every profile), with its partitions assigned."""
    from aiokafka import AIOKafkaConsumer

    consumer = AIOKafkaConsumer(
        settings.topics.customers,
        bootstrap_servers=settings.kafka.bootstrap,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        isolation_level="read_committed",
        **security(settings),
    )
    await consumer.start()
    deadline = asyncio.get_running_loop().time() + timeout
    while not consumer.assignment():
        if asyncio.get_running_loop().time() > deadline:
            await consumer.stop()
            raise TimeoutError(
                f"no partitions of {settings.topics.customers} assigned within {timeout:g}s"
            )
        await asyncio.sleep(0.05)
    return consumer


class DeadLetterSender:
    """Decodes `tier-changes` records; sends the invalid ones to the dead-letter topic."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._producer: AIOKafkaProducer | None = None

    async def start(self) -> None:
        """Start the producer (acks=all, idempotent)."""
        from aiokafka import AIOKafkaProducer

        self._producer = AIOKafkaProducer(
            bootstrap_servers=self._settings.kafka.bootstrap,
            acks="all",
            enable_idempotence=True,
            **security(self._settings),
        )
        await self._producer.start()

    async def stop(self) -> None:
        """Flush and stop the producer."""
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None

    async def decode(
        self, partition: int, record: ConsumerRecord[bytes, bytes]
    ) -> tuple[TierChanged | None, str | None]:
        """The record's TierChanged, or (None, error type) once its dead letter is stored."""
        decoded = decode(
            TierChanged,
            record.key,
            record.value,
            RecordOrigin(self._settings.topics.tier_changes, partition, record.offset),
            datetime.now(UTC),
        )
        if decoded.event is not None:
            return decoded.event, None
        letter = decoded.dead_letter
        assert letter is not None and self._producer is not None
        await self._producer.send_and_wait(
            self._settings.topics.dead_letter,
            letter.model_dump_json().encode(),
            key=record.key,
        )
        return None, letter.error_type
