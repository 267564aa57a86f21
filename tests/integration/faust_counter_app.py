"""A minimal Faust app for the harness smoke test: counts events per key in a table.

Started as a subprocess worker (`python -m tests.integration.faust_counter_app worker`), with
the broker, app id and topics from the environment. After each update it publishes
`key=count` to the output topic, so the test observes the table from outside the process.
The table is `memory://` unless SMOKE_STORE says otherwise: only changelog recovery can bring
the counts back after a restart. SMOKE_COMMIT_INTERVAL (seconds) holds a transaction open longer.
Under exactly_once the app uses the worker's TransactionGate: without it Faust 0.15 can commit
an output and its input offset in one transaction and the table write that goes with them in
the next, so a restart finds the output committed and the count lost
(streams/worker/transaction_gate.py). It also takes all the worker's fixes of Faust's recovery
(streams/worker/faust_fixes.py): without the first, a restarted exactly_once app reads its
changelog's end as -1 before any fetch and starts counting from zero; without the two seek
fixes, a restarted app resumes its input before seeking it to the committed offset and can
mark a record acknowledged that it never processed; without the last, a RocksDB table keeps
the counts of an aborted transaction.
"""

from __future__ import annotations

import os

import faust

from streams.worker.faust_fixes import (
    discard_local_tables_under_exactly_once,
    recover_tables_to_the_broker_end_offsets,
    seek_stream_partitions_before_delivering_them,
    seek_uncommitted_partitions_to_their_reset_offset,
)
from streams.worker.transaction_gate import TransactionGate

recover_tables_to_the_broker_end_offsets()
seek_stream_partitions_before_delivering_them()
seek_uncommitted_partitions_to_their_reset_offset()

app = faust.App(
    os.environ["SMOKE_APP_ID"],
    broker=f"kafka://{os.environ['TIERSTREAM_KAFKA_BOOTSTRAP']}",
    store=os.environ.get("SMOKE_STORE", "memory://"),
    datadir=os.environ["SMOKE_DATADIR"],
    autodiscover=False,
    web_enabled=False,
    topic_partitions=1,
    processing_guarantee=os.environ.get("SMOKE_GUARANTEE", "at_least_once"),
    broker_commit_interval=float(os.environ.get("SMOKE_COMMIT_INTERVAL", "2.8")),
    # A SIGKILLed member leaves the group only when its session expires; the restart waits.
    broker_session_timeout=10.0,
)
discard_local_tables_under_exactly_once(app)
events = app.topic(os.environ["SMOKE_INPUT"], key_type=str, value_type=str)
counts_out = app.topic(os.environ["SMOKE_OUTPUT"], key_type=str, value_type=str)
counts = app.Table("counts", default=int, partitions=1)
gate = TransactionGate(app) if app.conf.processing_guarantee.value == "exactly_once" else None


@app.agent(events)
async def count(stream: faust.StreamT[str]) -> None:
    async for key, _value in stream.items():
        if gate is None:
            counts[key] += 1
            await counts_out.send(key=key, value=f"{key}={counts[key]}")
            continue
        gate.install()
        async with gate.lock:
            counts[key] += 1
            # Inside the input's transaction: Faust would send to a topic the app only
            # writes outside any transaction (it knows no group for it).
            await gate.send_for(
                (events.get_topic_name(), 0),
                counts_out.get_topic_name(),
                key.encode(),
                f'"{key}={counts[key]}"'.encode(),
                0,
                [],
            )


if __name__ == "__main__":
    app.main()
