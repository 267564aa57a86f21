"""Benchmark one `tierstream worker` on the local broker, beside a bare aiokafka consumer.

    .venv/bin/python bench/stream.py 200000 --customers 20000
    .venv/bin/python bench/stream.py 20000 --customers 2000 --rate 200 --latency-seconds 20

Uses the running local infrastructure (`.infra/env` or TIERSTREAM_KAFKA_BOOTSTRAP), starting
it with `scripts/infra up` if nothing runs. Figures only, no verdict.

1. Throughput: a generated history is replayed into fresh topics (event clock, daily epochs,
   final watermark). A bare aiokafka consumer reads both input topics end to end; then one
   worker processes them (orders in, TierChanged out) until its group has committed the end
   of every input partition and `tier-changes` stops growing. Both rates and their ratio are
   printed; the worker's figure is given with and without its start-up (group join).
2. Latency: a second worker on fresh topics under the wall clock (1 s epochs, no lateness)
   receives first purchases of new customers at a fixed rate; each yields one initial
   TierChanged. Latency = TierChanged append time - order send time, p50/p99/max.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def _bootstrap() -> str:
    if os.environ.get("TIERSTREAM_KAFKA_BOOTSTRAP"):
        return os.environ["TIERSTREAM_KAFKA_BOOTSTRAP"]
    subprocess.run([str(REPO / "scripts" / "infra"), "up"], check=True)
    for line in (REPO / ".infra" / "env").read_text().splitlines():
        name, _, value = line.partition("=")
        if name == "TIERSTREAM_KAFKA_BOOTSTRAP":
            return value.strip()
    raise SystemExit("no TIERSTREAM_KAFKA_BOOTSTRAP in .infra/env")


def _env(bootstrap: str, name: str, data: Path, partitions: int, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "TIERSTREAM_KAFKA_BOOTSTRAP": bootstrap,
        "TIERSTREAM_APP_ID": name,
        "TIERSTREAM_TOPICS__ORDERS": f"{name}-orders",
        "TIERSTREAM_TOPICS__FEEDBACK": f"{name}-feedback",
        "TIERSTREAM_TOPICS__CUSTOMERS": f"{name}-customers",
        "TIERSTREAM_TOPICS__TIER_CHANGES": f"{name}-tier-changes",
        "TIERSTREAM_TOPICS__DEAD_LETTER": f"{name}-dlq",
        "TIERSTREAM_TOPICS__PARTITIONS": str(partitions),
        "TIERSTREAM_DATA_DIR": str(data / name),
        **extra,
    }


def _start_worker(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as handle:
        return subprocess.Popen(
            [sys.executable, "-m", "streams.cli", "worker"],
            cwd=REPO,
            env=env,
            stdout=handle,
            stderr=subprocess.STDOUT,
        )


def _stop(worker: subprocess.Popen[bytes]) -> None:
    worker.send_signal(signal.SIGTERM)
    try:
        worker.wait(timeout=60)
    except subprocess.TimeoutExpired:
        worker.kill()
        worker.wait()


async def _bare_consumer_rate(bootstrap: str, topics: list[str], total: int) -> float:
    from aiokafka import AIOKafkaConsumer

    consumer = AIOKafkaConsumer(
        *topics,
        bootstrap_servers=bootstrap,
        group_id=f"bench-bare-{uuid.uuid4().hex[:8]}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        seen = 0
        started: float | None = None
        while seen < total:
            batches = await consumer.getmany(timeout_ms=1000, max_records=5000)
            if batches and started is None:
                started = time.perf_counter()
            seen += sum(len(records) for records in batches.values())
        assert started is not None
        return seen / (time.perf_counter() - started)
    finally:
        await consumer.stop()


async def _offsets(bootstrap: str, group: str | None, topics: list[str]) -> dict[str, int]:
    """Sum of committed offsets (group) or end offsets (group None) per topic."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False
    )
    await consumer.start()
    try:
        for topic in topics:
            consumer._client.add_topic(topic)
        await consumer._client.force_metadata_update()
        sums = {}
        for topic in topics:
            partitions = consumer.partitions_for_topic(topic) or set()
            tps = [TopicPartition(topic, p) for p in partitions]
            if group is None:
                sums[topic] = sum((await consumer.end_offsets(tps)).values())
            else:
                sums[topic] = sum([(await consumer.committed(tp)) or 0 for tp in tps])
        return sums
    finally:
        await consumer.stop()


