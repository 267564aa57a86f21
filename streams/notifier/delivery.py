"""Delivering alerts: idempotent per channel, retried with backoff, parked when undeliverable.

Idempotency: a key `{prefix}:sent:{channel}:{event_id}` (with a TTL) is written once an
alert was delivered (value `sent`) or parked (value `parked`) on that channel; live delivery
skips an alert with either mark. For push channels (webhook, e-mail) the mark is written
*after* the delivery succeeded, so a crash in between re-sends on restart with the same
idempotency key (at-least-once, receiver de-duplicates). `replay` resends parked alerts
unless marked `sent`, and marks what it sent `sent`, so two replays (or a replay that
crashed before dropping its entry) send each alert once.

Whatever a channel raises, an alert ends delivered or parked with the reason: an exception
that is not a `DeliveryError` (a hostile value the channel cannot encode, a library bug) is
a permanent failure. Redis operations wait out an outage (`RedisGuard`), never failing a
delivery. At most `concurrency` sends are in flight per channel.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, TypeVar

from streams.metrics import NotifierMetrics
from streams.notifier.channels import Channel
from streams.notifier.exceptions import DeliveryError, PermanentDeliveryError
from streams.notifier.keys import Keys, text
from streams.notifier.pacing import Backoff
from streams.notifier.parking import SENT, ParkedEntry, ParkedStore
from streams.notifier.render import Message, render
from streams.notifier.routing import UNROUTED, Recipient
from streams.notifier.rules import Alert

if TYPE_CHECKING:
    import redis.asyncio as redis_async

    from streams.notifier.health import RedisGuard

__all__ = [
    "Clock",
    "Deliverer",
    "ParkedEntry",
    "PendingAlert",
    "SystemClock",
]

log = logging.getLogger(__name__)

T = TypeVar("T")


class Clock(Protocol):
    """Time as the notifier sees it; tests pass a fast one."""

    def time(self) -> float:
        """Unix seconds (signatures)."""
        ...

    def monotonic(self) -> float:
        """Seconds on a monotonic clock (rate limits, latency)."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait."""
        ...


class SystemClock:
    """The real clock."""

    def time(self) -> float:
        """Unix seconds."""
        return time.time()

    def monotonic(self) -> float:
        """Monotonic seconds."""
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        """asyncio.sleep."""
        await asyncio.sleep(seconds)


@dataclass(frozen=True, slots=True)
class PendingAlert:
    """An alert waiting for delivery, and where it came from (to commit its offset later)."""

    alert: Alert
    recipient: Recipient
    consumed_at: float
    partition: Hashable = 0
    offset: int = 0


