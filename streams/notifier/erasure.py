"""An erase request (a tombstone on `customers`) in the notifier: every alert and projection
of the customer goes.

- the read model's hash and tier membership (`ReadModel.erase`);
- the alerts in `{prefix}:alerts` and every `{prefix}:alerts:{manager_id}` stream (the
  customer may have had several managers, or the default owner): each stream is read in
  chunks and the entries whose alert names the customer are XDELed. Cost: one SCAN over the
  keys matching `{prefix}:alerts:*` plus O(entries of those streams), each bounded by
  `stream_maxlen`; run per tombstone (also for the tombstones still in the compacted topic
  when a notifier starts, until compaction removes them after `delete.retention.ms`);
- the parked deliveries (`ParkedStore.erase_customer`, O(parked entries), bounded by
  `parked_max_entries`);
- the alerts queued in memory for delivery (`Dispatcher.drop_customer`), whose offsets are
  released as done. A send already in flight finishes.

The sent marks `{prefix}:sent:{channel}:{event_id}` stay until their TTL: they hold an event
id only (a hash, no customer id or data), and they keep a TierChanged re-read after the erase
from being delivered again. TierChanged records older than the tombstone that the notifier
reads after it are skipped (streams.notifier.service), so they cannot bring the customer back.
Nothing here logs the customer id.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from streams.notifier.keys import Keys, text

if TYPE_CHECKING:
    import redis.asyncio as redis_async

__all__ = ["erase_from_alert_streams"]

_CHUNK = 500


async def _alert_streams(client: redis_async.Redis, keys: Keys) -> list[str]:
    """The global alert stream and every manager's (SCAN, never KEYS)."""
    found = [keys.alerts]
    async for key in client.scan_iter(match=f"{keys.manager_alerts('*')}", count=_CHUNK):
        name = text(key)
        if await client.type(name) in (b"stream", "stream"):
            found.append(name)
    return found


async def _erase_from_stream(client: redis_async.Redis, stream: str, customer_id: str) -> int:
    deleted = 0
    start = "-"
    while True:
        entries: Any = await client.xrange(stream, min=start, count=_CHUNK)
        if not entries:
            return deleted
        doomed = []
        for entry_id, fields in entries:
            raw = fields.get(b"alert", fields.get("alert"))
            if raw is not None and json.loads(raw).get("customer_id") == customer_id:
                doomed.append(entry_id)
        if doomed:
            deleted += int(await client.xdel(stream, *doomed))
        if len(entries) < _CHUNK:
            return deleted
        start = "(" + text(entries[-1][0])


async def erase_from_alert_streams(client: redis_async.Redis, keys: Keys, customer_id: str) -> int:
    """XDEL every entry naming `customer_id` from every alert stream; how many went."""
    deleted = 0
    for stream in await _alert_streams(client, keys):
        deleted += await _erase_from_stream(client, stream, customer_id)
    return deleted
