"""One record at a time, and never a record taken from a stream before a revocation.

Every agent processes its records while holding one lock: under exactly_once the
TransactionGate's (streams/worker/transaction_gate.py), so each transaction commit falls
between records. The partitions-revoked handler takes the same lock and counts the
revocation in `generation`; a record taken in an earlier generation is skipped without an
ack, because the consumer goes back to the committed offsets and delivers it again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from streams.worker.transaction_gate import TransactionGate

__all__ = ["RevocationFence"]


class RevocationFence:
    """The record lock, the transaction gate (exactly_once only) and the revocation count."""

    def __init__(self, gate: TransactionGate | None) -> None:
        self.gate = gate
        self.lock = gate.lock if gate is not None else asyncio.Lock()
        # Counts revocations: a record taken from a stream before one is not processed after
        # it (the consumer goes back to the committed offsets and delivers it again).
        self.generation = 0

    def install_gate(self) -> None:
        """Wrap the app's transaction commit, under exactly_once (idempotent; the consumer
        must exist, so agents call it before each record)."""
        if self.gate is not None:
            self.gate.install()

    def track_taken(self, manual: Any) -> Callable[[Any], bool]:
        """Stamp each event of the (noack) stream `manual` with the generation it is taken
        in. The returned check says, once per event, whether it was taken in the current
        generation: one taken before a revocation is not processed after it (the consumer
        goes back to the committed offsets and delivers it again)."""
        taken_in: dict[int, int] = {}

        def stamp(value: Any) -> Any:
            # Faust runs a stream's processors as it takes an event, with current_event set.
            taken_in[id(manual.current_event)] = self.generation
            return value

        manual.add_processor(stamp)

        def current(event: Any) -> bool:
            return taken_in.pop(id(event), None) == self.generation

        return current

    async def each_record(self, stream: Any, handle: Callable[[Any], Awaitable[None]]) -> None:
        """The loop of a per-record agent (stage 0, profiles): each record under the gate,
        skipped when taken before a revocation (the consumer delivers it again)."""
        manual = stream.noack()  # StreamT lacks noack()
        async for event in manual.events():
            self.install_gate()
            generation = self.generation
            async with self.lock:
                if generation == self.generation:
                    await handle(event)
                    await manual.ack(event)
