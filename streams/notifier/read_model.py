"""The Redis read model: the latest classification of every customer, from `tier-changes`.

Per customer a hash `{prefix}:customer:{id}`; per tier a sorted set `{prefix}:tier:{name}`
(scored by trailing-window monetary, so the top of a tier is one ZREVRANGE away); and the
counts per tier in `{prefix}:tier-counts`. One Lua script applies a TierChanged atomically
and only if it is newer than what is stored, ordered by (occurred_at, Kafka offset): a
redelivered or older event is a no-op, so the projection is idempotent and in order.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from schemas import Classification, ClassificationMetrics, Reason
from schemas.tier_changed import TierChanged
from streams.notifier.keys import Keys, text

if TYPE_CHECKING:
    import redis.asyncio as redis_async

__all__ = ["ReadModel", "StoredClassification"]

# KEYS: customer hash, counts hash, the new tier's sorted set.
# ARGV: occurred_us, offset, tier sorted-set key prefix, score, customer_id, field/value
# pairs... Tier names are the policy's (any number of them, and those of an earlier policy
# still stored): the old tier's set is named from the stored tier, so the script reaches a
# key it was not given — fine on the single Redis server the read model runs on.
_APPLY = """
local stored_us = redis.call('HGET', KEYS[1], 'occurred_us')
if stored_us then
  local us, stored = tonumber(ARGV[1]), tonumber(stored_us)
  local offset = tonumber(ARGV[2])
  local stored_offset = tonumber(redis.call('HGET', KEYS[1], 'offset'))
  if us < stored or (us == stored and offset <= stored_offset) then return 0 end
end
local new_key = KEYS[3]
local new_tier = string.sub(new_key, #ARGV[3] + 1)
local old_tier = redis.call('HGET', KEYS[1], 'tier')
if old_tier ~= new_tier then
  if old_tier then
    redis.call('ZREM', ARGV[3] .. old_tier, ARGV[5])
    redis.call('HINCRBY', KEYS[2], old_tier, -1)
  end
  redis.call('HINCRBY', KEYS[2], new_tier, 1)
end
redis.call('ZADD', new_key, ARGV[4], ARGV[5])
redis.call('HSET', KEYS[1], 'occurred_us', ARGV[1], 'offset', ARGV[2], unpack(ARGV, 6))
return 1
"""

# KEYS: customer hash, counts hash. ARGV: customer_id, tier sorted-set key prefix.
_ERASE = """
local old_tier = redis.call('HGET', KEYS[1], 'tier')
if not old_tier then return 0 end
redis.call('ZREM', ARGV[2] .. old_tier, ARGV[1])
redis.call('HINCRBY', KEYS[2], old_tier, -1)
redis.call('DEL', KEYS[1])
return 1
"""


@dataclass(frozen=True, slots=True)
class StoredClassification:
    """What the read model holds for one customer."""

    customer_id: str
    classification: Classification
    metrics: ClassificationMetrics
    reasons: tuple[Reason, ...]
    occurred_at: datetime
    event_id: str
    policy_version: str
    # The value model behind the metrics' p_alive / predicted_clv / next order (contract
    # 1.4); None without one, and for customers stored before it was kept.
    value_model_version: str | None = None


def _micros(instant: datetime) -> int:
    return int(instant.timestamp()) * 1_000_000 + instant.microsecond


class ReadModel:
    """Applies TierChanged events to Redis and reads classifications back."""

    def __init__(self, client: redis_async.Redis, keys: Keys) -> None:
        self._client = client
        self._keys = keys
        self._apply = client.register_script(_APPLY)
        self._erase = client.register_script(_ERASE)

    async def apply(self, event: TierChanged, offset: int) -> bool:
        """Store `event` if it is newer than the stored one; True when it was applied.

        `offset` (the record's Kafka offset) breaks ties between events of the same instant.
        """
        current = event.current
        fields: dict[str, str] = {
            "customer_id": event.customer_id,
            "tier": current.tier,
            "abc_class": current.abc_class.value,
            "risk": current.risk.value,
            "lifecycle": current.lifecycle.value,
            "segment": current.segment.value if current.segment else "",
            "classification": current.model_dump_json(),
            "metrics": event.metrics.model_dump_json(),
            "reasons": json.dumps([reason.model_dump(mode="json") for reason in event.reasons]),
            "occurred_at": event.occurred_at.isoformat(),
            "event_id": event.event_id,
            "policy_version": event.policy_version,
            "value_model_version": event.value_model_version or "",
        }
        args: list[Any] = [
            _micros(event.occurred_at),
            offset,
            self._keys.tier(""),
            float(event.metrics.monetary),
            event.customer_id,
        ]
        for name, value in fields.items():
            args += [name, value]
        keys = [
            self._keys.customer(event.customer_id),
            self._keys.tier_counts,
            self._keys.tier(current.tier),
        ]
        applied = await self._apply(keys=keys, args=args)
        return bool(applied)

    async def erase(self, customer_id: str) -> bool:
        """Forget a customer (an erase request); True when there was something to forget."""
        keys = [self._keys.customer(customer_id), self._keys.tier_counts]
        erased = await self._erase(keys=keys, args=[customer_id, self._keys.tier("")])
        return bool(erased)

    async def get(self, customer_id: str) -> StoredClassification | None:
        """The stored classification of `customer_id`, or None when the model has none."""
        raw = await self._client.hgetall(self._keys.customer(customer_id))
        if not raw:
            return None
        stored = {text(key): text(value) for key, value in raw.items()}
        return StoredClassification(
            customer_id=stored["customer_id"],
            classification=Classification.model_validate_json(stored["classification"]),
            metrics=ClassificationMetrics.model_validate_json(stored["metrics"]),
            reasons=tuple(Reason.model_validate(item) for item in json.loads(stored["reasons"])),
            occurred_at=datetime.fromisoformat(stored["occurred_at"]),
            event_id=stored["event_id"],
            policy_version=stored["policy_version"],
            value_model_version=stored.get("value_model_version") or None,
        )

    async def tier_counts(self, names: Iterable[str] = ()) -> dict[str, int]:
        """Customers per tier: every tier in `names` (0 when empty), and any other tier
        the model holds customers in."""
        raw = await self._client.hgetall(self._keys.tier_counts)
        counts = dict.fromkeys(names, 0)
        for key, value in raw.items():
            counts[text(key)] = int(value)
        return counts

    async def tier_members(self, tier: str) -> list[str]:
        """Customer ids in `tier`, highest monetary first."""
        members = await self._client.zrevrange(self._keys.tier(tier), 0, -1)
        return [text(member) for member in members]
