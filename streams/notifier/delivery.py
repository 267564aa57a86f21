"""Delivering alerts: idempotent per channel, retried with backoff, parked when undeliverable.

Idempotency: a key `{prefix}:sent:{channel}:{event_id}` (SET NX with a TTL) is written once
an alert was delivered or parked on that channel; an alert whose key exists is a duplicate.
For push channels (webhook, e-mail) the key is written *after* the delivery succeeded, so a
crash in between re-sends on restart with the same idempotency key (at-least-once, receiver
de-duplicates). For the Redis streams the key and the XADDs are one atomic Lua script, so
every alert is in the streams exactly once.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import random
import time
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from streams.metrics import NotifierMetrics
from streams.notifier.channels import Channel
from streams.notifier.exceptions import DeliveryError, PermanentDeliveryError
from streams.notifier.keys import Keys, text
from streams.notifier.pacing import Backoff
from streams.notifier.render import alert_payload, render
from streams.notifier.routing import UNROUTED, Recipient, RouteSource
from streams.notifier.rules import Alert

if TYPE_CHECKING:
    import redis.asyncio as redis_async

__all__ = [
    "Clock",
    "Deliverer",
    "ParkedEntry",
    "PendingAlert",
    "RedisStreams",
    "SystemClock",
]

log = logging.getLogger(__name__)


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


@dataclass(frozen=True, slots=True)
class ParkedEntry:
    """A parked delivery as an operator sees it (`tierstream alerts parked`)."""

    entry_id: str
    channel: str
    event_ids: tuple[str, ...]
    error: str
    attempts: int
    parked_at: str


def _recipient_json(recipient: Recipient) -> str:
    return json.dumps(dataclasses.asdict(recipient))


def _recipient_from_json(text: str) -> Recipient:
    fields = json.loads(text)
    fields["source"] = RouteSource(fields["source"])
    return Recipient(**fields)


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
    ) -> None:
        self._client = client
        self._keys = keys
        self._metrics = metrics
        self._backoff = backoff
        self._ttl = ttl_seconds
        self._clock = clock
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not a secret

    async def marked(self, channel: str, event_ids: Sequence[str]) -> set[str]:
        """The event ids already delivered or parked on `channel`."""
        if not event_ids:
            return set()
        values = await self._client.mget([self._keys.sent(channel, eid) for eid in event_ids])
        return {eid for eid, value in zip(event_ids, values, strict=True) if value is not None}

    async def mark(self, channel: str, event_ids: Sequence[str]) -> None:
        """Record that these alerts are done (delivered or parked) on `channel`."""
        async with self._client.pipeline(transaction=False) as pipe:
            for event_id in event_ids:
                pipe.set(self._keys.sent(channel, event_id), "1", nx=True, ex=self._ttl)
            await pipe.execute()

    async def _send_with_retries(
        self, channel: Channel, alerts: Sequence[Alert], recipient: Recipient
    ) -> tuple[DeliveryError | None, int]:
        message = render(alerts, recipient)
        attempt = 0
        while True:
            attempt += 1
            try:
                await channel.send(message, recipient)
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
        await self.mark(channel.name, [alert.event_id for alert in alerts])
        if error is None:
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
    ) -> None:
        """Keep an undeliverable message where `tierstream alerts parked/replay` find it."""
        await self._client.xadd(
            self._keys.parked,
            {
                "channel": channel,
                "event_ids": ",".join(alert.event_id for alert in alerts),
                "error": error,
                "attempts": str(attempts),
                "parked_at": datetime.now(UTC).isoformat(),
                "recipient": _recipient_json(recipient),
                "alerts": json.dumps([alert.model_dump(mode="json") for alert in alerts]),
            },
        )
        self._metrics.alerts.labels(channel=channel, outcome="parked").inc(len(alerts))
        log.error("parked %d alert(s) on %s after %d attempt(s)", len(alerts), channel, attempts)

    async def parked(self, count: int = 1000) -> list[ParkedEntry]:
        """The oldest `count` parked deliveries."""
        entries: Any = await self._client.xrange(self._keys.parked, count=count)
        result = []
        for entry_id, raw in entries:
            fields = {text(key): text(value) for key, value in raw.items()}
            result.append(
                ParkedEntry(
                    entry_id=text(entry_id),
                    channel=fields["channel"],
                    event_ids=tuple(fields["event_ids"].split(",")),
                    error=fields["error"],
                    attempts=int(fields["attempts"]),
                    parked_at=fields["parked_at"],
                )
            )
        return result

    async def replay(
        self, channels: Sequence[Channel], fallback: Recipient | None = None
    ) -> tuple[int, int]:
        """Resend every parked message on its channel; returns (resent, still failing).

        A resent entry leaves the parked stream; one that fails again stays, with the
        new error appended, for the next replay. Alerts parked as unroutable go to
        `fallback` (the default owner configured now), or stay parked without one.
        """
        by_name = {channel.name: channel for channel in channels}
        resent = failing = 0
        entries: Any = await self._client.xrange(self._keys.parked)
        for entry_id, raw in entries:
            fields = {text(key): text(value) for key, value in raw.items()}
            channel = by_name.get(fields["channel"])
            if channel is None:
                failing += 1
                continue
            alerts = [Alert.model_validate(item) for item in json.loads(fields["alerts"])]
            recipient = _recipient_from_json(fields["recipient"])
            if recipient.manager_id == UNROUTED:
                if fallback is None:
                    failing += 1
                    continue
                recipient = fallback
            error, attempts = await self._send_with_retries(channel, alerts, recipient)
            if error is None:
                await self._client.xdel(self._keys.parked, entry_id)
                self._metrics.alerts.labels(channel=channel.name, outcome="sent").inc(len(alerts))
                resent += 1
            else:
                updated: dict[Any, Any] = {
                    **fields,
                    "error": f"{fields['error']}; replay: {error}",
                    "attempts": str(int(fields["attempts"]) + attempts),
                }
                await self._client.xadd(self._keys.parked, updated)
                await self._client.xdel(self._keys.parked, entry_id)
                failing += 1
        return resent, failing


# KEYS: mark, global stream[, manager stream]. ARGV: ttl, maxlen, event_id, manager_id, json.
_PUBLISH = """
if not redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[1]) then return 0 end
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[2], '*',
           'event_id', ARGV[3], 'manager_id', ARGV[4], 'alert', ARGV[5])
