"""`tierstream demo`: the main job on a laptop.

For now: brings up the local Kafka and Redis (`scripts/infra`), starts a consumer that shows
each order event as it arrives, feeds a small deterministic sample of orders, and prints a
summary. The full demo (worker, notifier, live tier changes and alerts) replaces this body.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import subprocess
import time
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

__all__ = ["HELP", "add_arguments", "run"]

HELP = "run the local demo: Kafka + Redis, sample order events, live output"
REPO = Path(__file__).resolve().parents[2]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Demo options."""
    parser.add_argument("--duration", type=float, default=20.0, help="seconds to run (default 20)")
    parser.add_argument("--customers", type=int, default=20, help="sample customers (default 20)")
    parser.add_argument("--orders", type=int, default=60, help="sample orders (default 60)")
    parser.add_argument(
        "--keep-infra", action="store_true", help="leave Kafka and Redis running afterwards"
    )


def sample_orders(customers: int, orders: int, seed: int = 7) -> list[dict[str, str]]:
    """A deterministic sample history: a few big spenders and a long tail (Pareto-like)."""
    generator = random.Random(seed)  # noqa: S311 - sample data, not a secret
    start = datetime(2026, 1, 1, tzinfo=UTC)
    weights = [1 / (rank + 1) for rank in range(customers)]
    rows = []
    for index in range(orders):
        customer = generator.choices(range(customers), weights=weights)[0]
        amount = Decimal(generator.lognormvariate(6, 1)).quantize(Decimal("0.01"))
        rows.append(
            {
                "event_id": str(uuid.UUID(int=generator.getrandbits(128))),
                "order_id": f"o-{index:05d}",
                "customer_id": f"c-{customer:03d}",
                "occurred_at": (start + timedelta(hours=index * 7)).isoformat(),
                "amount": str(amount),
                "currency": "EUR",
                "kind": "purchase",
            }
        )
    return rows


def _infra_env() -> dict[str, str]:
    pairs = (REPO / ".infra" / "env").read_text().splitlines()
    return dict(line.split("=", 1) for line in pairs if "=" in line)


async def _run_demo(bootstrap: str, args: argparse.Namespace) -> int:
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
    from rich.console import Console

    console = Console()
    topic = f"demo-orders-{uuid.uuid4().hex[:6]}"
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest")
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    rows = sample_orders(args.customers, args.orders)
    received = 0
    revenue = Decimal(0)
    try:
        # Send the first record before subscribing, so the topic exists for the consumer.
        await producer.send_and_wait(topic, json.dumps(rows[0]).encode(), key=b"c-000")
        await consumer.start()
        deadline = time.monotonic() + args.duration
        pace = max(args.duration / 2 / max(len(rows), 1), 0.01)
        for row in rows[1:]:
            await producer.send(topic, json.dumps(row).encode(), key=row["customer_id"].encode())
            batches = await consumer.getmany(timeout_ms=int(pace * 1000))
            for records in batches.values():
                for record in records:
                    event = json.loads(record.value)
                    received += 1
                    revenue += Decimal(event["amount"])
                    console.print(
                        f"[dim]{event['occurred_at'][:10]}[/] order {event['order_id']} "
                        f"customer [bold]{event['customer_id']}[/] {event['amount']} EUR"
                    )
            if time.monotonic() > deadline:
                break
        await producer.flush()
        while received < len(rows) and time.monotonic() < deadline + 10:
            for records in (await consumer.getmany(timeout_ms=500)).values():
                for record in records:
                    received += 1
                    revenue += Decimal(json.loads(record.value)["amount"])
    finally:
        await consumer.stop()
        await producer.stop()
    console.print(
        f"[green]demo done[/]: {received} of {len(rows)} orders round-tripped through Kafka "
        f"at {bootstrap}, revenue {revenue} EUR"
    )
    return 0 if received == len(rows) else 1


def run(args: argparse.Namespace) -> int:
    """Start the infrastructure, run the demo, stop what was started."""
    infra = REPO / "scripts" / "infra"
    already_up = (REPO / ".infra" / "env").exists()
    subprocess.run([str(infra), "up"], check=True)  # noqa: S603 - our own script
    try:
        return asyncio.run(_run_demo(_infra_env()["TIERSTREAM_KAFKA_BOOTSTRAP"], args))
    finally:
        if not (already_up or args.keep_infra):
            subprocess.run([str(infra), "down"], check=False)  # noqa: S603 - our own script
