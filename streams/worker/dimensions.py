"""Bounded labels for `tierstream_customers_by_dimension{dimension,value,tier}`.

A policy may list profile dimensions (`metrics_dimensions`: industry, size, region) whose
values label the worker's customer counts. Label values are series, so each dimension may
have at most `MAX_DIMENSION_VALUES` distinct values (plus `none`, for customers without
one); a dimension the policy does not list never labels anything. Where that is checked:

- At start (`check_dimension_values`, from `tierstream worker` before Faust starts): the
  customers topic is read from its beginning to its current end and the distinct values of
  each listed dimension counted; more than the limit stops the worker with an error naming
  the dimension (exit 2). The count takes every record still on the topic, so a value that
  was replaced but not yet compacted away still counts: a conservative count, which keeps
  memory to the value sets (no per-customer table). Only when the policy lists dimensions.
- While running (`DimensionLabels`): the profiles arriving later may bring new values. The
  first `MAX_DIMENSION_VALUES` values seen label series; a value beyond them labels none
  (its customers are left out of the gauge), is counted per dimension in
  `tierstream_dimension_values_unlabelled{dimension}`, and a warning naming the dimension
  (never the value) is logged once. The worker keeps classifying: only the gauge is partial,
  and the next start refuses until the policy drops the dimension or the values are merged.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from pydantic import ValidationError

from schemas.profile import CustomerProfile
from streams.pipeline.rank_stage import NO_DIMENSION_VALUE

__all__ = [
    "MAX_DIMENSION_VALUES",
    "DimensionCardinalityError",
    "DimensionLabels",
    "ProfileValueCount",
    "check_dimension_values",
]

log = logging.getLogger("tierstream.worker.metrics")

# Distinct values a metrics dimension may label (`none` comes on top).
MAX_DIMENSION_VALUES = 50


class DimensionCardinalityError(Exception):
    """A metrics dimension has more distinct values than may label a metric."""

    def __init__(self, dimension: str, seen: int) -> None:
        super().__init__(
            f"policy metrics_dimensions: '{dimension}' has more than {MAX_DIMENSION_VALUES} "
            f"distinct values on the customers topic ({seen} seen so far); drop it from "
            "metrics_dimensions or merge its values"
        )
        self.dimension = dimension


class ProfileValueCount:
    """Distinct values per listed dimension over the profile records given to `add`."""

    def __init__(self, dimensions: Sequence[str]) -> None:
        self.values: dict[str, set[str]] = {dimension: set() for dimension in dimensions}

    def add(self, value: bytes | None) -> None:
        """Count one customers-topic record value; tombstones and records that are no valid
        profile (the worker dead-letters those) carry no value."""
        if value is None:
            return
        try:
            profile = CustomerProfile.model_validate_json(value)
        except ValidationError:
            return
        for dimension, seen in self.values.items():
            found = getattr(profile, dimension)
            if found is not None:
                seen.add(found)
                if len(seen) > MAX_DIMENSION_VALUES:
                    raise DimensionCardinalityError(dimension, len(seen))


async def check_dimension_values(
    bootstrap: str,
    topic: str,
    partition_count: int,
    dimensions: Sequence[str],
    client_options: Mapping[str, Any],
) -> dict[str, set[str]]:
    """Read `topic` (its `partition_count` partitions, as the worker created it and needs
    it co-partitioned) from the beginning to its end at call time (no consumer group, nothing
    committed); the distinct values per dimension, or DimensionCardinalityError as soon as
    one has more than MAX_DIMENSION_VALUES."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    count = ProfileValueCount(dimensions)
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, **client_options
    )
    await consumer.start()
    try:
        partitions = [TopicPartition(topic, p) for p in range(partition_count)]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        remaining = {tp for tp in partitions if ends[tp] > await consumer.position(tp)}
        while remaining:
            batches = await consumer.getmany(*remaining, timeout_ms=1000)
            for tp, records in batches.items():
                for record in records:
                    if record.offset < ends[tp]:
                        count.add(record.value)
            remaining = {tp for tp in remaining if await consumer.position(tp) < ends[tp]}
    finally:
        await consumer.stop()
    return count.values


class DimensionLabels:
    """Which dimension values may label a series in this process: the first
    MAX_DIMENSION_VALUES seen per dimension, and `none`; the rest are refused."""

    def __init__(self, dimensions: Iterable[str]) -> None:
        self._labelled: dict[str, set[str]] = {dimension: set() for dimension in dimensions}
        self._refused: dict[str, set[str]] = {dimension: set() for dimension in self._labelled}

    @property
    def dimensions(self) -> tuple[str, ...]:
        return tuple(self._labelled)

    def admit(self, dimension: str, value: str) -> bool:
        """Whether (dimension, value) may label a series; False for an unlisted dimension."""
        labelled = self._labelled.get(dimension)
        if labelled is None:
            return False
        if value in labelled or value == NO_DIMENSION_VALUE:
            return True
        refused = self._refused[dimension]
        if value in refused:
            return False
        if len(labelled) < MAX_DIMENSION_VALUES:
            labelled.add(value)
            return True
        if not refused:
            log.warning(
                "metrics dimension %s has more than %d distinct values; further values are "
                "left out of tierstream_customers_by_dimension",
                dimension,
                MAX_DIMENSION_VALUES,
            )
        refused.add(value)
        return False

    def refused(self, dimension: str) -> int:
        """Distinct values of `dimension` refused so far."""
        return len(self._refused.get(dimension, ()))
