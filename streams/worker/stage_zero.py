"""Stage 0 of the worker: records of inputs not keyed by customer_id, sent on to their
repartition topics (streams/pipeline/repartition.py says why and how stream time survives).

The worker supplies decoding (bad records go to the dead-letter topic) and the send, which
puts each record in the transaction of the source partition it came from.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from pydantic import ValidationError

from schemas import FeedbackEvent, OrderEvent
from streams.pipeline.headers import Watermark, control_kind
from streams.pipeline.repartition import (
    SOURCE_PARTITION_HEADER,
    SOURCE_TIME_HEADER,
    SourceProgress,
    customer_partition,
)

__all__ = ["Repartitioner"]

Source = tuple[str, int]
Decode = Callable[[Any], Awaitable[OrderEvent | FeedbackEvent | None]]
Reject = Callable[[Any, str, str], Awaitable[None]]
Send = Callable[[Source, bytes | None, bytes, int, list[tuple[str, bytes]]], Awaitable[None]]


class Repartitioner:
    """Each source partition's progress, and what to send for each of its records."""

    def __init__(
        self, partitions: int, epoch_seconds: int, decode: Decode, reject: Reject, send: Send
    ) -> None:
        self._partitions = partitions
        self._epoch_seconds = epoch_seconds
        self._decode = decode
        self._reject = reject
        self._send = send
        self._progress: dict[Source, SourceProgress] = {}

    def forget(self, sources: Iterable[Source]) -> None:
        """Revoked source partitions: their next owner starts their progress afresh (targets
        keep the highest mark each source ever sent, so nothing moves back)."""
        for source in sources:
            self._progress.pop(source, None)

    async def handle(self, event: Any) -> None:
        """Send one record on: an event to its customer's partition, carrying this source
        partition's high water; a watermark, and every new epoch of the high water, to every
        partition. Invalid records are rejected (dead-lettered) by the worker's hooks."""
        message = event.message
        source = (message.topic, message.partition)
        progress = self._progress.get(source)
        if progress is None:
            progress = self._progress[source] = SourceProgress(self._epoch_seconds)
        if control_kind(message.headers) == "watermark":
            try:
                mark = Watermark.model_validate_json(message.value)
            except ValidationError:
                await self._reject(event, "control_invalid", "watermark is not valid JSON")
                return
            progress.watermark(mark.stream_time)
            await self._announce(source, progress)
            return
        domain_event = await self._decode(event)
        if domain_event is None:
            return
        announce = progress.event(domain_event.occurred_at)
        assert progress.high_water is not None
        customer = domain_event.customer_id
        headers = [
            *(message.headers or ()),
            (SOURCE_PARTITION_HEADER, str(message.partition).encode()),
            (SOURCE_TIME_HEADER, progress.high_water.isoformat().encode()),
        ]
        target = customer_partition(customer, self._partitions)
        await self._send(source, customer.encode(), message.value, target, headers)
        if announce:
            await self._announce(source, progress)

    async def _announce(self, source: Source, progress: SourceProgress) -> None:
        """The source partition's high water, as a watermark, to every target partition."""
        assert progress.high_water is not None
        value = Watermark(stream_time=progress.high_water).model_dump_json().encode()
        headers = [*Watermark.headers(), (SOURCE_PARTITION_HEADER, str(source[1]).encode())]
        for target in range(self._partitions):
            await self._send(source, None, value, target, headers)
        progress.announced()
