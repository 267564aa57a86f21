"""Stage 1 in the Faust worker: batches of records into `streams.pipeline.partition`, its
table writes into Faust tables, its outputs to their topics, then the acks.

Faust is the transport here: the consumer group and assignment, changelog-backed tables,
transactions (through the TransactionGate under exactly_once), and the batches of
`Stream.noack_take`. Everything stage 1 decides is the pure pipeline's.
"""

from __future__ import annotations

import logging
import weakref
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from typing import Any

from faust.streams import _current_event

from streams.metrics import WorkerMetrics
from streams.pipeline.measure_stage import ClosedEpoch, GroupLookup
from streams.pipeline.partition import MeasurePipeline
from streams.pipeline.ranks import PartitionStopped
from streams.pipeline.records import (
    BatchResult,
    InputRecord,
    StageOneTopics,
)
from streams.worker.observe import WorkerObserver, consumed_at
from streams.worker.revocation_fence import RevocationFence
from tiering import Policy

__all__ = ["FaustTables", "StageOne"]

log = logging.getLogger("tierstream.worker")


class FaustTables:
    """The pipeline's `StateStore` over the worker's Faust tables (raw bytes keys/values)."""

    def __init__(self, tables: Mapping[str, Any]) -> None:
        self._tables = tables

    def get(self, table: str, key: bytes) -> bytes | None:
        value: bytes | None = self._tables[table].get(key)
        return value

    def items(self, table: str) -> Iterable[tuple[bytes, bytes]]:
        return list(self._tables[table].items())

    def write(self, writes: Mapping[str, Mapping[bytes, bytes | None]]) -> None:
        """Apply one batch's writes (the current event must be of the batch's partition:
        Faust picks the changelog partition and the RocksDB partition from it)."""
        for name, entries in writes.items():
            table = self._tables[name]
            for key, value in entries.items():
                if value is not None:
                    table[key] = value
                elif key in table:
                    del table[key]


@contextmanager
def _as_current_event(event: Any) -> Iterator[None]:
    """Make `event` Faust's current event, as while an agent iterates it: table writes go
    to its partition's changelog and store."""
    token = _current_event.set(weakref.ref(event))
    try:
        yield
    finally:
        _current_event.reset(token)


class _Listener:
    """The pipeline's metric hooks, forwarded to the worker's observer."""

    def __init__(self, observer: WorkerObserver, partition: int) -> None:
        self._observer = observer
        self._partition = partition
        self.consumed: dict[tuple[str, int], float] = {}

    def event_applied(self, record: InputRecord, customer_id: str) -> None:
        consumed = self.consumed.get((record.topic, record.offset))
        if consumed is not None:
            self._observer.event_applied(self._partition, customer_id, consumed)

    def epoch_closed(self, epoch: ClosedEpoch) -> None:
        self._observer.epoch_closed(self._partition, epoch)


