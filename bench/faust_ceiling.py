"""What faust-streaming 0.15.3 itself can carry on this machine, beside a bare consumer.

    .venv/bin/python bench/faust_ceiling.py 100000 --customers 10000
    .venv/bin/python bench/faust_ceiling.py 100000 --guarantee at_least_once

A minimal Faust app, built like the worker (same Faust settings, `noack_take` batches of
2,000 records or 50 ms, the worker's TransactionGate and recovery fixes under exactly_once,
100 ms commit interval, raw serializers, memory:// tables, started without the spinner),
with no tierstream logic at all. Each mode adds one kind of per-record work, so the rates
bound what any pipeline on this transport can do:

- `ack`: take each batch and acknowledge it (consume + commit only).
- `state`: plus one changelog-backed table write per *distinct* customer of the batch (the
  fewest writes a stateful stage can make: Kafka Streams' record cache does the same).
- `state+send`: plus one output record per input record (a TierChanged-sized payload),
  sent through Faust to an output topic inside the transaction.

The broker, topics and bare-consumer figure are measured in the same run. Figures only.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

MODES = ("ack", "state", "state+send")
STATE_BYTES = 600  # about a customer-state record of the worker (JSON)
OUTPUT_BYTES = 1200  # about a TierChanged record (JSON)


def _app_main() -> None:
    """The Faust app (run as `faust_ceiling.py worker` with CEILING_* in the environment)."""
    import faust

    from streams.worker.faust_fixes import (
        discard_local_tables_under_exactly_once,
        recover_tables_to_the_broker_end_offsets,
    )
    from streams.worker.stage_one import _as_current_event
    from streams.worker.transaction_gate import TransactionGate

    recover_tables_to_the_broker_end_offsets()
    env = os.environ
    mode = env["CEILING_MODE"]
    guarantee = env["CEILING_GUARANTEE"]
    partitions = int(env["CEILING_PARTITIONS"])
    app = faust.App(
        env["CEILING_APP_ID"],
        broker=f"kafka://{env['TIERSTREAM_KAFKA_BOOTSTRAP']}",
        store="memory://",
        datadir=env["CEILING_DATADIR"],
        autodiscover=False,
        web_enabled=False,
        topic_partitions=partitions,
        processing_guarantee=guarantee,
        broker_commit_interval=0.1,
        value_serializer="raw",
        key_serializer="raw",
        stream_wait_empty=False,
        stream_buffer_maxsize=65_536,
    )
    discard_local_tables_under_exactly_once(app)
    source = app.topic(env["CEILING_INPUT"])
    output = app.topic(env["CEILING_OUTPUT"])
    source_name, output_name = env["CEILING_INPUT"], env["CEILING_OUTPUT"]
    state = app.Table("state", partitions=partitions)
    gate = TransactionGate(app) if guarantee == "exactly_once" else None
    state_value = b"s" * STATE_BYTES
    output_value = b"o" * OUTPUT_BYTES

    @app.agent(source)
    async def carry(stream: faust.StreamT[bytes]) -> None:
        manual = stream.noack()  # type: ignore[attr-defined]
        async for events in manual.noack_take(2000, 0.05):
            if gate is not None:
                gate.install()
            lock = gate.lock if gate is not None else asyncio.Lock()
            async with lock:
                by_partition: dict[int, list[faust.EventT]] = {}
                for event in events:
                    by_partition.setdefault(event.message.partition, []).append(event)
                for partition, partition_events in by_partition.items():
                    if mode != "ack":
                        with _as_current_event(partition_events[-1]):
                            for key in {e.message.key for e in partition_events}:
                                state[key] = state_value
                    if mode == "state+send":
                        for event in partition_events:
                            if gate is None:
                                await output.send(
                                    key=event.message.key, value=output_value, partition=partition
                                )
                            else:  # inside the source partition's transaction, as the worker
                                await gate.send_for(
                                    (source_name, partition),
                                    output_name,
                                    event.message.key,
                                    output_value,
                                    partition,
                                    [],
                                )
                for event in events:
                    await manual.ack(event)

    # Started as `tierstream worker` starts the app: without Faust's terminal spinner, which
    # sets the root logger to DEBUG (every aiokafka debug call would build a log record).
    faust_worker = faust.Worker(app, loglevel="warn", quiet=True)
    faust_worker.spinner = None
    faust_worker.execute_from_commandline()


async def _fill(bootstrap: str, topic: str, records: int, customers: int, partitions: int) -> None:
    from aiokafka import AIOKafkaProducer

    from streams.kafka.admin import ensure_topics

    await ensure_topics(bootstrap, [topic], partitions, 1)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=20)
    await producer.start()
    try:
        value = b"x" * 200  # about an order event (JSON)
        for index in range(records):
            key = f"C{index % customers:06d}".encode()
            await producer.send(topic, value, key=key)
        await producer.flush()
    finally:
        await producer.stop()


def _carry(args: argparse.Namespace, bootstrap: str, data: Path, mode: str, topic: str) -> float:
    from stream import _offsets, _stop  # bench/stream.py

    from streams.kafka.admin import ensure_topics

    name = f"ceiling-{uuid.uuid4().hex[:8]}"
    output = f"{name}-out"
    asyncio.run(ensure_topics(bootstrap, [output], args.partitions, 1))
    env = {
        **os.environ,
        "TIERSTREAM_KAFKA_BOOTSTRAP": bootstrap,
        "CEILING_MODE": mode,
        "CEILING_GUARANTEE": args.guarantee,
        "CEILING_PARTITIONS": str(args.partitions),
        "CEILING_APP_ID": name,
        "CEILING_DATADIR": str(data / name),
        "CEILING_INPUT": topic,
        "CEILING_OUTPUT": output,
    }
    log = data / f"{name}.log"
    with log.open("ab") as handle:
        worker = subprocess.Popen(
            [sys.executable, __file__, "worker"], env=env, stdout=handle, stderr=subprocess.STDOUT
        )
    first: float | None = None
    try:
        deadline = time.monotonic() + 900
        while time.monotonic() < deadline:
            time.sleep(0.5)
            if worker.poll() is not None:
                raise SystemExit(f"ceiling app exited {worker.returncode}; see {log}")
            committed = sum(asyncio.run(_offsets(bootstrap, name, [topic])).values())
            if committed and first is None:
                first = time.perf_counter()
            if committed >= args.records:
                assert first is not None
                return args.records / (time.perf_counter() - first)
        raise SystemExit(f"ceiling app did not finish in 900 s; see {log}")
    finally:
        _stop(worker)


def main() -> int:
    if sys.argv[1:2] == ["worker"]:
        _app_main()
        return 0
    from stream import _bare_consumer_rate, _bootstrap  # bench/stream.py

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("records", type=int)
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument("--partitions", type=int, default=2)
    parser.add_argument(
        "--guarantee", default="exactly_once", choices=["exactly_once", "at_least_once"]
    )
    parser.add_argument("--modes", default=",".join(MODES), help=f"subset of {','.join(MODES)}")
    args = parser.parse_args()
    bootstrap = _bootstrap()
    topic = f"ceiling-in-{uuid.uuid4().hex[:8]}"
    asyncio.run(_fill(bootstrap, topic, args.records, args.customers, args.partitions))
    bare = asyncio.run(_bare_consumer_rate(bootstrap, [topic], args.records))
    print(
        f"faust ceiling: {args.records:,} records, {args.customers:,} customers, "
        f"{args.partitions} partitions, {args.guarantee}, memory://, commit interval 0.1 s"
    )
    print(f"bare aiokafka consumer: {bare:,.0f} records/s")
    with tempfile.TemporaryDirectory(prefix="tierstream-ceiling-") as tmp:
        for mode in args.modes.split(","):
            rate = _carry(args, bootstrap, Path(tmp), mode, topic)
            print(f"faust {mode:<10}: {rate:>9,.0f} records/s  ratio {rate / bare:.4f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
