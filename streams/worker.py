"""The Faust worker: thin glue from Kafka records to the stream stages and back.

Stage 1 (agent on `orders` + `feedback`): decode (bad records → dead-letter topic), merge
the partition's two inputs in event-time order (streams.merge; a record is acked only once
applied, so a crash never commits past a buffered one), apply each event to the customer's
state in the `customer-state` table, move the partition's stream time (events and watermark
control records) and publish what each closed boundary produces: measurements and an epoch
marker to the internal measurements topic, the partition's rank summary to the internal
ranks topic. Stage 2 (agent on the measurements topic): at each epoch marker, wait for the
boundary's merged population (the rank barrier, fed by a reader of the whole ranks topic)
and publish the TierChanged events. See docs/stream-design.md.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

import faust
from faust.assignor import PartitionAssignor
from prometheus_client import CollectorRegistry

from schemas import FeedbackEvent, OrderEvent
from streams.barrier import RankBarrier
from streams.decode import RecordOrigin, decode
from streams.headers import Watermark, cloudevent_headers, control_kind
from streams.measure_stage import ClosedEpoch, PartitionMeasurer
from streams.merge import InputMerge
from streams.metrics import WorkerMetrics
from streams.rank_stage import PartitionRanker
from streams.ranks import RankSummary, SketchPopulation
from streams.settings import Clock, Settings
from streams.topology import Topology
from tiering import CustomerState, Policy
from tiering.measure import measurement_from_json, measurement_to_json

__all__ = ["Worker", "create_worker"]

log = logging.getLogger("tierstream.worker")


class _OutputsInInputGroup(PartitionAssignor):  # type: ignore[misc]  # Faust is untyped
    """Faust's assignor, answering for topics the app writes but does not consume.

    Under exactly_once Faust looks up the destination topic's co-partition group to pick the
    transaction of a send, and only knows the groups of consumed topics (faust-streaming
    issue #440). Every topic the worker writes is co-partitioned with its inputs and written
    to the partition being processed, so the inputs' group is the right transaction.
    """

    input_topic: str = ""

    def group_for_topic(self, topic: str) -> int:
        groups = self._topic_groups
        return int(groups[topic] if topic in groups else groups[self.input_topic])


class _Partition:
    """In-memory bookkeeping of one assigned partition (stage 1)."""

    def __init__(self, measurer: PartitionMeasurer, inputs: tuple[str, str]) -> None:
        self.measurer = measurer
        self.merge: InputMerge[tuple[OrderEvent | FeedbackEvent, Any]] = InputMerge(inputs)


class Worker:
    """The Faust app with the tierstream agents, tables and the rank barrier."""

    def __init__(self, settings: Settings, policy: Policy, registry: CollectorRegistry) -> None:
        self.settings = settings
        self.policy = policy
        self.metrics = WorkerMetrics.create(registry)
        self.topology = Topology(settings.app_id, settings.topics)
        partitions = settings.topics.partitions
        assignor = type(
            "Assignor", (_OutputsInInputGroup,), {"input_topic": settings.topics.orders}
        )
        self.app = faust.App(
            settings.app_id,
            broker=f"kafka://{settings.kafka.bootstrap}",
            store=settings.store,
            processing_guarantee=settings.processing_guarantee,
            topic_partitions=partitions,
            topic_replication_factor=settings.topics.replication_factor,
            web_enabled=False,
            autodiscover=False,
            datadir=str(settings.data_dir),
            value_serializer="raw",
            key_serializer="raw",
            consumer_auto_offset_reset="earliest",
            PartitionAssignor=assignor,
            # Records wait unacked in the event-time merge and at the rank barrier; Faust's
            # wait-for-all-acks on rebalance would never end. The new owner re-reads them.
            stream_wait_empty=False,
            # The rank agent waits at the barrier while measurements keep arriving; a full
            # stream buffer would stall the fetcher that feeds the other agent too.
            stream_buffer_maxsize=65_536,
        )
        raw: dict[str, Any] = {"key_type": bytes, "value_type": bytes, "partitions": partitions}
        self.inputs = self.app.topic(
            settings.topics.orders, settings.topics.feedback, self.topology.clock, **raw
        )
        self.measurements = self.app.topic(self.topology.measurements, **raw, internal=True)
        self.ranks_topic = self.app.topic(self.topology.ranks, **raw, internal=True)
        self.tier_changes = self.app.topic(settings.topics.tier_changes, **raw)
        self.dead_letters = self.app.topic(settings.topics.dead_letter, **raw)
        self.states = self.app.Table(
            "customer-state", partitions=partitions, key_type=bytes, value_type=bytes
        )
        self.barrier = RankBarrier(partitions)
        self._released: dict[datetime, SketchPopulation] = {}
        self._population_ready = asyncio.Condition()
        self._partitions: dict[int, _Partition] = {}
        self._rankers: dict[int, PartitionRanker] = defaultdict(lambda: PartitionRanker(policy))
        self._pending: dict[int, list[Any]] = defaultdict(list)
        self.app.agent(self.inputs, name="measure")(self._measure_agent)
        self.app.agent(self.measurements, name="rank")(self._rank_agent)
        self.app.task(self._read_ranks)
        if settings.clock is Clock.WALL:
            self.app.task(self._tick_wall_clock)

    # --- stage 1 ----------------------------------------------------------------------------

    @property
    def _input_topics(self) -> tuple[str, str]:
        return (self.settings.topics.orders, self.settings.topics.feedback)

    async def _tick_wall_clock(self) -> None:
        """TIERSTREAM_CLOCK=wall: publish the wall clock, less the allowed lateness, as a
        watermark to every partition of the clock topic, so that stream time moves on
        partitions whose customers are silent. A plain (non-transactional) producer: a tick
        carries no state, and every worker may send them for every partition."""
        from aiokafka import AIOKafkaProducer

        producer = AIOKafkaProducer(bootstrap_servers=self.settings.kafka.bootstrap)
        await producer.start()
        lateness = timedelta(seconds=self.settings.clock_lateness_seconds)
        try:
            while True:
                mark = Watermark(stream_time=datetime.now(UTC) - lateness)
                value = mark.model_dump_json().encode()
                for partition in range(self.settings.topics.partitions):
                    await producer.send(
                        self.topology.clock,
                        value,
                        partition=partition,
                        headers=Watermark.headers(),
                    )
                await producer.flush()
                await asyncio.sleep(self.settings.clock_tick_seconds)
        finally:
            await producer.stop()

    def _partition(self, partition: int) -> _Partition:
        if partition not in self._partitions:
            topics = self.settings.topics
            self._partitions[partition] = _Partition(
                PartitionMeasurer(partition, self.policy, self.settings.epoch_seconds),
                (topics.orders, topics.feedback),
            )
        return self._partitions[partition]

    def _load(self, customer_id: str) -> CustomerState | None:
        raw = self.states.get(customer_id.encode())
        return None if raw is None else CustomerState.from_json(raw)

    async def _measure_agent(self, stream: faust.StreamT[bytes]) -> None:
        manual = stream.noack()
        async for event in manual.events():
            message = event.message
            topic, partition = message.topic, message.partition
            part = self._partition(partition)
            if control_kind(message.headers) == "watermark":
                mark = Watermark.model_validate_json(message.value)
                if topic == self.topology.clock:
                    # A wall-clock tick speaks for every input, and stream time moves first:
                    # events older than the tick (less the allowed lateness) are late.
                    for source in self._input_topics:
                        part.merge.observe(source, mark.stream_time)
                    await self._advance(partition, part.measurer, mark.stream_time)
                else:
                    part.merge.observe(topic, mark.stream_time)
                await manual.ack(event)
            else:
                domain_event = await self._decode_or_dead_letter(event)
                if domain_event is None:
                    await manual.ack(event)
                    continue
                part.merge.offer(topic, domain_event.occurred_at, (domain_event, event))
            for domain_event, source in part.merge.release():
                await self._advance(partition, part.measurer, domain_event.occurred_at)
                state, outcome = part.measurer.apply(
                    self._load(domain_event.customer_id), domain_event
                )
                self.states[domain_event.customer_id.encode()] = state.to_json()
                self.metrics.events_consumed.labels(
                    topic=source.message.topic, outcome=outcome.value
                ).inc()
                await manual.ack(source)
            merged = part.merge.merged_time
            if merged is not None:
                await self._advance(partition, part.measurer, merged)

    async def _advance(
        self, partition: int, measurer: PartitionMeasurer, instant: datetime
    ) -> None:
        starting = measurer.stream_time is None
        closed = measurer.advance(instant, self._load)
        announcement = measurer.start_summary() if starting else None
        if announcement is not None:
            await self.ranks_topic.send(
                key=str(partition).encode(),
                value=announcement.model_dump_json().encode(),
                partition=partition,
            )
        await self._publish_closed(partition, closed)

    async def _decode_or_dead_letter(self, event: Any) -> OrderEvent | FeedbackEvent | None:
        message = event.message
        topic = message.topic
        model: type[OrderEvent] | type[FeedbackEvent] = (
            OrderEvent if topic == self.settings.topics.orders else FeedbackEvent
        )
        decoded = decode(
            model,
            message.key,
            message.value,
            RecordOrigin(topic, message.partition, message.offset),
            datetime.now(UTC),
        )
        if decoded.event is not None:
            return decoded.event
        assert decoded.dead_letter is not None
        await self.dead_letters.send(
            key=message.key,
            value=decoded.dead_letter.model_dump_json().encode(),
            partition=message.partition,
        )
        self.metrics.dead_letters.labels(
            topic=topic, error_type=decoded.dead_letter.error_type
        ).inc()
        self.metrics.events_consumed.labels(topic=topic, outcome="invalid").inc()
        return None

    async def _publish_closed(self, partition: int, epochs: list[ClosedEpoch]) -> None:
        for epoch in epochs:
            boundary = epoch.boundary.isoformat()
            for measurement in epoch.measurements:
                await self.measurements.send(
                    key=measurement.customer_id.encode(),
                    value=b'{"boundary":"'
                    + boundary.encode()
                    + b'","m":'
                    + measurement_to_json(measurement)
                    + b"}",
                    partition=partition,
                )
            await self.measurements.send(
                key=None,
                value=json.dumps({"boundary": boundary, "end": True}).encode(),
                partition=partition,
            )
            await self.ranks_topic.send(
                key=str(partition).encode(),
                value=epoch.summary.model_dump_json().encode(),
                partition=partition,
            )

    # --- rank barrier -----------------------------------------------------------------------

    async def _read_ranks(self) -> None:
        """Every worker reads every partition's summaries (no consumer group)."""
        from aiokafka import AIOKafkaConsumer, TopicPartition

        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.settings.kafka.bootstrap,
            enable_auto_commit=False,
            # Under exactly_once a summary counts only once its transaction commits.
            isolation_level=(
                "read_committed"
                if self.settings.processing_guarantee == "exactly_once"
                else "read_uncommitted"
            ),
        )
        await consumer.start()
        try:
            partitions = [
                TopicPartition(self.topology.ranks, p)
                for p in range(self.settings.topics.partitions)
            ]
            consumer.assign(partitions)
            await consumer.seek_to_beginning(*partitions)
            while True:
                batches = await consumer.getmany(timeout_ms=500)
                summaries = [
                    RankSummary.model_validate_json(r.value) for rs in batches.values() for r in rs
                ]
                if not summaries:
                    continue
                for summary in summaries:
                    self.barrier.add(summary)
                released = self.barrier.release()
                if released:
                    async with self._population_ready:
                        self._released.update(released)
                        self._population_ready.notify_all()
        finally:
            await consumer.stop()

    async def _population(self, boundary: datetime) -> SketchPopulation:
        async with self._population_ready:
            await self._population_ready.wait_for(lambda: boundary in self._released)
            return self._released[boundary]

    # --- stage 2 ----------------------------------------------------------------------------

    async def _rank_agent(self, stream: faust.StreamT[bytes]) -> None:
        # Measurements stay unacked until their boundary is ranked, so a crash before the
        # epoch marker re-reads them instead of committing past them.
        manual = stream.noack()
        async for event in manual.events():
            partition = event.message.partition
            record = json.loads(event.message.value)
            if not record.get("end"):
                self._pending[partition].append(
                    (measurement_from_json(json.dumps(record["m"]).encode()), event)
                )
                continue
            boundary = datetime.fromisoformat(record["boundary"])
            population = await self._population(boundary)
            pending = self._pending.pop(partition, [])
            measurements = tuple(measurement for measurement, _ in pending)
            for change in self._rankers[partition].rank(boundary, population, measurements):
                await self.tier_changes.send(
                    key=change.customer_id.encode(),
                    value=change.model_dump_json().encode(),
                    headers=cloudevent_headers(
                        "io.tierstream.TierChanged.v1",
                        change.event_id,
                        change.occurred_at,
                        change.customer_id,
                    ),
                    partition=partition,
                )
                for field in change.changes:
                    self.metrics.tier_changes.labels(
                        field=field.value, direction=change.direction.value
                    ).inc()
            for _, source in pending:
                await manual.ack(source)
            await manual.ack(event)


def create_worker(
    settings: Settings, policy: Policy, registry: CollectorRegistry | None = None
) -> Worker:
    """Build the worker's Faust app (tests build their own with their own settings)."""
    return Worker(settings, policy, registry or CollectorRegistry())