async def _count_committed(bootstrap: str, topic: str) -> int:
    """Records of committed transactions in `topic` (end offsets also count the commit
    markers of exactly_once)."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        enable_auto_commit=False,
        isolation_level="read_committed",
        auto_offset_reset="earliest",
    )
    await consumer.start()
    try:
        consumer._client.add_topic(topic)
        await consumer._client.force_metadata_update()
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        consumer.assign(partitions)
        ends = await consumer.end_offsets(partitions)
        counted, idle_polls = 0, 0
        # Bounded: a trailing commit marker may keep a position just short of its end.
        while idle_polls < 3 and any([await consumer.position(tp) < ends[tp] for tp in partitions]):
            batches = await consumer.getmany(timeout_ms=1000, max_records=10_000)
            read = sum(len(records) for records in batches.values())
            counted += read
            idle_polls = 0 if read else idle_polls + 1
        return counted
    finally:
        await consumer.stop()


def throughput(args: argparse.Namespace, bootstrap: str, data: Path) -> None:
    from streams.cli.main import main as cli
    from streams.data.history import FEEDBACK_HEADER, ORDER_HEADER, generate_history, write_csv
    from streams.kafka.admin import ranked_through

    name = f"bench-{uuid.uuid4().hex[:8]}"
    env = _env(
        bootstrap,
        name,
        data,
        args.partitions,
        TIERSTREAM_CLOCK="event",
        TIERSTREAM_EPOCH_SECONDS=str(args.epoch_seconds),
        TIERSTREAM_STORE=args.store,
        TIERSTREAM_PROCESSING_GUARANTEE=args.guarantee,
    )
    print(
        f"throughput run: epoch {args.epoch_seconds} s, {args.store}, {args.guarantee}, "
        f"{args.partitions} partitions"
    )
    history = generate_history(args.customers, args.events, seed=11, span_days=500)
    orders = write_csv(data / "orders.csv", ORDER_HEADER, history.orders)
    feedback = write_csv(data / "feedback.csv", FEEDBACK_HEADER, history.feedback)
    os.environ.update({k: v for k, v in env.items() if k.startswith("TIERSTREAM_")})
    replay = ["replay", str(orders), "--feedback", str(feedback)]
    assert cli([*replay, "--watermark", "2026-07-01T00:00:00.000001+00:00"]) == 0
    inputs = [f"{name}-orders", f"{name}-feedback"]
    ends = asyncio.run(_offsets(bootstrap, None, inputs))
    total = sum(ends.values())
    print(f"replayed {total:,} records ({args.customers:,} customers) into {name}-*")

    bare = asyncio.run(_bare_consumer_rate(bootstrap, inputs, total))
    print(f"bare aiokafka consumer: {bare:,.0f} records/s")

    log = data / "throughput-worker.log"
    started = time.perf_counter()
    worker = _start_worker(env, log)
    first_progress: float | None = None
    try:
        while True:
            time.sleep(1.0)
            if worker.poll() is not None:
                raise SystemExit(f"worker exited {worker.returncode}; see {log}")
            if first_progress is None:
                committed = asyncio.run(_offsets(bootstrap, name, inputs))
                if sum(committed.values()) > 0:
                    first_progress = time.perf_counter()
            ranked = asyncio.run(ranked_through(bootstrap, name))
            if len(ranked) == args.partitions and all(b == FINAL for b in ranked.values()):
                break
    finally:
        finished = time.perf_counter()
        _stop(worker)
    changes = asyncio.run(_count_committed(bootstrap, f"{name}-tier-changes"))
    assert first_progress is not None
    with_startup = total / (finished - started)
    processing = total / (finished - first_progress)
    print(
        f"worker: {total:,} records in {finished - started:.1f} s with start-up "
        f"({with_startup:,.0f} records/s), {finished - first_progress:.1f} s from the first "
        f"commit ({processing:,.0f} records/s); {changes:,} TierChanged records"
    )
    print(
        f"ratio worker/bare consumer: {processing / bare:.4f} "
        f"(with start-up {with_startup / bare:.4f})"
    )


FINAL = "2026-07-01T00:00:00+00:00"


async def _latency_run(bootstrap: str, name: str, rate: float, seconds: float) -> list[float]:
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

    from schemas import OrderEvent

    sent: dict[str, float] = {}
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    consumer = AIOKafkaConsumer(
        f"{name}-tier-changes",
        bootstrap_servers=bootstrap,
        auto_offset_reset="latest",
        isolation_level="read_committed",
        group_id=f"{name}-latency-reader",
    )
    await producer.start()
    await consumer.start()
    latencies: list[float] = []

    async def read() -> None:
        from schemas.tier_changed import TierChanged

        while True:
            for records in (await consumer.getmany(timeout_ms=500)).values():
                for record in records:
                    change = TierChanged.model_validate_json(record.value)
                    if change.customer_id in sent and change.previous is None:
                        latencies.append(record.timestamp / 1000 - sent[change.customer_id])

    reader = asyncio.create_task(read())
    try:
        await asyncio.sleep(2)
        interval = 1 / rate
        count = int(rate * seconds)
        begin = time.time()
        for index in range(count):
            await asyncio.sleep(max(0.0, begin + index * interval - time.time()))
            customer = f"L{index:07d}"
            order = OrderEvent(
                event_id=f"lat-{index}",
                order_id=f"LO{index}",
                customer_id=customer,
                occurred_at=datetime.now(UTC),
                amount=10 + index % 90,
            )
            sent[customer] = time.time()
            await producer.send(
                f"{name}-orders", order.model_dump_json().encode(), key=customer.encode()
            )
        deadline = time.time() + 30
        while len(latencies) < count and time.time() < deadline:
            await asyncio.sleep(0.5)
        return latencies
    finally:
        reader.cancel()
        await consumer.stop()
        await producer.stop()


def latency(args: argparse.Namespace, bootstrap: str, data: Path) -> None:
    from streams.kafka.admin import ensure_topics

    name = f"bench-lat-{uuid.uuid4().hex[:8]}"
    env = _env(
        bootstrap,
        name,
        data,
        args.partitions,
        TIERSTREAM_CLOCK="wall",
        TIERSTREAM_EPOCH_SECONDS="1",
        TIERSTREAM_CLOCK_LATENESS_SECONDS="0",
        TIERSTREAM_CLOCK_TICK_SECONDS="0.25",
        TIERSTREAM_STORE=args.store,
    )
    topics = [f"{name}-{s}" for s in ("orders", "feedback", "customers", "tier-changes", "dlq")]
    asyncio.run(ensure_topics(bootstrap, topics, args.partitions, 1))
    log = data / "latency-worker.log"
    worker = _start_worker(env, log)
    try:
        time.sleep(args.warmup)
        latencies = asyncio.run(_latency_run(bootstrap, name, args.rate, args.latency_seconds))
    finally:
        _stop(worker)
    expected = int(args.rate * args.latency_seconds)
    if not latencies:
        raise SystemExit(f"no TierChanged measured; see {log}")
    ordered = sorted(latencies)
    p99 = ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]
    print(
        f"latency at {args.rate:g} orders/s for {args.latency_seconds:g} s "
        f"(wall clock, 1 s epochs, EOS): {len(latencies):,}/{expected:,} measured; "
        f"p50 {statistics.median(ordered):.2f} s, p99 {p99:.2f} s, max {ordered[-1]:.2f} s"
    )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("events", type=int, help="generated order rows for the throughput run")
    parser.add_argument("--customers", type=int, help="default: events / 10")
    parser.add_argument("--partitions", type=int, default=2)
    parser.add_argument("--store", default="memory://", choices=["memory://", "rocksdb://"])
    parser.add_argument(
        "--epoch-seconds", type=int, default=86_400, help="throughput run (worker default: 60)"
    )
    parser.add_argument(
        "--guarantee", default="exactly_once", choices=["exactly_once", "at_least_once"]
    )
    parser.add_argument("--rate", type=float, default=200.0, help="orders/s in the latency run")
    parser.add_argument("--latency-seconds", type=float, default=30.0)
    parser.add_argument("--warmup", type=float, default=15.0, help="seconds for the worker to join")
    parser.add_argument("--skip-throughput", action="store_true")
    # A profile of the throughput worker needs no latency run after it (issue #13).
    parser.add_argument("--skip-latency", action="store_true")
    args = parser.parse_args()
    args.customers = args.customers or max(args.events // 10, 10)
    bootstrap = _bootstrap()
    with tempfile.TemporaryDirectory() as directory:
        data = Path(directory)
        if not args.skip_throughput:
            throughput(args, bootstrap, data)
        if not args.skip_latency:
            latency(args, bootstrap, data)
    return 0


if __name__ == "__main__":
    sys.exit(main())
