"""Topic names, partitioning and retention of everything the worker reads and writes.

Under `processing_guarantee=exactly_once` Faust runs one transaction per (topic group,
partition) and routes every send to the transaction of the *destination* partition. So every
topic the worker writes while handling partition p is co-partitioned with the inputs: same
partition count, keyed by customer_id, or sent explicitly to partition p. The one exception,
stage 0's sends to a repartition topic, go to other partitions on purpose and are put in the
transaction of the source partition explicitly (streams/worker/transaction_gate.py).
"""

from __future__ import annotations

from dataclasses import dataclass

from streams.settings import TopicSettings

__all__ = ["INTERNAL_TOPIC_SUFFIXES", "Topology"]

INTERNAL_TOPIC_SUFFIXES = (
    "measurements",
    "ranks",
    "clock",
    "orders-repartition",
    "feedback-repartition",
)


@dataclass(frozen=True)
class Topology:
    """The concrete topic names of one deployment (the app id prefixes internal topics)."""

    app_id: str
    topics: TopicSettings

    @property
    def inputs(self) -> tuple[str, str, str]:
        """Topics consumed from outside: orders, feedback, customers."""
        return (self.topics.orders, self.topics.feedback, self.topics.customers)

    def repartition(self, input_name: str) -> str:
        """Stage 0 → stage 1 for an input not keyed by customer_id (`orders`, `feedback`):
        its events re-keyed by customer_id, and its source partitions' progress."""
        return f"{self.app_id}-{input_name}-repartition"

    @property
    def repartitioned(self) -> tuple[tuple[str, str], ...]:
        """(source topic, repartition topic) of every input declared not keyed by customer."""
        return tuple(
            (source, self.repartition(name))
            for name, source, keyed in self._inputs_with_keying
            if not keyed
        )

    @property
    def stage_one_inputs(self) -> tuple[str, str]:
        """The topics stage 1 merges, orders first: each input itself when it is keyed by
        customer_id, else its repartition topic."""
        orders, feedback = (
            source if keyed else self.repartition(name)
            for name, source, keyed in self._inputs_with_keying
        )
        return orders, feedback

    @property
    def _inputs_with_keying(self) -> tuple[tuple[str, str, bool], ...]:
        topics = self.topics
        return (
            ("orders", topics.orders, topics.orders_keyed_by_customer),
            ("feedback", topics.feedback, topics.feedback_keyed_by_customer),
        )

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
            *(repartition for _, repartition in self.repartitioned),
        )
