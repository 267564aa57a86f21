"""Retry backoff and the per-manager rate limit, with time passed in (tests need no sleeping).

- Backoff: "full jitter" exponential (AWS architecture blog, "Exponential Backoff And
  Jitter", 2015): attempt n (1-based) waits uniform(0, min(cap, base × 2^(n−1))) seconds.
- Rate limit: a token bucket per manager, `burst` tokens, refilled at `rate_per_minute`.
  A message takes one token whatever it holds, so alerts that arrive while a manager's
  bucket is empty wait and leave together as one digest.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

__all__ = ["Backoff", "TokenBucket"]


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
