"""Make Faust's exactly_once transactions hold whole records, table writes included.

faust-streaming 0.15.3 writes table changes through a producer buffer (`send_soon`) that a
background task drains, and commits a transaction without draining it first (the flush added
by faust-streaming PR #273 is on the at-least-once path only). A table write can therefore
land in the transaction *after* the one that holds the output and the offset it belongs to;
a SIGKILL between the two commits leaves the output committed and the table rolled back, and
the restarted worker emits the output again. The worker's restart test caught exactly that.

The gate closes the hole from outside Faust: agents process each record (or batch) while
holding the gate's lock, and every commit first takes the lock (so it falls between batches)
and waits until the buffer is empty and no buffered send is in flight. The lock is taken
around Faust's `Consumer.force_commit`, before Faust reads which offsets are acknowledged:
taken later (around the transaction commit alone), a batch processed while the commit waited
for the lock put its outputs into the transaction being committed, with offsets read before
it; after a crash the batch ran again and its outputs were committed twice. It also makes
sends to topics the app does not consume transactional (see `install`).
"""

from __future__ import annotations

import asyncio
from typing import Any

from faust.transport.producer import ProducerBuffer

__all__ = ["TransactionGate"]

_IN_FLIGHT = "_tierstream_in_flight"


def _count_in_flight_sends() -> None:
    """Patch ProducerBuffer once so that a send taken off the queue but not yet handed to the
    Kafka client is visible (the queue alone looks empty then)."""
    if getattr(ProducerBuffer, "_tierstream_counted", False):
        return
    original = ProducerBuffer._send_pending

    async def send_pending(self: ProducerBuffer, fut: Any) -> None:
        setattr(self, _IN_FLIGHT, getattr(self, _IN_FLIGHT, 0) + 1)
        try:
            await original(self, fut)
        finally:
            setattr(self, _IN_FLIGHT, getattr(self, _IN_FLIGHT) - 1)

    ProducerBuffer._send_pending = send_pending  # type: ignore[method-assign]
    ProducerBuffer._tierstream_counted = True  # type: ignore[attr-defined]


class TransactionGate:
    """A lock shared by the agents and the transaction commit of one Faust app."""

    def __init__(self, app: Any) -> None:
        _count_in_flight_sends()  # before the app starts its buffer task
        self._app = app
        self.lock = asyncio.Lock()
        self._installed = False

    def install(self) -> None:
        """Wrap the app's commit (once the consumer exists; idempotent)."""
        if self._installed:
            return
        consumer = self._app.consumer
        original_force_commit = consumer.force_commit

        async def force_commit(topics: Any = None, start_new_transaction: bool = True) -> bool:
            # Every commit path (timer, rebalance, commit_and_end_transactions) goes through
            # force_commit, which reads the acknowledged offsets and then commits them with
            # the open transactions: both under the lock, after the buffer drained.
            async with self.lock:
                await self._drained()
                result: bool = await original_force_commit(
                    topics, start_new_transaction=start_new_transaction
                )
                return result

        consumer.force_commit = force_commit

        # The transaction of a send is chosen from the destination partition, which Faust
        # looks up in the *consumer's* metadata: for a topic the app writes but does not
        # read (tier-changes, the DLQ, rank summaries) it finds none and sends outside any
        # transaction. Every send of the worker names its partition, so trust it.
        original_key_partition = consumer.key_partition

        def key_partition(topic: str, key: bytes | None, partition: int | None = None) -> Any:
            if partition is not None:
                return partition
            return original_key_partition(topic, key, partition)

        consumer.key_partition = key_partition
        self._installed = True

    async def send_for(
        self,
        source: tuple[str, int],
        topic: str,
        key: bytes | None,
        value: bytes,
        partition: int,
        headers: list[tuple[str, bytes]],
    ) -> None:
        """Send a record to any `partition` of `topic` inside the transaction of the source
        (topic, partition) being processed, so it commits with that source's offsets.

        Faust would choose the transaction of the destination partition, which commits with
        that partition's offsets only: stage 0's repartitioned records would then commit
        apart from the source offsets they came from (lost or repeated after a crash).
        """
        app = self._app
        source_topic, source_partition = source
        group = app.assignor.group_for_topic(source_topic)
        transactional_id = f"{app.conf.id}-{group}-{source_partition}"
        await app.producer.send(
            topic, key, value, partition, None, headers, transactional_id=transactional_id
        )

    async def abort_open_transactions(self) -> None:
        """Abort every open transaction of the app and begin a fresh one in its place.

        Call while holding `lock`, when partitions are revoked. Faust keeps a transaction
        open across a rebalance: the outputs and table writes of records that were processed
        but not committed before it would commit later, with the same records' outputs a
        second time once the consumer has gone back to the committed offsets. Aborted, only
        the committed offsets, changelogs and outputs remain, and they agree.
        """
        await self._drained()
        producer = self._app.producer
        for transactional_id, transactional in list(producer._transaction_producers.items()):
            async with producer._trn_locks[transactional_id]:
                if transactional._txn_manager.is_in_transaction():
                    await transactional.abort_transaction()
                    await transactional.begin_transaction()

    async def _drained(self) -> None:
        buffer = self._app.producer.buffer
        while buffer.size or getattr(buffer, _IN_FLIGHT, 0):
            await asyncio.sleep(0.001)