class Deliverer:
    """Pushes messages to one channel at a time with retries, marks and parking."""

    def __init__(
        self,
        client: redis_async.Redis,
        keys: Keys,
        metrics: NotifierMetrics,
        backoff: Backoff,
        ttl_seconds: int,
        clock: Clock,
        rng: random.Random | None = None,
        *,
        parked_max_entries: int = 10_000,
        concurrency: int = 8,
        guard: RedisGuard | None = None,
    ) -> None:
        self._client = client
        self._keys = keys
        self._metrics = metrics
        self._backoff = backoff
        self._ttl = ttl_seconds
        self._clock = clock
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not a secret
        self._concurrency = concurrency
        self._slots: dict[str, asyncio.Semaphore] = {}
        self._guard = guard
        self.store = ParkedStore(client, keys, metrics, ttl_seconds, parked_max_entries)

    async def _redis(self, operation: Callable[[], Awaitable[T]], beat: bool = False) -> T:
        # Live delivery waits out a Redis outage; the CLI (no guard) fails fast instead.
        if self._guard is None:
            return await operation()
        return await self._guard.call(operation, beat=beat)

    async def _marks(
        self, channel: str, event_ids: Sequence[str], beat: bool = False
    ) -> dict[str, str]:
        if not event_ids:
            return {}
        names = [self._keys.sent(channel, eid) for eid in event_ids]
        values = await self._redis(lambda: self._client.mget(names), beat)
        return {
            eid: text(value)
            for eid, value in zip(event_ids, values, strict=True)
            if value is not None
        }

    async def marked(
        self, channel: str, event_ids: Sequence[str], *, beat: bool = False
    ) -> set[str]:
        """The event ids already delivered or parked on `channel` (`beat`: the caller is the
        consume loop, alive while it waits for Redis)."""
        return set(await self._marks(channel, event_ids, beat))

    async def mark(
        self, channel: str, event_ids: Sequence[str], value: str = SENT, *, overwrite: bool = False
    ) -> None:
        """Record that these alerts are done (`sent` or `parked`) on `channel`."""

        async def write() -> None:
            async with self._client.pipeline(transaction=False) as pipe:
                for event_id in event_ids:
                    key = self._keys.sent(channel, event_id)
                    pipe.set(key, value, nx=not overwrite, ex=self._ttl)
                await pipe.execute()

        if event_ids:
            await self._redis(write)

    def _slot(self, channel: str) -> asyncio.Semaphore:
        return self._slots.setdefault(channel, asyncio.Semaphore(self._concurrency))

    async def _attempt(self, channel: Channel, message: Message, recipient: Recipient) -> None:
        async with self._slot(channel.name):
            try:
                await channel.send(message, recipient)
            except DeliveryError:
                raise
            except Exception as error:
                # Not a failure the channel foresaw: retrying the same bytes cannot help.
                raise PermanentDeliveryError(
                    f"{channel.name}: {type(error).__name__} while sending (not retried)"
                ) from error

    async def _send_with_retries(
        self, channel: Channel, alerts: Sequence[Alert], recipient: Recipient
    ) -> tuple[DeliveryError | None, int]:
        try:
            message = render(alerts, recipient)
        except Exception as error:
            return PermanentDeliveryError(f"render: {type(error).__name__}"), 0
        attempt = 0
        while True:
            attempt += 1
            try:
                await self._attempt(channel, message, recipient)
                return None, attempt
            except DeliveryError as error:
                self._metrics.alerts.labels(channel=channel.name, outcome="failed").inc(len(alerts))
                log.warning("delivery attempt %d on %s failed: %s", attempt, channel.name, error)
                if (
                    isinstance(error, PermanentDeliveryError)
                    or attempt >= self._backoff.max_attempts
                ):
                    return error, attempt
                await self._clock.sleep(self._backoff.delay(attempt, self._rng))

    async def deliver(
        self, channel: Channel, items: Sequence[PendingAlert], recipient: Recipient
    ) -> None:
        """Deliver the not-yet-sent alerts of `items` as one message (a digest if several);
        park them if that fails for good. Returns once each is delivered, parked or skipped."""
        sent = await self.marked(channel.name, [item.alert.event_id for item in items])
        todo = [item for item in items if item.alert.event_id not in sent]
        if len(todo) < len(items):
            self._metrics.alerts.labels(channel=channel.name, outcome="duplicate").inc(
                len(items) - len(todo)
            )
        if not todo:
            return
        if not channel.accepts(recipient):
            self._metrics.alerts.labels(channel=channel.name, outcome="skipped").inc(len(todo))
            return
        alerts = [item.alert for item in todo]
        error, attempts = await self._send_with_retries(channel, alerts, recipient)
        if error is not None:
            await self.park(channel.name, alerts, recipient, str(error), attempts)
            return
        await self.mark(channel.name, [alert.event_id for alert in alerts])
        self._metrics.alerts.labels(channel=channel.name, outcome="sent").inc(len(alerts))
        now = self._clock.monotonic()
        for item in todo:
            self._metrics.delivery_latency.labels(channel=channel.name).observe(
                max(0.0, now - item.consumed_at)
            )

    async def park(
        self,
        channel: str,
        alerts: Sequence[Alert],
        recipient: Recipient,
        error: str,
        attempts: int,
        *,
        beat: bool = False,
    ) -> None:
        """Park an undeliverable message and mark its alerts `parked`, in one step."""
        await self._redis(lambda: self.store.add(channel, alerts, recipient, error, attempts), beat)

    async def parked(self, count: int = 1000) -> list[ParkedEntry]:
        """The oldest `count` parked deliveries."""
        return await self.store.listing(count)

    async def replay(
        self, channels: Sequence[Channel], fallback: Recipient | None = None
    ) -> tuple[int, int]:
        """Resend every parked message on its channel; returns (resent, still failing).

        Alerts already marked `sent` on the channel are not sent again; what is sent is
        marked `sent`. A resent entry leaves the parked stream; one that fails again stays,
        with the new error appended, for the next replay. Alerts parked as unroutable go to
        `fallback` (the default owner configured now), or stay parked without one.
        """
        by_name = {channel.name: channel for channel in channels}
        resent = failing = 0
        for entry in await self.store.entries():
            channel = by_name.get(entry.fields["channel"])
            if channel is None:
                failing += 1
                continue
            recipient = entry.recipient
            if recipient.manager_id == UNROUTED:
                if fallback is None:
                    failing += 1
                    continue
                recipient = fallback
            marks = await self._marks(channel.name, [alert.event_id for alert in entry.alerts])
            alerts = [alert for alert in entry.alerts if marks.get(alert.event_id) != SENT]
            if len(alerts) < len(entry.alerts):
                self._metrics.alerts.labels(channel=channel.name, outcome="duplicate").inc(
                    len(entry.alerts) - len(alerts)
                )
            error, attempts = (None, 0)
            if alerts:
                error, attempts = await self._send_with_retries(channel, alerts, recipient)
            if error is None:
                ids = [alert.event_id for alert in alerts]
                await self.mark(channel.name, ids, SENT, overwrite=True)
                await self.store.remove(entry.entry_id)
                self._metrics.alerts.labels(channel=channel.name, outcome="sent").inc(len(alerts))
                resent += 1
            else:
                updated = {
                    **entry.fields,
                    "error": f"{entry.fields['error']}; replay: {error}",
                    "attempts": str(int(entry.fields["attempts"]) + attempts),
                }
                await self.store.replace(entry, updated)
                failing += 1
        return resent, failing
