"""Retry backoff and the per-manager rate limit, with time passed in (tests need no sleeping).

- Backoff: "full jitter" exponential (AWS architecture blog, "Exponential Backoff And
  Jitter", 2015): attempt n (1-based) waits uniform(0, min(cap, base × 2^(n−1))) seconds.
- Rate limit: a token bucket per manager, `burst` tokens, refilled at `rate_per_minute`.
  A message takes one token whatever it holds, so alerts that arrive while a manager's
  bucket is empty wait and leave together as one digest.
"""

from __future__ import annotations

import random
from collections.abc import Hashable
from dataclasses import dataclass, field

__all__ = ["Backoff", "OffsetTracker", "TokenBucket", "plan_messages"]


@dataclass(frozen=True, slots=True)
class Backoff:
    """Exponential backoff with full jitter, bounded by `cap` seconds and `max_attempts`."""

    base: float
    cap: float
    max_attempts: int

    def delay(self, attempt: int, rng: random.Random) -> float:
        """Seconds to wait after failed attempt n (1-based): U(0, min(cap, base·2^(n−1)))."""
        ceiling = min(self.cap, self.base * 2 ** (attempt - 1))
        return rng.uniform(0, ceiling)


@dataclass(slots=True)
class TokenBucket:
    """`capacity` tokens, refilled continuously at `per_second`; `now` is any monotonic clock."""

    capacity: float
    per_second: float
    tokens: float = field(init=False)
    updated: float | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self.tokens = self.capacity

    def _refill(self, now: float) -> None:
        if self.updated is not None:
            self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.per_second)
        self.updated = now

    def try_take(self, now: float) -> bool:
        """Take one token if there is one at `now`."""
        self._refill(now)
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False

    def wait_time(self, now: float) -> float:
        """Seconds from `now` until a token is available (0 if one is)."""
        self._refill(now)
        return 0.0 if self.tokens >= 1 else (1 - self.tokens) / self.per_second

    def is_full(self, now: float) -> bool:
        """Whether the bucket is back at capacity (a manager idle long enough to forget)."""
        self._refill(now)
        return self.tokens >= self.capacity


def plan_messages(queued: int, bucket: TokenBucket, now: float, digest_max: int) -> list[int]:
    """Sizes of the messages to send now for a manager with `queued` alerts waiting.

    Each message takes a token. While the bucket can cover the rest of the queue one by one,
    alerts go alone; once it cannot, everything left (up to `digest_max`) goes as one digest,
    so a burst costs a manager one message instead of a flood.
    """
    sizes: list[int] = []
    while queued > 0 and bucket.try_take(now):
        size = 1 if queued - 1 <= bucket.tokens else min(queued, digest_max)
        sizes.append(size)
        queued -= size
    return sizes


class OffsetTracker:
    """Which offset each partition may commit: never past a record still being worked on.

    `consumed` records that everything up to an offset was read; `hold` marks a record whose
    alert is not delivered yet; `release` marks it done. `safe()` gives, per partition, the
    lowest held offset, or the next offset to read when nothing is held.
    """

    def __init__(self) -> None:
        self._next: dict[Hashable, int] = {}
        self._held: dict[Hashable, set[int]] = {}

    def consumed(self, partition: Hashable, offset: int) -> None:
        """The record at `offset` was read."""
        self._next[partition] = max(self._next.get(partition, 0), offset + 1)

    def hold(self, partition: Hashable, offset: int) -> None:
        """The record at `offset` has an alert on its way."""
        self._held.setdefault(partition, set()).add(offset)

    def release(self, partition: Hashable, offset: int) -> None:
        """The alert of the record at `offset` was delivered or parked."""
        self._held.get(partition, set()).discard(offset)

    def forget(self, partition: Hashable) -> None:
        """The partition was taken away (rebalance): its next owner re-reads what was held."""
        self._next.pop(partition, None)
        self._held.pop(partition, None)

    def held(self) -> int:
        """Records with an alert on its way, over all partitions."""
        return sum(len(offsets) for offsets in self._held.values())

    def safe(self) -> dict[Hashable, int]:
        """Per partition, the offset to commit (what a restart must re-read from)."""
        return {
            partition: min(self._held[partition]) if self._held.get(partition) else position
            for partition, position in self._next.items()
        }
