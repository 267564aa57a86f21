"""The Faust worker: the app, its topics, tables and agents wired to the stream stages.

Stage 0 (agent `repartition`, only for inputs declared not keyed by customer_id): decode,
re-key each event by customer_id to the `{app}-{input}-repartition` topic, with its source
partition's progress (streams/pipeline/repartition.py). Stage 1 (agent `measure` on `orders`
+ `feedback`, or their repartition topics): decode (bad records → dead-letter topic), merge
the partition's two inputs in event-time order (streams.pipeline.merge; a record is acked
only once applied, so a crash never commits past a buffered one), apply each event to the
customer's state in the `customer-state` table, move the partition's stream time (events and
watermark control records) and publish what each closed boundary produces: measurements and
an epoch marker to the internal measurements topic, the partition's rank summary to the
internal ranks topic. Stage 2 (agent `rank` on the measurements topic): at each epoch
marker, wait for the boundary's merged population (the rank barrier, fed by a reader of the
whole ranks topic) and publish the TierChanged events, each with the account manager of the
customer's latest profile (agent `customers`, table `profiles`). See docs/stream-design.md.

This module only builds and wires; each concept has its module beside it: the stages'
loops in stage_zero.py, stage_one.py and stage_two.py (with the ranks-topic reader), the
profiles in profiles.py, dead letters in dead_letters.py, the record lock and revocation
count every agent runs under in revocation_fence.py (with transaction_gate.py under
exactly_once), metrics in observe.py (hooks and the sampling task), wall-clock ticks in
wall_clock.py, web endpoints in web.py, Faust work-arounds in faust_fixes.py.
"""

from __future__ import annotations

from typing import Any

import faust
from faust.assignor import PartitionAssignor
from prometheus_client import CollectorRegistry

