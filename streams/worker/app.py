"""The Faust worker: thin glue from Kafka records to the stream stages and back.

Stage 0 (agent `repartition`, only for inputs declared not keyed by customer_id): decode,
re-key each event by customer_id to the `{app}-{input}-repartition` topic, with its source
partition's progress (streams/pipeline/repartition.py). Stage 1 (agent on `orders` + `feedback`, or
their repartition topics): decode (bad records → dead-letter topic), merge
the partition's two inputs in event-time order (streams.pipeline.merge; a record is acked only once
applied, so a crash never commits past a buffered one), apply each event to the customer's
state in the `customer-state` table, move the partition's stream time (events and watermark
control records) and publish what each closed boundary produces: measurements and an epoch
marker to the internal measurements topic, the partition's rank summary to the internal
ranks topic. Stage 2 (agent on the measurements topic): at each epoch marker, wait for the
boundary's merged population (the rank barrier, fed by a reader of the whole ranks topic)
and publish the TierChanged events, each with the account manager of the customer's latest
profile (agent on `customers`, table `profiles`). See docs/stream-design.md.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Awaitable, Callable
from typing import Any

import faust
from faust.assignor import PartitionAssignor
from prometheus_client import CollectorRegistry

from schemas.tier_changed import TierChanged
from streams.kafka.security import client_options, faust_credentials
from streams.metrics import WorkerMetrics
from streams.pipeline.headers import cloudevent_headers
from streams.pipeline.profile_stage import manager_lookup
from streams.pipeline.rank_schedule import BoundaryEnd
from streams.pipeline.records import StageOneTopics, Tables, parse_measurements_record
from streams.settings import Clock, Settings
from streams.worker.dead_letters import DeadLetters
from streams.worker.faust_fixes import (
    check_faust_version,
    discard_local_tables_under_exactly_once,
    forget_acks_of_revoked_partitions,
    forget_uncommitted_table_writes,
    recover_tables_to_the_broker_end_offsets,
    seek_stream_partitions_before_delivering_them,
    seek_uncommitted_partitions_to_their_reset_offset,
)
from streams.worker.observe import WorkerObserver, sample_periodically
from streams.worker.profiles import ProfileUpdates
from streams.worker.stage_one import FaustTables, StageOne
from streams.worker.stage_two import StageTwo, point_of
from streams.worker.stage_zero import Repartitioner
from streams.worker.topology import Topology
from streams.worker.transaction_gate import TransactionGate
from streams.worker.wall_clock import tick_wall_clock
from streams.worker.web import advertised_host, install_customer_lookup, install_endpoints
from tiering import Policy

__all__ = ["Worker", "create_worker"]


class _OutputsInInputGroup(PartitionAssignor):
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


class Worker:
    """The Faust app with the tierstream agents, tables and the rank barrier."""

    def __init__(self, settings: Settings, policy: Policy, registry: CollectorRegistry) -> None:
        check_faust_version()
        recover_tables_to_the_broker_end_offsets()
        seek_stream_partitions_before_delivering_them()
        seek_uncommitted_partitions_to_their_reset_offset()
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
            broker_credentials=faust_credentials(settings.kafka),
            store=settings.store,
            processing_guarantee=settings.processing_guarantee,
            topic_partitions=partitions,
            topic_replication_factor=settings.topics.replication_factor,
            # Faust's web server serves /metrics, /healthz, /readyz and /customers/{id}
            # (streams/worker/web.py); its generic table and router views stay off: they would
            # serve every table's raw state. web_host makes the canonical URL the other
            # workers forward customer lookups to.
            web_enabled=True,
            web_bind=settings.web.host,
            web_host=advertised_host(settings.web),
            web_port=settings.web.port,
            web_tables_enabled=False,
            web_router_enabled=False,
            table_standby_replicas=settings.standby_replicas,
            autodiscover=False,
            datadir=str(settings.data_dir),
            value_serializer="raw",
            key_serializer="raw",
            consumer_auto_offset_reset="earliest",
            broker_commit_interval=settings.commit_interval_seconds,
            PartitionAssignor=assignor,
            # Records wait unacked in the event-time merge and at the rank barrier; Faust's
            # wait-for-all-acks on rebalance would never end. The new owner re-reads them.
            stream_wait_empty=False,
            # The rank agent waits at the barrier while measurements keep arriving; a full
            # stream buffer would stall the fetcher that feeds the other agent too.
            stream_buffer_maxsize=65_536,
        )
        discard_local_tables_under_exactly_once(self.app)
        raw: dict[str, Any] = {"key_type": bytes, "value_type": bytes, "partitions": partitions}
        self.inputs = self.app.topic(*self.topology.stage_one_inputs, self.topology.clock, **raw)
        # Inputs not keyed by customer_id: source topic -> its repartition topic (stage 0).
        self._repartition_of = dict(self.topology.repartitioned)
        self._source_of = {rep: source for source, rep in self._repartition_of.items()}
        self._repartition_topics = {
            source: self.app.topic(repartition, **raw, internal=True)
            for source, repartition in self._repartition_of.items()
        }
        self.customers = self.app.topic(settings.topics.customers, **raw)
        self.measurements = self.app.topic(self.topology.measurements, **raw, internal=True)
        self.ranks_topic = self.app.topic(self.topology.ranks, **raw, internal=True)
        self.tier_changes = self.app.topic(settings.topics.tier_changes, **raw)
        self.dead_letters = self.app.topic(settings.topics.dead_letter, **raw)
        self._dead_letters = DeadLetters(
            self.dead_letters, self.metrics, self._label, settings.topics.orders
        )
        self._stage_zero = Repartitioner(
            partitions,
            settings.epoch_seconds,
            self._dead_letters.decode_or_dead_letter,
            self._dead_letters.dead_letter,
            self._send_on,
        )
        self._outputs = {
            self.topology.measurements: self.measurements,
            self.topology.ranks: self.ranks_topic,
            settings.topics.dead_letter: self.dead_letters,
        }
        table: dict[str, Any] = {"partitions": partitions, "key_type": bytes, "value_type": bytes}
        self.states = self.app.Table("customer-state", **table)
        # Day records of large states (tiering/state_records.py), keyed `customer_id@day`.
        self.state_days = self.app.Table("customer-state-days", **table)
        # Everything else the stages remember (streams/pipeline/checkpoints.py), so that a restarted
        # worker resumes exactly where its last committed transaction left off.
        self.progress = self.app.Table("progress", **table)
        self.measured = self.app.Table("measured", **table)
        self.ranked = self.app.Table("ranked", **table)
        # Input events the event-time merge holds back (streams/pipeline/partition.py), so a
        # batch is always committable whole.
        self.held = self.app.Table("held", **table)
        # Latest CustomerProfile per customer (key customer_id), co-partitioned with the
        # inputs, so the rank stage of partition p finds its customers' managers locally.
        self.profiles = self.app.Table("profiles", **table)
        self._account_manager = manager_lookup(self.profiles.get)
        self._profile_updates = ProfileUpdates(self.profiles, self._dead_letters, self.metrics)
        self.app.on_partitions_revoked.connect(self._on_partitions_revoked)  # type: ignore[arg-type]  # Faust types receivers with a `signal` keyword; ours take it in **_
        self._gate = (
            TransactionGate(self.app) if settings.processing_guarantee == "exactly_once" else None
        )
        self._record_lock = self._gate.lock if self._gate is not None else asyncio.Lock()
        # Counts revocations: a record taken from a stream before one is not processed after
        # it (the consumer goes back to the committed offsets and delivers it again).
        self._generation = 0
        self.app.on_partitions_assigned.connect(self._on_partitions_assigned)  # type: ignore[arg-type]  # as above
        self._rewind_ranks = asyncio.Event()
        self._rewind_ranks.set()
        self.app.agent(self.inputs, name="measure")(self._measure_agent)
        self.app.agent(self.measurements, name="rank")(self._rank_agent)
        self.app.agent(self.customers, name="customers")(self._customers_agent)
        if self._repartition_of:
            sources = self.app.topic(*self._repartition_of, **raw)
            self.app.agent(sources, name="repartition")(self._repartition_agent)
        self.app.task(self._read_ranks)
        self.observer = WorkerObserver(
            self.metrics,
            (settings.topics.orders, settings.topics.feedback, settings.topics.customers),
            {
                "customer-state": self.states,
                "customer-state-days": self.state_days,
                "progress": self.progress,
                "measured": self.measured,
                "ranked": self.ranked,
                "held": self.held,
                "profiles": self.profiles,
            },
        )
        self._stage_two = StageTwo(
            policy,
            partitions,
            self.ranked,
            self.progress,
            self._account_manager,
            self._send_change,
            self.observer,
        )
        orders, feedback = self.topology.stage_one_inputs
        self._stage_one = StageOne(
            policy,
            StageOneTopics(
                orders=orders,
                feedback=feedback,
                clock=self.topology.clock,
                measurements=self.topology.measurements,
                ranks=self.topology.ranks,
                dead_letter=settings.topics.dead_letter,
                repartitioned=frozenset(self._source_of),
                source_partitions=partitions,
            ),
            settings.epoch_seconds,
            FaustTables(
                {
                    Tables.STATES: self.states,
                    Tables.DAYS: self.state_days,
                    Tables.PROGRESS: self.progress,
                    Tables.MEASURED: self.measured,
                    Tables.HELD: self.held,
                }
            ),
            self._send_output,
            self.metrics,
            self.observer,
            self._label,
        )
        self._assigned = False
        install_endpoints(self.app, registry, self.ready)
        install_customer_lookup(self.app, self.ranked, self.ready)
        self.app.task(self._sample_metrics)
        if settings.clock is Clock.WALL:
            self.app.task(self._tick_wall_clock)

    # --- stage 1 ----------------------------------------------------------------------------

    @property
    def _input_topics(self) -> tuple[str, str]:
        """What stage 1 merges: each input, or its repartition topic."""
        return self.topology.stage_one_inputs

    def _label(self, topic: str) -> str:
        """The topic named in metrics: a repartition topic counts as its source input."""
        return self._source_of.get(topic, topic)

    async def _tick_wall_clock(self) -> None:
        await tick_wall_clock(self.settings, self.topology.clock)

    async def _on_partitions_assigned(self, sender: Any, assigned: Any, **_: Any) -> None:
        self._assigned = True
        self._rewind_ranks.set()

    def ready(self) -> bool:
        """Readiness: the group gave this worker its partitions (possibly none, when there
        are more workers than partitions), table recovery has completed, and no partition
        is stopped by an unexpected error."""
        tables: Any = self.app.tables  # TableManagerT does not declare `recovery`
        recovery = tables.recovery
        recovered = recovery.completed.is_set() and not recovery.in_recovery
        return self._assigned and recovered and not self._stage_one.stopped

    async def _on_partitions_revoked(self, sender: Any, revoked: Any, **_: Any) -> None:
        """Forget revoked partitions: their next owner restores them from the tables.

        Under exactly_once, also the work not yet committed on the partitions this worker
        keeps: the consumer goes back to their committed offsets and processes it again.
        """
        async with self._record_lock:
            self._generation += 1
            if self._gate is not None:
                await self._gate.abort_open_transactions()
                forget_acks_of_revoked_partitions(self.app, revoked)
                forget_uncommitted_table_writes(self.app)
            if self._gate is not None:
                # The tables were emptied for recovery: every pipeline restores from them.
                self._stage_one.forget_all()
            self._stage_one.forget(tp.partition for tp in revoked)
            self._stage_zero.forget((tp.topic, tp.partition) for tp in revoked)
            if self._gate is not None:
                self._stage_two.forget_all()
            self._stage_two.forget(tp.partition for tp in revoked)
        self.observer.partitions_revoked(tp.partition for tp in revoked)
        self.observer.classifications(self._stage_two.rankers())

    async def _measure_agent(self, stream: Any) -> None:  # StreamT lacks noack()
        """Stage 1: batches of input records through each partition's pure pipeline
        (streams.worker.stage_one); acked once their writes and outputs are handed to Faust,
        so they commit together."""
        manual: Any = stream.noack()
        taken_in: dict[int, int] = {}

        def stamp(value: bytes) -> bytes:
            # The generation a record was taken in: one taken before a revocation is not
            # processed after it (the consumer delivers it again from the committed offset).
            taken_in[id(manual.current_event)] = self._generation
            return value

        manual.add_processor(stamp)
        settings = self.settings
        async for events in manual.noack_take(settings.batch_records, settings.batch_seconds):
            self._install_gate()
            async with self._record_lock:
                current = [e for e in events if taken_in.pop(id(e), None) == self._generation]
                for event in await self._stage_one.process(current) if current else ():
                    await manual.ack(event)

    def _install_gate(self) -> None:
        if self._gate is not None:
            self._gate.install()

    async def _send_output(
        self, topic: str, key: bytes | None, value: bytes, partition: int
    ) -> None:
        await self._outputs[topic].send(key=key, value=value, partition=partition)

    # --- stage 0 ----------------------------------------------------------------------------

    async def _each_record(self, stream: Any, handle: Callable[[Any], Awaitable[None]]) -> None:
        """The loop of a per-record agent (stage 0, profiles): each record under the gate,
        skipped when taken before a revocation (the consumer delivers it again)."""
        manual = stream.noack()  # StreamT lacks noack()
        async for event in manual.events():
            self._install_gate()
            generation = self._generation
            async with self._record_lock:
                if generation == self._generation:
                    await handle(event)
                    await manual.ack(event)

    async def _repartition_agent(self, stream: Any) -> None:
        await self._each_record(stream, self._stage_zero.handle)

    async def _send_on(
        self,
        source: tuple[str, int],
        key: bytes | None,
        value: bytes,
        partition: int,
        headers: list[tuple[str, bytes]],
    ) -> None:
        """To the source's repartition topic, in the source partition's transaction."""
        if self._gate is not None:
            topic = self._repartition_of[source[0]]
            await self._gate.send_for(source, topic, key, value, partition, headers)
        else:
            await self._repartition_topics[source[0]].send(
                key=key, value=value, partition=partition, headers=headers
            )

    # --- profiles -----------------------------------------------------------------------------

    async def _customers_agent(self, stream: Any) -> None:
        await self._each_record(stream, self._profile_updates.apply)

    # --- rank barrier -----------------------------------------------------------------------

    async def _read_ranks(self) -> None:
        """Every worker reads every partition's summaries and progress (no consumer group)."""
        from aiokafka import AIOKafkaConsumer, TopicPartition

        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.settings.kafka.bootstrap,
            **client_options(self.settings.kafka),
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
            while True:
                if self._rewind_ranks.is_set():
                    # A new assignment may bring partitions whose next boundary is older
                    # than the populations kept in memory: rebuild them from the start.
                    self._rewind_ranks.clear()
                    self._stage_two.rewind()
                    await consumer.seek_to_beginning(*partitions)
                batches = await consumer.getmany(timeout_ms=500)
                await self._stage_two.add(r.value for rs in batches.values() for r in rs)
        finally:
            await consumer.stop()

    # --- stage 2 ----------------------------------------------------------------------------

    async def _rank_agent(self, stream: Any) -> None:  # StreamT lacks noack()
        """Stage 2: a partition's measurements are held (unacked) until the end marker of
        their boundary, or a progress marker, is ranked; so a crash re-reads them."""
        manual = stream.noack()
        pending: dict[int, list[Any]] = defaultdict(list)
        async for event in manual.events():
            partition = event.message.partition
            record = parse_measurements_record(event.message.value)
            if isinstance(record, tuple):
                pending[partition].append((record[1], event))
                continue
            held = pending.pop(partition, [])
            item = record
            if isinstance(item, BoundaryEnd):
                item = BoundaryEnd(item.boundary, tuple(measurement for measurement, _ in held))
            sources = [source for _, source in held] + [event]
            if self._stage_two.ranked_already(partition, item):
                for source in sources:
                    await manual.ack(source)
                self.observer.boundary_done(partition, point_of(item))
                continue
            generation = self._generation
            await self._stage_two.wait_covered(point_of(item))
            self._install_gate()
            async with self._record_lock:
                if generation == self._generation:
                    await self._stage_two.rank(partition, item, self._assigned_measurements())
                    for source in sources:
                        await manual.ack(source)

    def _assigned_measurements(self) -> set[int]:
        return {
            tp.partition
            for tp in self.app.assignor.assigned_actives()
            if tp.topic == self.topology.measurements
        }

    async def _send_change(self, partition: int, change: TierChanged) -> None:
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

    async def _sample_metrics(self) -> None:
        await sample_periodically(
            self.settings, self.observer, self._assigned_inputs, self._stage_one.stream_times
        )

    def _assigned_inputs(self) -> list[tuple[str, int]]:
        """The assigned partitions of the inputs (stage 1's and stage 0's), for the lag."""
        return sorted(
            (tp.topic, tp.partition)
            for tp in self.app.consumer.assignment()
            if tp.topic in self._input_topics or tp.topic in self._repartition_of
        )


def create_worker(
    settings: Settings, policy: Policy, registry: CollectorRegistry | None = None
) -> Worker:
    """Build the worker's Faust app (tests build their own with their own settings)."""
    return Worker(settings, policy, registry or CollectorRegistry())
