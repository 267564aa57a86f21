"""Input records the worker cannot use, sent to the dead-letter topic and counted.

What makes a record invalid, and what its DeadLetter holds, is streams.pipeline.decode's;
this module is the transport: the letter keeps the record's key and goes to the record's
partition (every topic the worker writes is co-partitioned with its inputs), and is counted
in `dead_letters` and as an `invalid` consumed event under the record's input topic (a
repartition topic counts as its source input, as everywhere in the metrics). Stage 0 and the
profiles agent use it; stage 1 decodes inside its pure pipeline and sends its letters as
outputs.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from schemas import FeedbackEvent, OrderEvent
from schemas.dead_letter import DeadLetter
from streams.metrics import WorkerMetrics
from streams.pipeline.decode import RecordOrigin, decode, rejected

__all__ = ["DeadLetters"]


class DeadLetters:
    """Decoding of single input records, and the sending of dead letters."""

    def __init__(
        self, topic: Any, metrics: WorkerMetrics, label: Callable[[str], str], orders: str
    ) -> None:
        """`topic`: the Faust dead-letter topic; `label`: topic -> the topic named in metrics;
        `orders`: the orders input topic (records of any other input decode as feedback)."""
        self._topic = topic
        self._metrics = metrics
        self._label = label
        self._orders = orders

    async def decode_or_dead_letter(self, event: Any) -> OrderEvent | FeedbackEvent | None:
        """The record's order or feedback event; None once its dead letter is sent."""
        message = event.message
        topic = message.topic
        model: type[OrderEvent] | type[FeedbackEvent] = (
            OrderEvent if self._label(topic) == self._orders else FeedbackEvent
        )
        decoded = decode(
            model,
            message.key,
            message.value,
            RecordOrigin(topic, message.partition, message.offset),
            datetime.now(UTC),
        )
        if decoded.event is not None:
            return decoded.event
        assert decoded.dead_letter is not None
        await self.send(decoded.dead_letter, message)
        return None

    async def dead_letter(self, event: Any, error_type: str, reason: str) -> None:
        """Reject the record for `reason` (no customer data in it), coded `error_type`."""
        message = event.message
        origin = RecordOrigin(message.topic, message.partition, message.offset)
        letter = rejected(message.key, message.value, origin, datetime.now(UTC), error_type, reason)
        await self.send(letter, message)

    async def send(self, letter: DeadLetter, message: Any) -> None:
        """Send the dead letter of the record `message` and count it."""
        await self._topic.send(
            key=message.key, value=letter.model_dump_json().encode(), partition=message.partition
        )
        topic = self._label(message.topic)
        self._metrics.dead_letters.labels(topic=topic, error_type=letter.error_type).inc()
        self._metrics.events_consumed.labels(topic=topic, outcome="invalid").inc()
