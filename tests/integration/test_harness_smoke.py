"""The harness really runs Kafka and Redis: round trips and a Faust table surviving a restart."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import redis.asyncio as redis
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from tests.conftest import Infra

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]


async def test_kafka_produce_consume_round_trip(infra: Infra, unique_name: str) -> None:
    payload = uuid.uuid4().bytes
    producer = AIOKafkaProducer(bootstrap_servers=infra.kafka_bootstrap)
    await producer.start()
    try:
        await producer.send_and_wait(unique_name, payload, key=b"k")
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(
        unique_name, bootstrap_servers=infra.kafka_bootstrap, auto_offset_reset="earliest"
    )
    await consumer.start()
    try:
        message = await asyncio.wait_for(consumer.getone(), timeout=30)
    finally:
        await consumer.stop()
    assert (message.key, message.value) == (b"k", payload)


async def test_redis_round_trip(infra: Infra, unique_name: str) -> None:
    client = redis.from_url(infra.redis_url)
    try:
        await client.set(unique_name, b"value", ex=60)
        assert await client.get(unique_name) == b"value"
    finally:
        await client.aclose()


async def test_redis_set_nx_with_ttl_lets_only_the_first_writer_win(
    infra: Infra, unique_name: str
) -> None:
    """The notifier's idempotency on TierChanged.event_id relies on this."""
    client = redis.from_url(infra.redis_url)
    try:
        assert await client.set(unique_name, "1", nx=True, ex=60)
        assert not await client.set(unique_name, "2", nx=True, ex=60)
        assert await client.get(unique_name) == b"1"
        assert 0 < await client.ttl(unique_name) <= 60
    finally:
        await client.aclose()


