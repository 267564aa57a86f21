"""The worker's metrics: WorkerMetrics kept in step with the two stages and the tables.

The stages call the `WorkerObserver` hooks (an event applied, an epoch closed, a boundary
ranked, partitions revoked); a periodic task (`sample_periodically`) samples what is cheaper
to read than to track (consumer lag, table sizes, stream time). Labels are topic names,
partitions, table names and enum members only: customer ids live in memory here (for the
latency) and never reach a label or a log line.

Event-to-TierChanged latency: for each customer, the time its latest event before a boundary
was consumed (Faust's `Message.time_in`, set when the record left the consumer) is kept
until the boundary is ranked; a TierChanged at that boundary observes now minus that time.
Changes with no event behind them (due-index, cut points, tier holds) and changes of
boundaries ranked after a restart (the times are in memory only) are not observed.

Tier transitions: each TierChanged whose `changes` include `tier`, and each first
classification, counts once under (from = previous tier or `none`, to = current tier). The
names come from the events and from the policy's tier names given at start (so a policy with
its own tier names needs no code change here), never from an enum.

Customers by dimension: for the policy's `metrics_dimensions` only, customers per
(dimension, value, tier) from the rankers' tallies (each customer under the profile it had
when last evaluated), each value admitted by `DimensionLabels` (at most 50 per dimension;
see streams/worker/dimensions.py for where the limit is checked).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from schemas import ChangedField, Direction, Lifecycle, Risk
from schemas.tier_changed import TierChanged
from streams.kafka.security import client_options
from streams.metrics import WorkerMetrics
from streams.pipeline.measure_stage import ClosedEpoch
from streams.pipeline.rank_stage import PartitionRanker
from streams.settings import Settings
from streams.worker.dimensions import DimensionLabels
from streams.worker.lag import LagReader
from tiering import Outcome

__all__ = [
    "DEAD_LETTER_ERROR_TYPES",
    "NO_TIER",
    "REEVALUATION_CAUSES",
    "WorkerObserver",
    "consumed_at",
    "sample_periodically",
]

log = logging.getLogger("tierstream.worker.metrics")

# What `streams.pipeline.decode` and the worker put in a dead letter's error_type.
DEAD_LETTER_ERROR_TYPES = (
    "json_invalid",
    "schema_invalid",
    "empty_value",
    "control_invalid",
    "key_mismatch",
    "key_missing",
)
REEVALUATION_CAUSES = ("event", "due", "cut_points")
# The `from` label of a first classification's tier transition (it had no tier before).
NO_TIER = "none"
# A table scan hands the event loop back this often (keys), so the agents keep running.
_SCAN_YIELD_EVERY = 5_000


def consumed_at(message: Any) -> float:
    """When Faust's consumer handed the record over (monotonic seconds), else now."""
    time_in = getattr(message, "time_in", None)
    return float(time_in) if time_in is not None else time.monotonic()


