"""Backoff stays within its bounds; the token bucket limits bursts and refills with time."""

from __future__ import annotations

import random

from hypothesis import given
from hypothesis import strategies as st

from streams.notifier.pacing import Backoff, TokenBucket


@given(attempt=st.integers(min_value=1, max_value=60), seed=st.integers(0, 2**32))
def test_backoff_delay_is_between_zero_and_the_capped_exponential(attempt: int, seed: int) -> None:
    backoff = Backoff(base=0.5, cap=60.0, max_attempts=6)
    delay = backoff.delay(attempt, random.Random(seed))
    assert 0 <= delay <= min(60.0, 0.5 * 2 ** (attempt - 1))


def test_backoff_jitter_spreads_retries() -> None:
    rng = random.Random(1)
    delays = {round(Backoff(1.0, 60.0, 6).delay(4, rng), 6) for _ in range(20)}
    assert len(delays) > 10


def test_bucket_allows_a_burst_then_refuses() -> None:
    bucket = TokenBucket(capacity=3, per_second=0.1)
    assert [bucket.try_take(100.0) for _ in range(4)] == [True, True, True, False]


def test_bucket_refills_at_its_rate() -> None:
    bucket = TokenBucket(capacity=1, per_second=0.1)
    assert bucket.try_take(0.0)
    assert bucket.wait_time(0.0) == 10.0
    assert not bucket.try_take(9.9)
    assert bucket.try_take(10.0)


def test_bucket_never_holds_more_than_its_capacity() -> None:
    bucket = TokenBucket(capacity=2, per_second=1.0)
    bucket.try_take(0.0)
    assert bucket.is_full(1000.0)
    assert [bucket.try_take(1000.0) for _ in range(3)] == [True, True, False]
