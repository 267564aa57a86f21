"""Feeding a history to LocalPipeline the way Kafka could deliver it (shared by tests)."""

from __future__ import annotations

import itertools
from collections import defaultdict
from datetime import datetime, timedelta

from schemas import FeedbackEvent, OrderEvent
from streams.pipeline.local_pipeline import LocalPipeline
from tiering import BatchResult

Event = OrderEvent | FeedbackEvent


def feed_interleaved(
    pipeline: LocalPipeline,
    partitions: int,
    events: list[Event],
    interleave: str,
    final: datetime,
) -> None:
    """Feed events keeping each partition in event-time order, partitions interleaved as
    asked ("partition-major": one partition after the other; else round-robin), then a
    watermark just past `final` on every partition."""
    per_partition: dict[int, list[Event]] = defaultdict(list)
    for event in events:
        per_partition[pipeline.partition_of(event.customer_id)].append(event)
    if interleave == "partition-major":
        order = [event for p in sorted(per_partition) for event in per_partition[p]]
    else:
        order = [
            e
            for batch in itertools.zip_longest(*per_partition.values())
            for e in batch
            if e is not None
        ]
    for event in order:
        pipeline.feed(event)
    for partition in range(partitions):
        pipeline.watermark(partition, final + timedelta(microseconds=1))


def held_tiers_if_equal_to_batch(pipeline: LocalPipeline, batch: BatchResult) -> int:
    """Assert every customer the batch scored has the batch's classification in the stream,
    but for tiers that hysteresis holds (tier ≠ ABC class; the batch has no history to
    hold); return how many are held."""
    mismatched = []
    held = 0
    for evaluation in batch.evaluations:
        streamed = pipeline.classification(evaluation.customer_id)
        assert streamed is not None, evaluation.customer_id
        expected = evaluation.classification
        if streamed.tier != streamed.abc_class:
            held += 1
            streamed = streamed.model_copy(update={"tier": expected.tier})
        if streamed != expected:
            mismatched.append((evaluation.customer_id, streamed, expected))
    assert mismatched == []
    return held