class WorkerObserver:
    """Hooks the worker calls, and the samples its periodic task takes."""

    def __init__(
        self,
        metrics: WorkerMetrics,
        input_topics: Sequence[str],
        tables: Mapping[str, Any],
        tier_names: Sequence[str] = (),
        dimensions: Sequence[str] = (),
    ) -> None:
        """`tier_names`: the policy's tiers (label values of the tier series made at start);
        `dimensions`: the policy's `metrics_dimensions` (the only ones that label a series)."""
        self.metrics = metrics
        self._input_topics = tuple(input_topics)
        self._tables = dict(tables)
        self._tier_names = tuple(tier_names)
        self._dimension_labels = DimensionLabels(dict.fromkeys(dimensions))
        # (dimension, value, tier) label sets exported so far: set to 0 when they empty.
        self._dimension_series: set[tuple[str, str, str]] = set()
        # partition -> customer -> monotonic time its latest event was consumed, until the
        # next boundary closes; then moved to `_waiting` under that boundary until ranked.
        self._consumed: dict[int, dict[str, float]] = {}
        self._waiting: dict[tuple[int, datetime], dict[str, float]] = {}
        self._precreate()

    def _precreate(self) -> None:
        """Every label set the dashboard and the rules select, at zero, so that rate() and
        ratios have series from the first scrape on."""
        m = self.metrics
        for topic in self._input_topics:
            for outcome in (*(o.value for o in Outcome), "invalid"):
                m.events_consumed.labels(topic=topic, outcome=outcome)
            for error_type in DEAD_LETTER_ERROR_TYPES:
                m.dead_letters.labels(topic=topic, error_type=error_type)
        for field in ChangedField:
            for direction in Direction:
                m.tier_changes.labels(field=field.value, direction=direction.value)
        # Every move between two different tiers and every first tier: n² series for n tiers.
        for to in self._tier_names:
            for source in (NO_TIER, *self._tier_names):
                if source != to:
                    m.tier_transitions.labels(source, to)
        for cause in REEVALUATION_CAUSES:
            m.customers_reevaluated.labels(cause=cause)
        self.classifications(())
        for table in self._tables:
            m.table_keys.labels(table=table).set(0)
            m.state_bytes.labels(table=table).set(0)

    # --- stage 1 ----------------------------------------------------------------------------

    def event_applied(self, partition: int, customer_id: str, consumed: float) -> None:
        """An event was applied to a customer's state; it will be measured at the next
        boundary of its partition."""
        self._consumed.setdefault(partition, {})[customer_id] = consumed

    def customer_erased(self, partition: int, customer_id: str) -> None:
        """Drop the latency marks of an erased customer (its id must not stay in memory)."""
        self._consumed.get(partition, {}).pop(customer_id, None)
        for (marked, _), waiting in self._waiting.items():
            if marked == partition:
                waiting.pop(customer_id, None)

    def epoch_closed(self, partition: int, epoch: ClosedEpoch) -> None:
        """A boundary of a partition closed: its measured customers wait for the ranking."""
        for cause, count in epoch.causes.items():
            self.metrics.customers_reevaluated.labels(cause=cause).inc(count)
        consumed = self._consumed.get(partition, {})
        waiting = {
            m.customer_id: consumed.pop(m.customer_id)
            for m in epoch.measurements
            if m.customer_id in consumed
        }
        if waiting:
            self._waiting[(partition, epoch.boundary)] = waiting

    # --- stage 2 ----------------------------------------------------------------------------

    def boundary_ranked(
        self,
        partition: int,
        boundary: datetime,
        changes: Iterable[TierChanged],
        ranker: PartitionRanker,
        duration: float,
    ) -> None:
        """A boundary was ranked in `duration` seconds and its TierChanged events were sent."""
        m = self.metrics
        m.sweep_duration.observe(duration)
        for cause, count in ranker.causes.items():
            m.customers_reevaluated.labels(cause=cause).inc(count)
        waiting = self._waiting.pop((partition, boundary), {})
        now = time.monotonic()
        for change in changes:
            for field in change.changes:
                m.tier_changes.labels(field=field.value, direction=change.direction.value).inc()
            self._count_transition(change)
            consumed = waiting.get(change.customer_id)
            if consumed is not None:
                m.event_to_change_latency.observe(max(0.0, now - consumed))
        self.boundary_done(partition, boundary)

    def _count_transition(self, change: TierChanged) -> None:
        """One count under (previous tier or `none`, current tier) when the tier was set or
        moved; a change of risk, lifecycle or segment alone is no transition."""
        if change.previous is None:
            source = NO_TIER
        elif ChangedField.TIER in change.changes:
            source = str(change.previous.tier)
        else:
            return
        self.metrics.tier_transitions.labels(source, str(change.current.tier)).inc()

    def boundary_done(self, partition: int, boundary: datetime) -> None:
        """Forget the latency marks of a partition's boundaries up to `boundary` (ranked now
        or before a restart)."""
        for key in [k for k in self._waiting if k[0] == partition and k[1] <= boundary]:
            del self._waiting[key]

    def classifications(self, rankers: Iterable[PartitionRanker]) -> None:
        """Set the customer gauges from the rankers of the locally owned partitions."""
        # Tier names are the policy's: every ranker reports each of them (with 0s).
        tiers = dict.fromkeys(self._tier_names, 0)
        risks = dict.fromkeys(Risk, 0)
        lifecycles = dict.fromkeys(Lifecycle, 0)
        # Keyed by tier name: the policy's names at zero, then whatever the counts hold.
        monetary = dict.fromkeys(self._tier_names, Decimal(0))
        by_dimension: dict[tuple[str, str, str], int] = {}
        for ranker in rankers:
            counts = ranker.counts()
            for tier, count in counts.tiers.items():
                tiers[tier] = tiers.get(tier, 0) + count
            for risk, count in counts.risks.items():
                risks[risk] += count
            for stage, count in counts.lifecycles.items():
                lifecycles[stage] += count
            for tier, amount in counts.monetary_by_tier.items():
                monetary[tier] = monetary.get(tier, Decimal(0)) + amount
            for key, count in counts.by_dimension.items():
                by_dimension[key] = by_dimension.get(key, 0) + count
        m = self.metrics
        for tier, count in tiers.items():
            m.customers_by_tier.labels(tier=tier).set(count)
        # Amounts, not shares: a share per worker cannot be pooled across workers, a sum can.
        for name, amount in monetary.items():
            m.monetary_by_tier.labels(tier=name).set(float(amount))
        for risk in Risk:
            m.customers_by_risk.labels(risk=risk.value).set(risks[risk])
        for stage in Lifecycle:
            m.customers_by_lifecycle.labels(lifecycle=stage.value).set(lifecycles[stage])
        self._dimension_counts(by_dimension)

    def _dimension_counts(self, by_dimension: Mapping[tuple[str, str, str], int]) -> None:
        """Set the by-dimension gauge: admitted values get their counts, series that had
        customers and have none now go to 0, refused values are only counted as refused."""
        labels = self._dimension_labels
        admitted = {
            key: count
            for key, count in sorted(by_dimension.items())
            if labels.admit(key[0], key[1])
        }
        gauge = self.metrics.customers_by_dimension
        for dimension, value, tier in self._dimension_series - set(admitted):
            gauge.labels(dimension=dimension, value=value, tier=tier).set(0)
        for (dimension, value, tier), count in admitted.items():
            gauge.labels(dimension=dimension, value=value, tier=tier).set(count)
        self._dimension_series |= set(admitted)
        for dimension in labels.dimensions:
            unlabelled = labels.refused(dimension)
            self.metrics.dimension_values_unlabelled.labels(dimension=dimension).set(unlabelled)

    def partitions_revoked(self, partitions: Iterable[int]) -> None:
        """Forget what revoked partitions left here (their next owner reports them)."""
        gone = set(partitions)
        for partition in gone:
            self._consumed.pop(partition, None)
        for key in [k for k in self._waiting if k[0] in gone]:
            del self._waiting[key]

    # --- periodic samples ---------------------------------------------------------------------

    def stream_time(self, stream_times: Iterable[datetime | None]) -> None:
        """Stream time of the most advanced local partition (left as is when none has one)."""
        known = [instant for instant in stream_times if instant is not None]
        if known:
            self.metrics.stream_time.set(max(known).timestamp())

    def lag(
        self,
        ends: Mapping[tuple[str, int], int],
        committed: Mapping[tuple[str, int], int | None],
        beginnings: Mapping[tuple[str, int], int],
        previous: Iterable[tuple[str, int]] = (),
    ) -> None:
        """Lag per assigned input partition: end offset minus committed offset (the start of
        the log when the group has committed nothing there). Partitions no longer assigned
        (`previous` but not in `ends`) are removed."""
        gauge = self.metrics.consumer_lag
        for topic, partition in set(previous) - set(ends):
            with contextlib.suppress(KeyError):
                gauge.remove(topic, str(partition))
        for key, end in ends.items():
            position = committed.get(key)
            if position is None or position < 0:
                position = beginnings.get(key, 0)
            gauge.labels(topic=key[0], partition=str(key[1])).set(max(0, end - position))

    async def sample_tables(self, memory_store: bool) -> None:
        """Keys and key+value bytes held in each table's local store.

        A scan, so it runs every few seconds and yields to the agents every few thousand
        keys; a memory store (tests) is copied first, since the agents change it meanwhile.
        """
        for name, table in self._tables.items():
            items: Iterable[tuple[Any, Any]] = table.data.items()
            if memory_store:
                items = list(items)
            keys = size = 0
            try:
                for key, value in items:
                    keys += 1
                    size += len(key) + len(value)
                    if keys % _SCAN_YIELD_EVERY == 0:
                        await asyncio.sleep(0)
            except Exception:  # a rebalance closed the store mid-scan: keep the last sample
                log.debug("table %s changed during its scan; sample skipped", name)
                continue
            self.metrics.table_keys.labels(table=name).set(keys)
            self.metrics.state_bytes.labels(table=name).set(size)