from streams.access import Access
from streams.kafka.security import faust_credentials
from streams.metrics import WorkerMetrics
from streams.pipeline.profile_stage import group_lookup, manager_lookup, profile_lookup
from streams.pipeline.records import StageOneTopics, Tables
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
from streams.worker.model_source import value_models_of
from streams.worker.observe import WorkerObserver, sample_periodically
from streams.worker.profiles import ProfileUpdates
from streams.worker.revocation_fence import RevocationFence
from streams.worker.stage_one import FaustTables, StageOne
from streams.worker.stage_two import StageTwo
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
            broker_session_timeout=settings.session_timeout_seconds,
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
        self._profile_dimensions = profile_lookup(self.profiles.get)
        self._profile_updates = ProfileUpdates(
            self.profiles,
            self._dead_letters,
            self.metrics,
            self._erase_customer,
            self._regroup_customer if policy.rank_within is not None else None,
        )
        self.app.on_partitions_revoked.connect(self._on_partitions_revoked)  # type: ignore[arg-type]  # Faust types receivers with a `signal` keyword; ours take it in **_
        self._fence = RevocationFence(
            TransactionGate(self.app) if settings.processing_guarantee == "exactly_once" else None
        )
        self.app.on_partitions_assigned.connect(self._on_partitions_assigned)  # type: ignore[arg-type]  # as above
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
            tier_names=policy.tier_names,
            dimensions=policy.metrics_dimensions,
        )
        self._stage_two = StageTwo(
            policy,
            partitions,
            self.ranked,
            self.progress,
            self._account_manager,
            self.tier_changes,
            self.observer,
            value_models_of(settings),
            self._profile_dimensions,
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
            self._send_untransacted,
            group_lookup(self._profile_dimensions, policy) if policy.rank_within else None,
        )
        self._assigned = False
        install_endpoints(self.app, registry, self.ready)
        install_customer_lookup(
            self.app,
            self.ranked,
            self.ready,
            Access.from_file(settings.access.tokens_file),
            self._account_manager,
        )
        self.app.task(self._sample_metrics)
        if settings.clock is Clock.WALL:
            self.app.task(self._tick_wall_clock)

    # --- topics -----------------------------------------------------------------------------

    @property
    def _input_topics(self) -> tuple[str, str]:
        """What stage 1 merges: each input, or its repartition topic."""
        return self.topology.stage_one_inputs

    def _label(self, topic: str) -> str:
        """The topic named in metrics: a repartition topic counts as its source input."""
        return self._source_of.get(topic, topic)

    async def _send_output(
        self, topic: str, key: bytes | None, value: bytes, partition: int
    ) -> None:
        await self._outputs[topic].send(key=key, value=value, partition=partition)

    async def _send_untransacted(
        self, topic: str, key: bytes | None, value: bytes, partition: int
    ) -> None:
        """Send with the app's plain producer, outside every transaction (visible at once
        to read_committed readers, whatever the partition commits later)."""
        await self.app.producer.send(topic, key, value, partition, None, None)

    async def _send_on(
        self,
        source: tuple[str, int],
        key: bytes | None,
        value: bytes,
        partition: int,
        headers: list[tuple[str, bytes]],
    ) -> None:
        """To the source's repartition topic, in the source partition's transaction."""
        if self._fence.gate is not None:
            topic = self._repartition_of[source[0]]
            await self._fence.gate.send_for(source, topic, key, value, partition, headers)
        else:
            await self._repartition_topics[source[0]].send(
                key=key, value=value, partition=partition, headers=headers
            )

    # --- group membership ---------------------------------------------------------------------

    async def _on_partitions_assigned(self, sender: Any, assigned: Any, **_: Any) -> None:
        self._assigned = True
        self._stage_two.request_rewind()

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
        gate = self._fence.gate
        async with self._fence.lock:
            self._fence.generation += 1
            if gate is not None:
                await gate.abort_open_transactions()
                forget_acks_of_revoked_partitions(self.app, revoked)
                forget_uncommitted_table_writes(self.app)
            if gate is not None:
                # The tables were emptied for recovery: every pipeline restores from them.
                self._stage_one.forget_all()
            self._stage_one.forget(tp.partition for tp in revoked)
            self._stage_zero.forget((tp.topic, tp.partition) for tp in revoked)
            if gate is not None:
                self._stage_two.forget_all()
            self._stage_two.forget(tp.partition for tp in revoked)
        self.observer.partitions_revoked(tp.partition for tp in revoked)
        self.observer.classifications(self._stage_two.rankers())

    # --- agents (each loop lives with its stage; all run under the revocation fence) ---------

    async def _measure_agent(self, stream: Any) -> None:
        settings = self.settings
        await self._stage_one.consume(
            stream, self._fence, settings.batch_records, settings.batch_seconds
        )

    async def _repartition_agent(self, stream: Any) -> None:
        await self._fence.each_record(stream, self._stage_zero.handle)

    async def _customers_agent(self, stream: Any) -> None:
        await self._fence.each_record(stream, self._profile_updates.apply)

    async def _erase_customer(self, event: Any, customer_id: str) -> None:
        """A tombstone on `customers` (co-partitioned with the inputs: its partition is the
        customer's): erase the customer from both stages and their tables, in the tombstone's
        transaction. Runs under the fence lock, between the stages' batches."""
        erased_through = self._stage_one.erase(event, customer_id)
        self._stage_two.erase(event.message.partition, customer_id, erased_through)
        self.observer.customer_erased(event.message.partition, customer_id)

    async def _regroup_customer(self, event: Any, customer_id: str) -> None:
        """A profile stored under `rank_within`: a customer whose ranking group changed is
        measured again at its partition's next boundary, and ranked in its new group."""
        self._stage_one.regroup(event, customer_id)

    async def _rank_agent(self, stream: Any) -> None:
        await self._stage_two.consume(stream, self._fence, self._assigned_measurements)

    def _assigned_measurements(self) -> set[int]:
        return {
            tp.partition
            for tp in self.app.assignor.assigned_actives()
            if tp.topic == self.topology.measurements
        }

    # --- tasks --------------------------------------------------------------------------------

    async def _read_ranks(self) -> None:
        await self._stage_two.read_ranks_topic(self.settings, self.topology.ranks)

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

    async def _tick_wall_clock(self) -> None:
        await tick_wall_clock(self.settings, self.topology.clock)


def create_worker(
    settings: Settings, policy: Policy, registry: CollectorRegistry | None = None
) -> Worker:
    """Build the worker's Faust app (tests build their own with their own settings)."""
    return Worker(settings, policy, registry or CollectorRegistry())