if #KEYS >= 3 then
  redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[2], '*',
             'event_id', ARGV[3], 'manager_id', ARGV[4], 'alert', ARGV[5])
end
return 1
"""


class RedisStreams:
    """Alerts into `{prefix}:alerts` and `{prefix}:alerts:{manager_id}`, each exactly once."""

    name = "redis"

    def __init__(
        self,
        client: redis_async.Redis,
        keys: Keys,
        metrics: NotifierMetrics,
        ttl_seconds: int,
        maxlen: int,
    ) -> None:
        self._keys = keys
        self._metrics = metrics
        self._ttl = ttl_seconds
        self._maxlen = maxlen
        self._script = client.register_script(_PUBLISH)

    async def publish(self, alert: Alert, recipient: Recipient | None) -> bool:
        """Append the alert unless it was appended before; True when appended now."""
        keys = [self._keys.sent(self.name, alert.event_id), self._keys.alerts]
        if recipient is not None:
            keys.append(self._keys.manager_alerts(recipient.manager_id))
        payload = {
            **alert_payload(alert),
            "manager_id": recipient.manager_id if recipient else None,
        }
        appended = await self._script(
            keys=keys,
            args=[
                self._ttl,
                self._maxlen,
                alert.event_id,
                recipient.manager_id if recipient else "",
                json.dumps(payload),
            ],
        )
        outcome = "sent" if appended else "duplicate"
        self._metrics.alerts.labels(channel=self.name, outcome=outcome).inc()
        return bool(appended)