async def sample_periodically(
    settings: Settings,
    observer: WorkerObserver,
    assigned_inputs: Callable[[], list[tuple[str, int]]],
    stream_times: Callable[[], Iterable[datetime | None]],
) -> None:
    """Every `metrics_interval_seconds`: consumer lag of the assigned input partitions
    (`assigned_inputs()`, as (topic, partition)), table sizes, stream time. A failed lag
    read is logged and retried at the next sample."""
    from aiokafka.errors import KafkaError

    reader = LagReader(
        settings.kafka.bootstrap,
        settings.app_id,
        read_committed=settings.processing_guarantee == "exactly_once",
        client_options=client_options(settings.kafka),
    )
    await reader.start()
    reported: set[tuple[str, int]] = set()
    try:
        while True:
            assigned = assigned_inputs()
            try:
                offsets = await reader.read(assigned)
            except KafkaError as error:
                log.warning("consumer lag not sampled: %s", type(error).__name__)
            else:
                observer.lag(offsets.ends, offsets.committed, offsets.beginnings, reported)
                reported = set(offsets.ends)
            await observer.sample_tables(settings.store.startswith("memory"))
            observer.stream_time(stream_times())
            await asyncio.sleep(settings.metrics_interval_seconds)
    finally:
        await reader.stop()
