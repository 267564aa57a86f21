"""The notifier process: `tier-changes` in, alerts out, offsets committed only when done.

One loop per process: poll a batch (read_committed, manual commits), and for each record
update the read model, decide, route, append to the Redis streams (exactly once) and queue
the alert for its manager's push channels. Then flush: each manager's token bucket lets one
message out at a time, an alert alone when the bucket can cover the queue, else a digest
of everything queued. A partition's committed offset never passes an alert that is still
queued or being delivered, so a crash re-reads exactly the undelivered ones.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections import defaultdict
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry
from pydantic import ValidationError

from schemas.tier_changed import TierChanged
from streams.access import Access
from streams.kafka.security import client_options
from streams.metrics import NotifierMetrics
from streams.notifier.channels import Channel, EmailChannel, WebhookChannel
from streams.notifier.delivery import Clock, Deliverer, PendingAlert, RedisStreams, SystemClock
from streams.notifier.keys import Keys, connect
from streams.notifier.pacing import Backoff, OffsetTracker, TokenBucket, plan_messages
from streams.notifier.profiles import ProfileDirectory
from streams.notifier.read_model import ReadModel
from streams.notifier.routing import UNROUTED, Recipient, RouteSource, route
from streams.notifier.rules import decide
from streams.settings import Settings
from tiering.policy import Policy

if TYPE_CHECKING:
    from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition

__all__ = ["Notifier", "build_channels"]

log = logging.getLogger(__name__)

_UNROUTED = "no account manager for the customer and no default owner configured"


def build_channels(settings: Settings, clock: Clock) -> list[Channel]:
    """The push channels the configuration enables."""
    channels: list[Channel] = []
    if settings.notifier.webhook.url:
        channels.append(WebhookChannel(settings.notifier.webhook, clock.time))
    if settings.notifier.email.host:
        channels.append(EmailChannel(settings.notifier.email))
    return channels


class Notifier:
    """Everything one notifier process runs; `run(stop)` until `stop` is set."""

    def __init__(
        self,
        settings: Settings,
        policy: Policy,
        registry: CollectorRegistry,
        clock: Clock | None = None,
    ) -> None:
        self.settings = settings
        self.policy = policy
        self.registry = registry
        self.metrics = NotifierMetrics.create(registry)
        self.clock = clock or SystemClock()
        config = settings.notifier
        self.keys = Keys(settings.redis.key_prefix)
        self.redis = connect(settings.redis)
        self.read_model = ReadModel(self.redis, self.keys)
        self.channels = build_channels(settings, self.clock)
        self.metrics.start_at_zero(
            [channel.name for channel in self.channels],
            RedisStreams.name if config.redis_streams else None,
            settings.topics.tier_changes,
            settings.topics.customers,
        )
        self.deliverer = Deliverer(
            self.redis,
            self.keys,
            self.metrics,
            Backoff(config.backoff_base_seconds, config.backoff_max_seconds, config.max_attempts),
            config.dedupe_ttl_seconds,
            self.clock,
        )
        self.streams = RedisStreams(
            self.redis, self.keys, self.metrics, config.dedupe_ttl_seconds, config.stream_maxlen
        )
        self.profiles = ProfileDirectory(
            settings.topics.customers, self.metrics, on_erase=self.read_model.erase
        )
        self._queues: dict[str, list[PendingAlert]] = defaultdict(list)
        self._buckets: dict[str, TokenBucket] = {}
        self._offsets = OffsetTracker()
        self._committed: dict[Any, int] = {}
        self._consumer: AIOKafkaConsumer | None = None
        self._last_loop = -math.inf

    # -- health -------------------------------------------------------------------------------

    def healthy(self) -> bool:
        """Whether the consumer loop went round in the last 60 seconds (readiness)."""
        return self.clock.monotonic() - self._last_loop < 60

    def alive(self) -> bool:
        """Liveness: still starting (topics, profiles: the loop has not run yet), or healthy.
        Only a loop that ran and then stalled asks for a restart."""
        return self._last_loop == -math.inf or self.healthy()

    # -- one record -----------------------------------------------------------------------------

    async def handle(self, tp: TopicPartition, record: ConsumerRecord[bytes, bytes]) -> None:
        """Project, decide, route, publish to the streams and queue for the push channels."""
        topic = self.settings.topics.tier_changes
        try:
            event = TierChanged.model_validate_json(record.value or b"")
        except ValidationError:
            # Logged by position only: the payload may hold customer data.
            log.warning("skipped an invalid TierChanged at %s:%d", tp.partition, record.offset)
            self.metrics.records.labels(topic=topic, outcome="invalid").inc()
            return
        if self.settings.notifier.read_model:
            await self.read_model.apply(event, record.offset)
        alert = decide(event, self.policy)
        if alert is None:
            self.metrics.records.labels(topic=topic, outcome="no_alert").inc()
            return
        self.metrics.records.labels(topic=topic, outcome="alert").inc()
        config = self.settings.notifier
        recipient = route(
            event.customer_id,
            event.account_manager,
            self.profiles.managers,
            config.default_owner,
            config.default_owner_email,
        )
        if config.redis_streams:
            await self.streams.publish(alert, recipient)
        if not self.channels:
            return
        if recipient is None:
            placeholder = Recipient(UNROUTED, None, None, None, RouteSource.DEFAULT)
            for channel in self.channels:
                if not await self.deliverer.marked(channel.name, [alert.event_id]):
                    await self.deliverer.park(channel.name, [alert], placeholder, _UNROUTED, 0)
                    await self.deliverer.mark(channel.name, [alert.event_id])
            return
        self._queues[recipient.manager_id].append(
            PendingAlert(alert, recipient, self.clock.monotonic(), tp, record.offset)
        )
        self._offsets.hold(tp, record.offset)

    # -- flushing the queues --------------------------------------------------------------------

    def _take_messages(self, manager_id: str, now: float) -> list[list[PendingAlert]]:
        queue = self._queues[manager_id]
        config = self.settings.notifier
        bucket = self._buckets.setdefault(
            manager_id, TokenBucket(config.burst, config.rate_per_minute / 60)
        )
        messages: list[list[PendingAlert]] = []
        for size in plan_messages(len(queue), bucket, now, config.digest_max):
            messages.append(queue[:size])
            del queue[:size]
        if not queue:
            del self._queues[manager_id]
        return messages

    async def _deliver_manager(self, messages: list[list[PendingAlert]]) -> None:
        for items in messages:
            recipient = items[-1].recipient
            await asyncio.gather(
                *(self.deliverer.deliver(channel, items, recipient) for channel in self.channels)
            )
            for item in items:
                self._offsets.release(item.partition, item.offset)

    async def flush(self) -> None:
        """Send what the rate limits allow now, concurrently across managers."""
        now = self.clock.monotonic()
        work = [self._take_messages(manager_id, now) for manager_id in list(self._queues)]
        await asyncio.gather(*(self._deliver_manager(messages) for messages in work if messages))
        self.metrics.pending_alerts.set(sum(len(queue) for queue in self._queues.values()))
        # Forget managers whose bucket is full again: the map stays as small as the active set.
        for manager_id, bucket in list(self._buckets.items()):
            if manager_id not in self._queues and bucket.is_full(now):
                del self._buckets[manager_id]

    def _poll_timeout_ms(self) -> int:
        if not self._queues:
            return 500
        now = self.clock.monotonic()
        waits = [
            self._buckets[manager].wait_time(now)
            for manager in self._queues
            if manager in self._buckets
        ]
        return int(1000 * min(0.5, max(0.01, min(waits, default=0.01))))

    # -- offsets --------------------------------------------------------------------------------

    async def commit(self, only: set[TopicPartition] | None = None) -> None:
        """Commit the safe offsets (see OffsetTracker) that moved since the last commit."""
        assert self._consumer is not None
        offsets = {
            tp: offset
            for tp, offset in self._offsets.safe().items()
            if (only is None or tp in only) and self._committed.get(tp) != offset
        }
        if offsets:
            await self._consumer.commit(offsets)
            self._committed.update(offsets)

    async def on_revoked(self, revoked: set[TopicPartition]) -> None:
        """Before a rebalance: commit what is done, drop what is queued (the new owner re-reads)."""
        if self._consumer is not None:
            try:
                await self.commit(only=set(revoked))
            except Exception:  # the new owner then just re-reads from an older offset
                log.warning("commit before rebalance failed; the next owner re-reads more")
        for manager_id in list(self._queues):
            kept = [i for i in self._queues[manager_id] if i.partition not in revoked]
            if kept:
                self._queues[manager_id] = kept
            else:
                del self._queues[manager_id]
        for tp in revoked:
            self._offsets.forget(tp)
            self._committed.pop(tp, None)

    # -- the process ------------------------------------------------------------------------------

    async def _start_profiles(self) -> tuple[AIOKafkaConsumer, asyncio.Task[None]]:
        from aiokafka import AIOKafkaConsumer

        # No group: every replica needs every profile, from the beginning.
        consumer = AIOKafkaConsumer(
            self.profiles.topic,
            bootstrap_servers=self.settings.kafka.bootstrap,
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            isolation_level="read_committed",
            **_security(self.settings),
        )
        await consumer.start()
        deadline = asyncio.get_running_loop().time() + 30
        while not consumer.assignment():
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(f"no partitions of {self.profiles.topic} assigned within 30s")
            await asyncio.sleep(0.05)
        await self.profiles.load(consumer)
        return consumer, asyncio.create_task(self.profiles.follow(consumer))

    async def run(self, stop: asyncio.Event) -> None:
        """Run until `stop` is set; queued alerts not yet sent are re-read on the next start."""
        from aiohttp import web
        from aiokafka import AIOKafkaConsumer
        from aiokafka.abc import ConsumerRebalanceListener

        from streams.kafka.admin import ensure_topics
        from streams.notifier.web import build_app, web_address

        settings = self.settings
        await self.redis.ping()
        await ensure_topics(
            settings.kafka.bootstrap,
            [settings.topics.tier_changes],
            settings.topics.partitions,
            settings.topics.replication_factor,
        )
        await _ensure_compacted(settings, settings.topics.customers)
        # No access log: SSE URLs carry a manager id. Open SSE streams get 5 s to close.
        runner = web.AppRunner(
            build_app(
                self.redis,
                self.keys,
                self.registry,
                self.alive,
                self.healthy,
                Access.from_file(settings.access.tokens_file),
                settings.access,
            ),
            access_log=None,
            shutdown_timeout=5.0,
        )
        await runner.setup()
        site = web.TCPSite(runner, *web_address(settings))
        await site.start()
        profiles_consumer, follower = await self._start_profiles()
        notifier = self

        class _Listener(ConsumerRebalanceListener):  # type: ignore[misc]
            async def on_partitions_revoked(self, revoked: Any) -> None:
                await notifier.on_revoked(set(revoked))

            async def on_partitions_assigned(self, assigned: Any) -> None:
                return None

        consumer = AIOKafkaConsumer(
            bootstrap_servers=settings.kafka.bootstrap,
            group_id=settings.notifier.group_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            isolation_level="read_committed",
            **_security(settings),
        )
        consumer.subscribe([settings.topics.tier_changes], listener=_Listener())
        self._consumer = consumer
        await consumer.start()
        log.info("notifier started: %d push channel(s)", len(self.channels))
        try:
            while not stop.is_set():
                self._last_loop = self.clock.monotonic()
                batch = {}
                if self._offsets.held() < settings.notifier.max_pending:
                    batch = await consumer.getmany(
                        timeout_ms=self._poll_timeout_ms(), max_records=500
                    )
                else:
                    await self.clock.sleep(self._poll_timeout_ms() / 1000)
                for tp, records in batch.items():
                    for record in records:
                        await self.handle(tp, record)
                        self._offsets.consumed(tp, record.offset)
                await self.flush()
                await self.commit()
        finally:
            follower.cancel()
            await asyncio.gather(follower, return_exceptions=True)
            await consumer.stop()
            await profiles_consumer.stop()
            for channel in self.channels:
                await channel.close()
            await runner.cleanup()
            await self.redis.aclose()


def _security(settings: Settings) -> dict[str, Any]:
    return client_options(settings.kafka)


async def _ensure_compacted(settings: Settings, topic: str) -> None:
    """Create the customers topic as a compacted topic when it does not exist yet."""
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic
    from aiokafka.errors import TopicAlreadyExistsError

    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka.bootstrap, **_security(settings))
    await admin.start()
    try:
        if topic not in set(await admin.list_topics()):
            # Another replica may create it at the same moment.
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics(
                    [
                        NewTopic(
                            topic,
                            settings.topics.partitions,
                            settings.topics.replication_factor,
                            topic_configs={"cleanup.policy": "compact"},
                        )
                    ]
                )
    finally:
        await admin.close()