class _Worker:
    """A Faust worker subprocess of the counter app."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self._log = log.open("ab")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.integration.faust_counter_app",
                "worker",
                "--without-web",
                # info: Faust logs its recovery steps, the evidence when a record goes missing.
                "-l",
                "info",
            ],
            cwd=REPO,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def kill(self) -> None:
        self.process.kill()
        self.process.wait(timeout=30)
        self._log.close()

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
        self._log.close()


async def _send(bootstrap: str, topic: str, keys: list[str]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        for key in keys:
            await producer.send_and_wait(topic, b'"x"', key=key.encode())
    finally:
        await producer.stop()


async def _wait_for_commit(bootstrap: str, group: str, topic: str, offset: int) -> None:
    """Until the group has committed `offset` on partition 0 of `topic` (bounded)."""
    from aiokafka import TopicPartition

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        for _ in range(60):
            committed = await admin.list_consumer_group_offsets(group)
            position = committed.get(TopicPartition(topic, 0))
            if position is not None and position.offset >= offset:
                return
            await asyncio.sleep(0.5)
        raise AssertionError(f"{group} did not commit {topic}@{offset} within 30 s")
    finally:
        await admin.close()


async def _wait_for_value(
    consumer: AIOKafkaConsumer, expected: str, timeout: float, log: Path | None = None
) -> list[str]:
    """Read the output topic until `expected` appears; returns everything read.

    On time-out the message ends with the tail of the worker's `log`, if given: a lost record
    shows there only as what the worker did not say (no error), so the order of its recovery
    steps is the evidence.
    """
    seen: list[str] = []
    deadline = asyncio.get_running_loop().time() + timeout
    while expected not in seen:
        remaining = deadline - asyncio.get_running_loop().time()
        if remaining <= 0:
            tail = log.read_text(errors="replace")[-6000:] if log is not None else ""
            raise AssertionError(f"{expected!r} not seen within {timeout}s; saw {seen}\n{tail}")
        batches = await consumer.getmany(timeout_ms=1000)
        seen += [
            record.value.decode().strip('"') for records in batches.values() for record in records
        ]
    return seen


async def _create_topics(bootstrap: str, names: list[str]) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, 1, 1) for name in names])
    finally:
        await admin.close()


def _counter_env(infra: Infra, unique_name: str, tmp_path: Path, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "TIERSTREAM_KAFKA_BOOTSTRAP": infra.kafka_bootstrap,
        "SMOKE_APP_ID": unique_name,
        "SMOKE_INPUT": f"{unique_name}-in",
        "SMOKE_OUTPUT": f"{unique_name}-out",
        "SMOKE_DATADIR": str(tmp_path / "faust-data"),
        **extra,
    }


# exactly_once runs Faust's transactional producer against Kafka 4's transaction protocol.
@pytest.mark.parametrize("guarantee", ["at_least_once", "exactly_once"])
async def test_faust_table_survives_a_worker_restart(
    infra: Infra, unique_name: str, tmp_path: Path, guarantee: str
) -> None:
    env = _counter_env(infra, unique_name, tmp_path, SMOKE_GUARANTEE=guarantee)
    # Created up front so the observer's subscription sees the topic at once.
    await _create_topics(infra.kafka_bootstrap, [f"{unique_name}-in", f"{unique_name}-out"])
    # read_committed: under exactly_once an output counts only once its transaction commits.
    consumer = AIOKafkaConsumer(
        f"{unique_name}-out",
        bootstrap_servers=infra.kafka_bootstrap,
        auto_offset_reset="earliest",
        isolation_level="read_committed",
    )
    await consumer.start()
    log = tmp_path / "worker.log"
    try:
        worker = _Worker(env, log)
        try:
            await _send(infra.kafka_bootstrap, f"{unique_name}-in", ["a", "a", "a", "b"])
            await _wait_for_value(consumer, "a=3", timeout=90, log=log)
            # The restart is about recovering the table: stop once the records are committed
            # (a stop racing its own final commit is the worker tests' concern, not Faust's).
            await _wait_for_commit(infra.kafka_bootstrap, unique_name, f"{unique_name}-in", 4)
        finally:
            worker.stop()

        restarted = _Worker(env, log)
        try:
            await _send(infra.kafka_bootstrap, f"{unique_name}-in", ["a", "a"])
            seen = await _wait_for_value(consumer, "a=5", timeout=90, log=log)
        finally:
            restarted.stop()
    finally:
        await consumer.stop()
    # Counting resumed from the recovered table, never from zero.
    assert "a=4" in seen
    assert "a=1" not in seen


async def test_a_rocksdb_table_under_exactly_once_forgets_the_writes_of_an_aborted_transaction(
    infra: Infra, unique_name: str, tmp_path: Path
) -> None:
    """A SIGKILL aborts the open transaction; the restarted app processes the record again
    and must count it once, although RocksDB had already written the first count to disk."""
    env = _counter_env(
        infra,
        unique_name,
        tmp_path,
        SMOKE_GUARANTEE="exactly_once",
        SMOKE_STORE="rocksdb://",
        SMOKE_COMMIT_INTERVAL="120",
    )
    await _create_topics(infra.kafka_bootstrap, [f"{unique_name}-in", f"{unique_name}-out"])
    # read_uncommitted sees the output of the open transaction, i.e. the table write is done.
    uncommitted = AIOKafkaConsumer(
        f"{unique_name}-out",
        bootstrap_servers=infra.kafka_bootstrap,
        auto_offset_reset="earliest",
        isolation_level="read_uncommitted",
    )
    committed = AIOKafkaConsumer(
        f"{unique_name}-out",
        bootstrap_servers=infra.kafka_bootstrap,
        auto_offset_reset="earliest",
        isolation_level="read_committed",
    )
    await uncommitted.start()
    await committed.start()
    log = tmp_path / "worker.log"
    try:
        worker = _Worker(env, log)
        try:
            await _send(infra.kafka_bootstrap, f"{unique_name}-in", ["a"])
            await _wait_for_value(uncommitted, "a=1", timeout=90, log=log)
        finally:
            worker.kill()

        restarted = _Worker({**env, "SMOKE_COMMIT_INTERVAL": "1"}, log)
        try:
            seen = await _wait_for_value(committed, "a=1", timeout=90, log=log)
            await _send(infra.kafka_bootstrap, f"{unique_name}-in", ["a"])
            seen += await _wait_for_value(committed, "a=2", timeout=90, log=log)
        finally:
            restarted.stop()
    finally:
        await uncommitted.stop()
        await committed.stop()
    assert seen == ["a=1", "a=2"], log.read_text()[-3000:]
