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


def test_a_lone_alert_goes_out_alone() -> None:
    from streams.notifier.pacing import plan_messages

    assert plan_messages(1, TokenBucket(capacity=3, per_second=0.1), 0.0, 50) == [1]


def test_alerts_go_alone_while_the_bucket_covers_them() -> None:
    from streams.notifier.pacing import plan_messages

    assert plan_messages(3, TokenBucket(capacity=3, per_second=0.1), 0.0, 50) == [1, 1, 1]


def test_a_burst_beyond_the_bucket_becomes_one_digest() -> None:
    from streams.notifier.pacing import plan_messages

    bucket = TokenBucket(capacity=3, per_second=0.1)
    assert plan_messages(10, bucket, 0.0, 50) == [10]
    # The digest took one token; two remain for what comes next.
    assert plan_messages(2, bucket, 0.0, 50) == [1, 1]


def test_digests_are_capped_and_an_empty_bucket_holds_everything_back() -> None:
    from streams.notifier.pacing import plan_messages

    bucket = TokenBucket(capacity=2, per_second=0.1)
    assert plan_messages(120, bucket, 0.0, 50) == [50, 50]
    assert plan_messages(20, bucket, 1.0, 50) == []
    assert plan_messages(20, bucket, 10.0, 50) == [20]


@given(
    queued=st.integers(min_value=0, max_value=500),
    capacity=st.integers(min_value=1, max_value=10),
    digest_max=st.integers(min_value=2, max_value=60),
)
def test_plan_never_exceeds_the_queue_the_tokens_or_the_digest_cap(
    queued: int, capacity: int, digest_max: int
) -> None:
    from streams.notifier.pacing import plan_messages

    sizes = plan_messages(queued, TokenBucket(capacity, 0.1), 0.0, digest_max)
    assert sum(sizes) <= queued
    assert len(sizes) <= capacity
    assert all(1 <= size <= digest_max for size in sizes)
    assert sum(sizes) == queued or len(sizes) == capacity


def test_commit_offset_stops_at_the_first_alert_still_on_its_way() -> None:
    from streams.notifier.pacing import OffsetTracker

    tracker = OffsetTracker()
    for offset in range(10):
        tracker.consumed("p0", offset)
    tracker.hold("p0", 3)
    tracker.hold("p0", 7)
    assert tracker.safe() == {"p0": 3}
    tracker.release("p0", 3)
    assert tracker.safe() == {"p0": 7}
    tracker.release("p0", 7)
    assert tracker.safe() == {"p0": 10}


def test_partitions_are_tracked_apart_and_forgotten_on_revocation() -> None:
    from streams.notifier.pacing import OffsetTracker

    tracker = OffsetTracker()
    tracker.consumed("p0", 4)
    tracker.consumed("p1", 9)
    tracker.hold("p1", 9)
    assert tracker.safe() == {"p0": 5, "p1": 9}
    assert tracker.held() == 1
    tracker.forget("p1")
    assert tracker.safe() == {"p0": 5}
    assert tracker.held() == 0
