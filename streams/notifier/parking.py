"""The park list `{prefix}:parked`: deliveries that failed for good, bounded in size.

Each entry holds the channel, the error, the attempts, the recipient and the alerts
themselves (JSON), so `tierstream alerts replay` can resend them later. Parking an entry
and marking its alerts as done on the channel (`{prefix}:sent:{channel}:{event_id}` =
`parked`) is one Lua script: a crash cannot leave a parked alert unmarked (parked again on
restart) or marked but not parked (lost).

Bound: the stream keeps at most `max_entries` entries (exact `XADD MAXLEN`); the oldest
go first. Dropped entries are counted (`tierstream_notifier_parked_trimmed_total`) because
their alerts can no longer be replayed; the length is `tierstream_notifier_parked_entries`.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from streams.metrics import NotifierMetrics
from streams.notifier.keys import Keys, text
from streams.notifier.routing import Recipient, RouteSource
from streams.notifier.rules import Alert

if TYPE_CHECKING:
    import redis.asyncio as redis_async

__all__ = ["PARKED", "SENT", "ParkedEntry", "ParkedStore", "StoredEntry"]

log = logging.getLogger(__name__)

# Values of the per-channel marks: delivered, or parked (to be replayed).
SENT = "sent"
PARKED = "parked"

# KEYS: parked stream, then the marks to set. ARGV: maxlen, ttl, mark value, field/value pairs.
# Returns {length after, entries trimmed}.
_PARK = """
local before = redis.call('XLEN', KEYS[1])
redis.call('XADD', KEYS[1], 'MAXLEN', ARGV[1], '*', unpack(ARGV, 4))
local after = redis.call('XLEN', KEYS[1])
for i = 2, #KEYS do
  redis.call('SET', KEYS[i], ARGV[3], 'NX', 'EX', ARGV[2])
end
return {after, before + 1 - after}
"""


@dataclass(frozen=True, slots=True)
class ParkedEntry:
    """A parked delivery as an operator sees it (`tierstream alerts parked`)."""

    entry_id: str
    channel: str
    event_ids: tuple[str, ...]
    error: str
    attempts: int
    parked_at: str


@dataclass(frozen=True, slots=True)
class StoredEntry:
    """A parked delivery with what a replay needs."""

    entry_id: str
    fields: dict[str, str]
    alerts: list[Alert]
    recipient: Recipient


def _recipient_json(recipient: Recipient) -> str:
    return json.dumps(dataclasses.asdict(recipient))


def _recipient_from_json(value: str) -> Recipient:
    fields = json.loads(value)
    fields["source"] = RouteSource(fields["source"])
    return Recipient(**fields)


class ParkedStore:
    """Writes, reads and trims `{prefix}:parked`."""

    def __init__(
        self,
        client: redis_async.Redis,
        keys: Keys,
        metrics: NotifierMetrics,
        ttl_seconds: int,
        max_entries: int,
    ) -> None:
        self._client = client
        self._keys = keys
        self._metrics = metrics
        self._ttl = ttl_seconds
        self._max = max_entries
        self._script = client.register_script(_PARK)

    async def add(
        self,
        channel: str,
        alerts: Sequence[Alert],
        recipient: Recipient,
        error: str,
        attempts: int,
        *,
        mark: bool = True,
    ) -> None:
        """Park a message (its alerts marked `parked` on `channel` when `mark`)."""
        fields = {
            "channel": channel,
            "event_ids": ",".join(alert.event_id for alert in alerts),
            "error": error,
            "attempts": str(attempts),
            "parked_at": datetime.now(UTC).isoformat(),
            "recipient": _recipient_json(recipient),
            "alerts": json.dumps([alert.model_dump(mode="json") for alert in alerts]),
        }
        await self._add_fields(fields, alerts if mark else (), channel)
        self._metrics.alerts.labels(channel=channel, outcome="parked").inc(len(alerts))
        log.error("parked %d alert(s) on %s after %d attempt(s)", len(alerts), channel, attempts)

    async def _add_fields(
        self, fields: dict[str, str], marked: Sequence[Alert], channel: str
    ) -> None:
        marks = [self._keys.sent(channel, alert.event_id) for alert in marked]
        pairs = [item for pair in fields.items() for item in pair]
        result: Any = await self._script(
            keys=[self._keys.parked, *marks], args=[self._max, self._ttl, PARKED, *pairs]
        )
        length, trimmed = int(result[0]), int(result[1])
        self._metrics.parked_entries.set(length)
        if trimmed > 0:
            self._metrics.parked_trimmed.inc(trimmed)
            log.error("dropped the %d oldest parked deliveries (limit %d)", trimmed, self._max)

    async def replace(self, entry: StoredEntry, fields: dict[str, str]) -> None:
        """Re-park `entry` with new fields (at the end, as the newest) and drop the old one."""
        await self._add_fields(fields, (), fields["channel"])
        await self.remove(entry.entry_id)

    async def remove(self, entry_id: str) -> None:
        """Drop one entry (replayed)."""
        await self._client.xdel(self._keys.parked, entry_id)
        await self.refresh_length()

    async def erase_customer(self, customer_id: str) -> int:
        """Drop a customer's alerts from the parked deliveries (an erase request): an entry
        holding only its alerts goes, one holding others too is re-parked without them.
        O(parked entries); returns how many alerts went."""
        dropped = 0
        for entry in await self.entries():
            kept = [a for a in entry.alerts if a.event.customer_id != customer_id]
            if len(kept) == len(entry.alerts):
                continue
            dropped += len(entry.alerts) - len(kept)
            if not kept:
                await self.remove(entry.entry_id)
                continue
            fields = {
                **entry.fields,
                "event_ids": ",".join(alert.event_id for alert in kept),
                "alerts": json.dumps([alert.model_dump(mode="json") for alert in kept]),
            }
            await self.replace(entry, fields)
        return dropped

    async def refresh_length(self) -> None:
        """Set the parked-entries gauge from the stream's length."""
        self._metrics.parked_entries.set(await self._client.xlen(self._keys.parked))

    async def entries(self, count: int | None = None) -> list[StoredEntry]:
        """The oldest `count` entries (all when None), oldest first."""
        raw_entries: Any = await self._client.xrange(self._keys.parked, count=count)
        result = []
        for entry_id, raw in raw_entries:
            fields = {text(key): text(value) for key, value in raw.items()}
            alerts = [Alert.model_validate(item) for item in json.loads(fields["alerts"])]
            recipient = _recipient_from_json(fields["recipient"])
            result.append(StoredEntry(text(entry_id), fields, alerts, recipient))
        return result

    async def listing(self, count: int = 1000) -> list[ParkedEntry]:
        """The oldest `count` parked deliveries, as `tierstream alerts parked` shows them."""
        return [
            ParkedEntry(
                entry_id=entry.entry_id,
                channel=entry.fields["channel"],
                # From the alerts, not the comma-joined field: an event id may hold a comma.
                event_ids=tuple(alert.event_id for alert in entry.alerts),
                error=entry.fields["error"],
                attempts=int(entry.fields["attempts"]),
                parked_at=entry.fields["parked_at"],
            )
            for entry in await self.entries(count)
        ]
