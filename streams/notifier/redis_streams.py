"""`RedisStreams`: alerts into the Redis streams the SSE endpoint and other readers follow.

The idempotency mark and the XADDs are one atomic Lua script, so every alert is in the
streams exactly once.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from streams.metrics import NotifierMetrics
from streams.notifier.keys import Keys
from streams.notifier.render import alert_payload
from streams.notifier.routing import Recipient
from streams.notifier.rules import Alert

if TYPE_CHECKING:
    import redis.asyncio as redis_async

__all__ = ["RedisStreams"]


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
