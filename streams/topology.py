"""Topic names, partitioning and retention of everything the worker reads and writes.

Under `processing_guarantee=exactly_once` Faust runs one transaction per (topic group,
partition) and routes every send to the transaction of the *destination* partition. So every
topic the worker writes while handling partition p is co-partitioned with the inputs: same
partition count, keyed by customer_id, or sent explicitly to partition p.
"""

from __future__ import annotations

from dataclasses import dataclass

from streams.settings import TopicSettings

__all__ = ["INTERNAL_TOPIC_SUFFIXES", "Topology"]

INTERNAL_TOPIC_SUFFIXES = ("measurements", "ranks", "clock")


@dataclass(frozen=True)
class Topology:
    """The concrete topic names of one deployment (the app id prefixes internal topics)."""

    app_id: str
    topics: TopicSettings

    @property
    def inputs(self) -> tuple[str, str, str]:
        """Topics consumed from outside: orders, feedback, customers."""
        return (self.topics.orders, self.topics.feedback, self.topics.customers)

    @property
    def measurements(self) -> str:
        """Stage 1 → stage 2: population-independent measurements and epoch markers."""
        return f"{self.app_id}-measurements"

    @property
    def ranks(self) -> str:
        """Per-partition rank summaries, read in full by every worker."""
        return f"{self.app_id}-ranks"

    @property
    def clock(self) -> str:
        """Wall-clock watermarks (TIERSTREAM_CLOCK=wall), consumed beside the inputs."""
        return f"{self.app_id}-clock"

    @property
    def co_partitioned(self) -> tuple[str, ...]:
        """Every topic that must have exactly `topics.partitions` partitions."""
        return (
            *self.inputs,
            self.topics.tier_changes,
            self.topics.dead_letter,
            self.measurements,
            self.ranks,
            self.clock,
        )
