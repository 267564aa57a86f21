"""The TransactionGate's commit (streams/worker/transaction_gate.py): Faust reads which
offsets are acknowledged only once the gate is held, so a commit never carries the outputs
of a batch without that batch's offsets."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

from streams.worker.transaction_gate import TransactionGate


def _app(acknowledged: dict[str, int], committed: list[int]) -> Any:
    async def force_commit(topics: Any = None, start_new_transaction: bool = True) -> bool:
        # Faust's force_commit: read the acknowledged offsets, commit them with the open
        # transactions (whose outputs are whatever was sent so far).
        committed.append(acknowledged["offset"])
        return True

    return SimpleNamespace(
        consumer=SimpleNamespace(force_commit=force_commit, key_partition=lambda *_: 0),
        producer=SimpleNamespace(buffer=SimpleNamespace(size=0)),
    )


async def test_a_commit_reads_the_acknowledged_offsets_only_once_it_holds_the_gate() -> None:
    acknowledged, committed = {"offset": 1}, []
    app = _app(acknowledged, committed)
    gate = TransactionGate(app)
    gate.install()

    async with gate.lock:  # an agent is processing a batch
        commit = asyncio.create_task(app.consumer.force_commit())
        await asyncio.sleep(0)  # the commit timer fires meanwhile and waits for the gate
        acknowledged["offset"] = 2  # the batch's outputs are sent and its records acked

    await commit
    assert committed == [2]


async def test_a_commit_waits_until_the_producer_buffer_is_empty() -> None:
    acknowledged, committed = {"offset": 1}, []
    app = _app(acknowledged, committed)
    app.producer.buffer.size = 1  # a table write not yet handed to the Kafka client
    gate = TransactionGate(app)
    gate.install()

    commit = asyncio.create_task(app.consumer.force_commit())
    await asyncio.sleep(0.01)
    assert committed == []
    app.producer.buffer.size = 0
    await commit
    assert committed == [1]