class StageOne:
    """The assigned partitions' stage-1 pipelines and how a batch of Faust events runs."""

    def __init__(
        self,
        policy: Policy,
        topics: StageOneTopics,
        epoch_seconds: int,
        tables: FaustTables,
        send: Callable[[str, bytes | None, bytes, int], Any],
        metrics: WorkerMetrics,
        observer: WorkerObserver,
        label: Callable[[str], str],
        send_untransacted: Callable[[str, bytes | None, bytes, int], Any] | None = None,
        groups: GroupLookup | None = None,
    ) -> None:
        """`send` puts a record into the transaction of its partition (under exactly_once);
        `send_untransacted` sends outside any transaction (default: `send`), for the stop
        announcement that no later commit of the stopped partition would carry; `groups`:
        the ranking group of a customer under the policy's `rank_within` (read from the
        co-partitioned `profiles` table when the customer is measured)."""
        self._policy = policy
        self._topics = topics
        self._epoch_seconds = epoch_seconds
        self._tables = tables
        self._send = send
        self._send_untransacted = send_untransacted or send
        self._metrics = metrics
        self._observer = observer
        self._label = label
        self._groups = groups
        self._pipelines: dict[int, tuple[MeasurePipeline, _Listener]] = {}
        # Partitions stopped by an unexpected error -> (topic, offset) of the record.
        self.stopped: dict[int, tuple[str, int]] = {}

    async def consume(
        self, stream: Any, fence: RevocationFence, batch_records: int, batch_seconds: float
    ) -> None:  # StreamT lacks noack()
        """The `measure` agent: batches of input records through each partition's pure
        pipeline; acked once their writes and outputs are handed to Faust, so they commit
        together."""
        manual: Any = stream.noack()
        taken_now = fence.track_taken(manual)
        async for events in manual.noack_take(batch_records, batch_seconds):
            fence.install_gate()
            async with fence.lock:
                current = [event for event in events if taken_now(event)]
                for event in await self.process(current) if current else ():
                    await manual.ack(event)

    def stream_times(self) -> list[datetime | None]:
        """Each assigned partition's stream time (for the metrics sampler)."""
        return [pipeline.measurer.stream_time for pipeline, _ in self._pipelines.values()]

    def forget(self, partitions: Iterable[int]) -> None:
        """Drop pipelines (revoked partitions, or everything after an abort): the next batch
        of a partition rebuilds its pipeline from the tables."""
        for partition in partitions:
            self._pipelines.pop(partition, None)
            self.stopped.pop(partition, None)
            with suppress(KeyError):  # a partition never processed here has no series
                self._metrics.partitions_stopped.remove(str(partition))

    def forget_all(self) -> None:
        """Drop every pipeline and every stop: the consumer re-delivers from the committed
        offsets, and a record that stopped a partition stops it again."""
        self._pipelines.clear()
        for partition in list(self.stopped):
            self._resume(partition)

    def erase(self, event: Any, customer_id: str) -> datetime | None:
        """Erase a customer from stage 1 of the partition of `event` (its tombstone on the
        co-partitioned `customers` topic): the pipeline forgets it, and its table records are
        deleted in that partition's changelog, in the tombstone's transaction. Returns the
        partition's last closed boundary at the erase (for stage 2)."""
        partition = event.message.partition
        pipeline, _ = self._pipeline(partition)
        erasure = pipeline.erase(customer_id)
        with _as_current_event(event):
            self._tables.write(erasure.writes)
        if partition in self.stopped:
            # A stopped partition keeps no pipeline: it restores from the tables when resumed.
            self._pipelines.pop(partition, None)
        return erasure.erased_through

    def regroup(self, event: Any, customer_id: str) -> None:
        """A profile of the customer was stored (on the co-partitioned `customers` topic):
        under `rank_within`, a customer whose ranking group changed is marked for its
        partition's next close, in the profile's transaction. A stopped partition is left
        alone: restored later, it reads the profile at the customer's next measurement."""
        partition = event.message.partition
        if partition in self.stopped:
            return
        pipeline, _ = self._pipeline(partition)
        writes = pipeline.regroup(customer_id)
        if writes:
            with _as_current_event(event):
                self._tables.write(writes)

    def _resume(self, partition: int) -> None:
        if self.stopped.pop(partition, None) is not None:
            self._metrics.partitions_stopped.labels(partition=str(partition)).set(0)

    def _pipeline(self, partition: int) -> tuple[MeasurePipeline, _Listener]:
        if partition not in self._pipelines:
            listener = _Listener(self._observer, partition)
            pipeline = MeasurePipeline(
                partition,
                self._policy,
                self._topics,
                self._epoch_seconds,
                self._tables,
                listener,
                self._groups,
            )
            # 0 for every partition this worker runs, so the series exist before any stop.
            self._metrics.partitions_stopped.labels(partition=str(partition)).set(0)
            if pipeline.measurer.stream_time is not None:
                log.info("partition %d restored at %s", partition, pipeline.measurer.stream_time)
            self._pipelines[partition] = (pipeline, listener)
        return self._pipelines[partition]

    async def process(self, events: Sequence[Any]) -> list[Any]:
        """Run a batch of Faust events (any assigned partitions): per partition, one pipeline
        call, its writes, then its outputs. Returns the events to ack: all of them, except
        those of a partition an unexpected error stopped (from its failing record on)."""
        by_partition: dict[int, list[Any]] = defaultdict(list)
        for event in events:
            by_partition[event.message.partition].append(event)
        now = datetime.now(UTC)
        done: list[Any] = []
        for partition, partition_events in by_partition.items():
            if partition in self.stopped:
                continue
            try:
                await self._run(partition, partition_events, now)
            except Exception:  # isolate the partition; the cause is logged
                # The failed call wrote and sent nothing (the pipeline is pure and its results
                # are applied after it returns). Find the record: one record per call, the
                # same results as the batch, up to the one that fails.
                self._pipelines.pop(partition, None)
                for index, event in enumerate(partition_events):
                    try:
                        await self._run(partition, [event], now)
                    except Exception as error:
                        await self._stop(partition, event, error)
                        done.extend(partition_events[:index])
                        break
                else:  # pragma: no cover  # the batch failed but no single record does
                    done.extend(partition_events)
                continue
            done.extend(partition_events)
        return done

    async def _run(self, partition: int, events: Sequence[Any], now: datetime) -> None:
        pipeline, listener = self._pipeline(partition)
        listener.consumed = {
            (event.message.topic, event.message.offset): consumed_at(event.message)
            for event in events
        }
        result = pipeline.process([_record(event) for event in events], now)
        with _as_current_event(events[-1]):
            self._tables.write(result.writes)
        for output in result.outputs:
            await self._send(output.topic, output.key, output.value, output.partition)
        self._count(result)

    async def _stop(self, partition: int, event: Any, error: Exception) -> None:
        """Stop a partition at the record that failed: visible in readiness, a metric and
        one log line (the error type only: its message may quote customer data), and
        announced on the ranks topic so that no rank barrier waits for it meanwhile."""
        message = event.message
        self._pipelines.pop(partition, None)
        self.stopped[partition] = (message.topic, message.offset)
        self._metrics.partitions_stopped.labels(partition=str(partition)).set(1)
        stop = PartitionStopped(partition=partition, topic=message.topic, offset=message.offset)
        await self._send_untransacted(
            self._topics.ranks, str(partition).encode(), stop.model_dump_json().encode(), partition
        )
        log.error(
            "partition %d stopped at %s offset %d by an unexpected %s; its records stay "
            "uncommitted until a fixed worker takes the partition",
            partition,
            message.topic,
            message.offset,
            type(error).__name__,
        )

    def _count(self, result: BatchResult) -> None:
        metrics = self._metrics
        for (topic, outcome), count in result.outcomes.items():
            metrics.events_consumed.labels(topic=self._label(topic), outcome=outcome).inc(count)
        for (topic, error_type), count in result.dead_letters.items():
            metrics.dead_letters.labels(topic=self._label(topic), error_type=error_type).inc(count)


def _record(event: Any) -> InputRecord:
    message = event.message
    headers = message.headers or ()
    if isinstance(headers, Mapping):
        headers = headers.items()
    return InputRecord(
        message.topic,
        message.partition,
        message.offset,
        message.key,
        message.value,
        tuple((name, bytes(value)) for name, value in headers),
    )
