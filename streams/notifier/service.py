"""The notifier process: `tier-changes` in, alerts out, offsets committed only when done.

One loop per process: poll a batch (read_committed, manual commits), and for each record
update the read model, decide, route, append to the Redis streams (exactly once) and queue
the alert for its manager's push channels; an invalid record goes to the dead-letter topic.
Then flush (`Dispatcher`): sends start beside the loop, so a slow receiver never stalls its
heartbeat. A partition's committed offset never passes an alert that is still queued or
being delivered, so a crash re-reads exactly the undelivered ones.

Redis outages are waited out (`RedisGuard`): the loop stays live and says why it is not
ready; nothing is dropped. The profiles follower is supervised: restarted after an error,
counted, and reported in readiness until it follows again.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry

from streams.access import Access
from streams.metrics import NotifierMetrics
from streams.notifier.channels import Channel, EmailChannel, WebhookChannel
from streams.notifier.delivery import Clock, Deliverer, PendingAlert, SystemClock
from streams.notifier.dispatch import Dispatcher
from streams.notifier.erasure import erase_from_alert_streams
from streams.notifier.health import Health, HealthReport, RedisGuard, Stopping
from streams.notifier.kafka_io import (
    DeadLetterSender,
    ensure_notifier_topics,
    profiles_consumer,
    security,
)
from streams.notifier.keys import Keys, close, connect
from streams.notifier.pacing import Backoff, TokenBucket
from streams.notifier.profiles import ProfileDirectory
from streams.notifier.read_model import ReadModel
from streams.notifier.redis_streams import RedisStreams
from streams.notifier.routing import UNROUTED, Recipient, RouteSource, route
from streams.notifier.rules import decide
from streams.settings import Settings
from tiering.policy import Policy

if TYPE_CHECKING:
    from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition

__all__ = ["Notifier", "build_channels"]

log = logging.getLogger(__name__)

_UNROUTED = "no account manager for the customer and no default owner configured"
# Seconds that sends in flight get to finish when the process stops (then they are re-read).
_DRAIN_SECONDS = 10.0
# Waits before restarting the profiles follower: doubling from 1 s up to 30 s.
_RESTART_FIRST, _RESTART_MAX = 1.0, 30.0
# An idle loop pings Redis this often, so an outage shows in readiness without traffic.
_REDIS_CHECK_SECONDS = 5.0


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
        self.health = Health(self.clock.monotonic, config.health_window_seconds)
        self._stopping = False
        self.guard = RedisGuard(
            self.health,
            self.clock,
            lambda: self._stopping,
            lambda down: self.metrics.redis_up.set(0 if down else 1),
        )
        self.deliverer = Deliverer(
            self.redis,
            self.keys,
            self.metrics,
            Backoff(config.backoff_base_seconds, config.backoff_max_seconds, config.max_attempts),
            config.dedupe_ttl_seconds,
            self.clock,
            parked_max_entries=config.parked_max_entries,
            concurrency=config.channel_concurrency,
            guard=self.guard,
        )
        self.streams = RedisStreams(
            self.redis, self.keys, self.metrics, config.dedupe_ttl_seconds, config.stream_maxlen
        )
        self.profiles = ProfileDirectory(
            settings.topics.customers,
            self.metrics,
            on_erase=self.erase_customer,
        )
        self.dispatcher = Dispatcher(
            self.deliverer,
            self.channels,
            self.metrics,
            lambda: TokenBucket(config.burst, config.rate_per_minute / 60),
            config.digest_max,
        )
        self.dead_letters = DeadLetterSender(settings)
        self._committed: dict[Any, int] = {}
        self._consumer: AIOKafkaConsumer | None = None

    # -- health -------------------------------------------------------------------------------

    def healthy(self) -> bool:
        """Whether the consumer loop has started and went round within the health window."""
        return self.health.running()

    def health_report(self) -> HealthReport:
        """Liveness, readiness and why not ready (`/healthz`, `/readyz`)."""
        return self.health.report()

    # -- erase requests -------------------------------------------------------------------------

    async def erase_customer(self, customer_id: str) -> None:
        """A tombstone on `customers`: the customer's read model entry, alerts in the Redis
        streams, parked deliveries and queued alerts go (streams/notifier/erasure.py).
        Idempotent: a failure makes the follower apply the tombstone again."""
        self.dispatcher.drop_customer(customer_id)
        await self.guard.call(lambda: self.read_model.erase(customer_id))
        await self.guard.call(lambda: erase_from_alert_streams(self.redis, self.keys, customer_id))
        await self.guard.call(lambda: self.deliverer.store.erase_customer(customer_id))

    # -- one record -----------------------------------------------------------------------------

    async def handle(self, tp: TopicPartition, record: ConsumerRecord[bytes, bytes]) -> None:
        """Project, decide, route, publish to the streams and queue for the push channels."""
        topic = self.settings.topics.tier_changes
        event, error_type = await self.dead_letters.decode(tp.partition, record)
        if event is None:
            # Logged by position only: the payload may hold customer data.
            log.warning(
                "dead-lettered an invalid TierChanged at %s:%d (%s)",
                tp.partition,
                record.offset,
                error_type,
            )
            self.metrics.records.labels(topic=topic, outcome="invalid").inc()
            return
        if self.profiles.erased_after(event.customer_id, record.timestamp):
            # Written before the customer's erase request: it must not bring it back.
            self.metrics.records.labels(topic=topic, outcome="erased").inc()
            return
        if self.settings.notifier.read_model:
            await self.guard.call(lambda: self.read_model.apply(event, record.offset), beat=True)
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
            await self.guard.call(lambda: self.streams.publish(alert, recipient), beat=True)
        if not self.channels:
            return
        if recipient is None:
            placeholder = Recipient(UNROUTED, None, None, None, RouteSource.DEFAULT)
            for channel in self.channels:
                # Park and mark are one script, so a retry after an outage cannot park twice.
                if not await self.deliverer.marked(channel.name, [alert.event_id], beat=True):
                    await self.deliverer.park(
                        channel.name, [alert], placeholder, _UNROUTED, 0, beat=True
                    )
            return
        self.dispatcher.enqueue(
            PendingAlert(alert, recipient, self.clock.monotonic(), tp, record.offset)
        )

    # -- offsets --------------------------------------------------------------------------------

    async def commit(self, only: set[TopicPartition] | None = None) -> None:
        """Commit the safe offsets (see OffsetTracker) that moved since the last commit."""
        assert self._consumer is not None
        offsets = {
            tp: offset
            for tp, offset in self.dispatcher.offsets.safe().items()
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
        self.dispatcher.revoke(set(revoked))
        for tp in revoked:
            self._committed.pop(tp, None)

    # -- background tasks -------------------------------------------------------------------------

    async def follow_profiles(self, consumer: AIOKafkaConsumer) -> None:
        """Follow the customers topic until cancelled, restarting after any error (with a
        growing wait, counted in `tierstream_notifier_task_restarts_total{task="profiles"}`
        and shown in readiness until a poll succeeds again)."""
        wait = _RESTART_FIRST

        def following() -> None:
            nonlocal wait
            wait = _RESTART_FIRST
            self.health.resolved("profiles")

        while True:
            try:
                await self.profiles.follow(consumer, on_round=following)
            except Stopping:
                return
            except Exception as error:
                # Type only: the message of a decoding or Redis error may quote customer data.
                log.error(
                    "profiles follower failed (%s); restarting in %.0f s",
                    type(error).__name__,
                    wait,
                )
                self.metrics.task_restarts.labels(task="profiles").inc()
                self.health.problem(
                    "profiles",
                    f"customers-topic follower restarting after {type(error).__name__}; "
                    "alerts route by the profiles read so far",
                )
                await self.clock.sleep(wait)
                wait = min(_RESTART_MAX, wait * 2)

    # -- the process ------------------------------------------------------------------------------

    async def _poll(self, consumer: AIOKafkaConsumer) -> dict[Any, list[Any]]:
        config = self.settings.notifier
        timeout_ms = self.dispatcher.poll_timeout_ms(self.clock.monotonic())
        if self.dispatcher.offsets.held() < config.max_pending:
            batch: dict[Any, list[Any]] = await consumer.getmany(
                timeout_ms=timeout_ms, max_records=500
            )
            return batch
        await self.clock.sleep(timeout_ms / 1000)
        return {}

    async def _consume(self, consumer: AIOKafkaConsumer, stop: asyncio.Event) -> None:
        checked = self.clock.monotonic()
        while not stop.is_set():
            self.health.beat()
            if self.clock.monotonic() - checked >= _REDIS_CHECK_SECONDS:
                await self.guard.call(self.redis.ping, beat=True)
                checked = self.clock.monotonic()
            if self.dispatcher.failure is not None:
                raise self.dispatcher.failure
            for tp, records in (await self._poll(consumer)).items():
                for record in records:
                    await self.handle(tp, record)
                    self.dispatcher.offsets.consumed(tp, record.offset)
            self.dispatcher.flush(self.clock.monotonic())
            await self.commit()

    async def run(self, stop: asyncio.Event) -> None:
        """Run until `stop` is set; queued alerts not yet sent are re-read on the next start."""
        from aiohttp import web
        from aiokafka import AIOKafkaConsumer
        from aiokafka.abc import ConsumerRebalanceListener

        from streams.notifier.web import build_app, web_address

        settings = self.settings
        # No access log: SSE URLs carry a manager id. Open SSE streams get 5 s to close.
        runner = web.AppRunner(
            build_app(
                self.redis,
                self.keys,
                self.registry,
                self.health_report,
                Access.from_file(settings.access.tokens_file),
                settings.access,
            ),
            access_log=None,
            shutdown_timeout=5.0,
        )
        await runner.setup()
        site = web.TCPSite(runner, *web_address(settings))
        await site.start()
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
            **security(settings),
        )
        profiles: AIOKafkaConsumer | None = None
        follower: asyncio.Task[None] | None = None
        stopper = asyncio.create_task(stop.wait())
        stopper.add_done_callback(lambda _: setattr(self, "_stopping", True))
        try:
            await self.guard.call(self.redis.ping, beat=True)
            await self.guard.call(self.deliverer.store.refresh_length, beat=True)
            await ensure_notifier_topics(settings)
            await self.dead_letters.start()
            profiles = await profiles_consumer(settings)
            await self.profiles.load(profiles)
            follower = asyncio.create_task(self.follow_profiles(profiles))
            consumer.subscribe([settings.topics.tier_changes], listener=_Listener())
            self._consumer = consumer
            await consumer.start()
            self.health.resolved("startup")
            log.info("notifier started: %d push channel(s)", len(self.channels))
            await self._consume(consumer, stop)
        except Stopping:
            log.info("stopping while Redis is unreachable; unsent alerts are re-read on start")
        finally:
            self._stopping = True
            stopper.cancel()
            await self.dispatcher.drain(_DRAIN_SECONDS)
            if self._consumer is not None:
                try:
                    await self.commit()
                except Exception:  # the next start re-reads from the last commit
                    log.warning("final commit failed; the next start re-reads more")
            if follower is not None:
                follower.cancel()
                await asyncio.gather(follower, return_exceptions=True)
            await consumer.stop()
            if profiles is not None:
                await profiles.stop()
            await self.dead_letters.stop()
            for channel in self.channels:
                await channel.close()
            await runner.cleanup()
            await close(self.redis)
