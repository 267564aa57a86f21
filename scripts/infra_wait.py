"""Readiness checks for scripts/infra: a real Kafka produce/consume round trip and a Redis PING.

Run with the project's virtualenv; exits 0 when both answer, 1 with the failing step named.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import time
import uuid


async def kafka_round_trip(bootstrap: str, deadline: float) -> None:
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
    from aiokafka.errors import KafkaError

    topic = f"infra-ready-{uuid.uuid4().hex[:8]}"
    payload = uuid.uuid4().bytes
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, request_timeout_ms=5000)
        consumer = AIOKafkaConsumer(
            topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", group_id=None
        )
        try:
            await producer.start()
            await producer.send_and_wait(topic, payload)
            await consumer.start()
            message = await asyncio.wait_for(consumer.getone(), timeout=15)
            if message.value == payload:
                return
        except (KafkaError, OSError, TimeoutError) as error:
            last_error = error
            await asyncio.sleep(1)
        finally:
            await producer.stop()
            await consumer.stop()
    raise TimeoutError(f"no Kafka round trip on {bootstrap}: {last_error!r}")


async def redis_ping(url: str, deadline: float, ca_file: str | None = None) -> None:
    import redis.asyncio as redis

    last_error: Exception | None = None
    while time.monotonic() < deadline:
        client = redis.from_url(url, **({"ssl_ca_certs": ca_file} if ca_file else {}))
        try:
            if await client.ping():
                return
        except (redis.RedisError, OSError) as error:
            last_error = error
            await asyncio.sleep(0.2)
        finally:
            await client.aclose()
    raise TimeoutError(f"no Redis PING answer: {last_error!r}")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("check", choices=["kafka", "redis"])
    parser.add_argument("address")
    parser.add_argument("--timeout", type=float, default=90.0)
    parser.add_argument("--ca-file", help="CA of a rediss:// server (redis check only)")
    args = parser.parse_args()
    # Connection refusals while the broker boots are expected; report only the final verdict.
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    deadline = time.monotonic() + args.timeout
    try:
        if args.check == "kafka":
            asyncio.run(kafka_round_trip(args.address, deadline))
        else:
            asyncio.run(redis_ping(args.address, deadline, args.ca_file))
    except TimeoutError as error:
        # The address may carry a password (rediss://user:password@...): never print it.
        print(f"infra: {args.check} not ready: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
