"""Queued alerts per manager, sent beside the consume loop, never blocking it.

`enqueue` queues an alert for its manager and holds its record's offset. `flush` takes what
each idle manager's token bucket allows now (an alert alone while the bucket can cover the
queue, else one digest) and starts one task per manager that sends those messages in order
on every channel. A manager with a send in flight is not flushed again until it finishes:
what arrives meanwhile waits and leaves as a digest. So a slow receiver slows its own
deliveries, never the loop's heartbeat; the channels bound the sends in flight
(`Deliverer`), and `max_pending` held records bound the memory.

A record's offset is released when its alert is delivered or parked on every channel
(`OffsetTracker`), so a crash re-reads exactly the alerts not done yet.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections import defaultdict
from collections.abc import Callable, Hashable, Sequence

from streams.metrics import NotifierMetrics
from streams.notifier.channels import Channel
from streams.notifier.delivery import Deliverer, PendingAlert
from streams.notifier.health import Stopping
from streams.notifier.pacing import OffsetTracker, TokenBucket, plan_messages

__all__ = ["Dispatcher"]

log = logging.getLogger(__name__)


class Dispatcher:
    """Per-manager queues, rate limits and in-flight sends, and the offsets they hold."""

    def __init__(
        self,
        deliverer: Deliverer,
        channels: Sequence[Channel],
        metrics: NotifierMetrics,
        bucket: Callable[[], TokenBucket],
        digest_max: int,
    ) -> None:
        self._deliverer = deliverer
        self._channels = list(channels)
        self._metrics = metrics
        self._new_bucket = bucket
        self._digest_max = digest_max
        self._queues: dict[str, list[PendingAlert]] = defaultdict(list)
        self._buckets: dict[str, TokenBucket] = {}
        self._sending: dict[str, asyncio.Task[None]] = {}
        self.offsets = OffsetTracker()
        self.failure: BaseException | None = None

    def enqueue(self, pending: PendingAlert) -> None:
        """Queue an alert for its manager; its record's offset is held until it is done."""
        self._queues[pending.recipient.manager_id].append(pending)
        self.offsets.hold(pending.partition, pending.offset)

    def _take_messages(self, manager_id: str, now: float) -> list[list[PendingAlert]]:
        queue = self._queues[manager_id]
        bucket = self._buckets.setdefault(manager_id, self._new_bucket())
        messages: list[list[PendingAlert]] = []
        for size in plan_messages(len(queue), bucket, now, self._digest_max):
            messages.append(queue[:size])
            del queue[:size]
        if not queue:
            del self._queues[manager_id]
        return messages

    async def _deliver_manager(self, messages: list[list[PendingAlert]]) -> None:
        for items in messages:
            recipient = items[-1].recipient
            await asyncio.gather(
                *(self._deliverer.deliver(channel, items, recipient) for channel in self._channels)
            )
            for item in items:
                self.offsets.release(item.partition, item.offset)

    def _finished(self, manager_id: str, task: asyncio.Task[None]) -> None:
        if self._sending.get(manager_id) is task:
            del self._sending[manager_id]
        if task.cancelled():
            return
        error = task.exception()
        if error is not None and not isinstance(error, Stopping) and self.failure is None:
            # Deliveries park what they cannot send, so this is a bug: stop the process
            # visibly (the loop re-raises it) rather than hold the offsets for ever.
            log.error("a delivery task failed unexpectedly: %s", type(error).__name__)
            self.failure = error

    def flush(self, now: float) -> None:
        """Start the sends the rate limits allow now, one task per idle manager."""
        for manager_id in list(self._queues):
            if manager_id in self._sending:
                continue
            messages = self._take_messages(manager_id, now)
            if not messages:
                continue
            task = asyncio.create_task(self._deliver_manager(messages))
            self._sending[manager_id] = task
            task.add_done_callback(functools.partial(self._finished, manager_id))
        self._metrics.pending_alerts.set(sum(len(queue) for queue in self._queues.values()))
        # Forget managers whose bucket is full again: the map stays as small as the active set.
        for manager_id, bucket in list(self._buckets.items()):
            if manager_id not in self._queues and bucket.is_full(now):
                del self._buckets[manager_id]

    def poll_timeout_ms(self, now: float) -> int:
        """How long the loop may wait for records before the next flush is due (10–500 ms)."""
        waits = [
            self._buckets[manager].wait_time(now)
            for manager in self._queues
            if manager in self._buckets and manager not in self._sending
        ]
        if not waits:
            return 500
        return int(1000 * min(0.5, max(0.01, min(waits))))

    def idle(self) -> bool:
        """Nothing queued and nothing being sent."""
        return not self._queues and not self._sending

    def drop_customer(self, customer_id: str) -> int:
        """Drop the queued alerts of an erased customer; their records count as done (their
        offsets are released). A send already in flight finishes. Returns how many went."""
        dropped = 0
        for manager_id in list(self._queues):
            queue = self._queues[manager_id]
            kept = [item for item in queue if item.alert.event.customer_id != customer_id]
            for item in queue:
                if item.alert.event.customer_id == customer_id:
                    self.offsets.release(item.partition, item.offset)
                    dropped += 1
            if kept:
                self._queues[manager_id] = kept
            else:
                del self._queues[manager_id]
        return dropped

    def revoke(self, revoked: set[Hashable]) -> None:
        """Drop what is queued for revoked partitions (the new owner re-reads it)."""
        for manager_id in list(self._queues):
            kept = [i for i in self._queues[manager_id] if i.partition not in revoked]
            if kept:
                self._queues[manager_id] = kept
            else:
                del self._queues[manager_id]
        for tp in revoked:
            self.offsets.forget(tp)

    async def drain(self, timeout: float) -> None:
        """Wait up to `timeout` seconds for the sends in flight, then cancel the rest (their
        records are not committed, so the next start re-reads them)."""
        tasks = list(self._sending.values())
        if not tasks:
            return
        _, pending = await asyncio.wait(tasks, timeout=timeout)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
