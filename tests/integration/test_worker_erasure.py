"""`tierstream worker` on the real broker: a tombstone on `customers` erases the customer from
every table of the worker, its endpoint, and the TierChanged stream until new events arrive.

One worker, two partitions, event clock. The erased customer is classified on day one, then
one of its orders is held in the merge (the feedback input is behind), then the tombstone
comes. Each step waits for proof that the worker has applied what came before it: the
TierChanged events of day one, the held record in the `held` changelog, and a dead letter
further down the same `customers` partition as the tombstone.
"""

from __future__ import annotations

import asyncio
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiokafka.partitioner import DefaultPartitioner

from schemas.profile import AccountManager, CustomerProfile
from schemas.tier_changed import Direction
from streams.pipeline.local_pipeline import LocalPipeline
from tests.conftest import Infra
from tests.integration.worker_process import (
    DAY,
    Outgoing,
    log_tail,
    order,
    prepare_topics,
    produce,
    read_records,
    running_worker,
    tier_changes,
    watermarks,
    worker_env,
)
from tiering import default_policy

pytestmark = pytest.mark.integration

PARTITIONS = 2
MONDAY = datetime(2026, 1, 5, tzinfo=UTC)
ONE_DAY = timedelta(days=1)
TICK = timedelta(microseconds=1)
ERASED = "c-erased"
# The worker's tables; `customer-state-days` holds only states above 64 entries (none here).
TABLES = ("customer-state", "customer-state-days", "measured", "held", "ranked", "profiles")


def _partition(customer: str) -> int:
    """The partition the producer's default partitioner (murmur2) puts a key on."""
    partitions = list(range(PARTITIONS))
    return int(DefaultPartitioner()(customer.encode(), partitions, partitions))


def _on(partition: int, stem: str) -> str:
    return next(f"{stem}-{n}" for n in range(100) if _partition(f"{stem}-{n}") == partition)


NEIGHBOUR = _on(_partition(ERASED), "c-neighbour")
AWAY = _on(1 - _partition(ERASED), "c-away")


def _orders(name: str, events: list[Any]) -> list[Outgoing]:
    return [
        (f"{name}-orders", e.customer_id.encode(), e.model_dump_json().encode(), [], None)
        for e in events
    ]


def _get(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=10) as answer:  # noqa: S310 (loopback URL)
            return int(answer.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


def _live_records(infra: Infra, name: str, table: str) -> dict[bytes, bytes | None]:
    """The latest value per key of a table's changelog (None: deleted)."""
    records = asyncio.run(
        read_records(
            infra.kafka_bootstrap, f"{name}-{table}-changelog", expected=1, timeout=8, linger=2
        )
    )
    latest: dict[bytes, bytes | None] = {}
    for record in records:
        if record.key is not None:
            latest[record.key] = record.value
    return latest


def _naming(key: bytes, value: bytes | None, customer: str) -> bool:
    return key.startswith(customer.encode()) or (
        value is not None and f'"{customer}"'.encode() in value
    )


def test_a_tombstone_erases_the_customer_from_every_table_the_endpoint_and_the_tier_changes(
    infra: Infra, unique_name: str, tmp_path: Path
) -> None:
    name = unique_name
    day_one = [
        order(ERASED, "O1", MONDAY + timedelta(hours=9), "900"),
        order(NEIGHBOUR, "O2", MONDAY + timedelta(hours=10), "100"),
        order(AWAY, "O3", MONDAY + timedelta(hours=11), "300"),
    ]
    held = order(ERASED, "O4", MONDAY + ONE_DAY + timedelta(hours=10), "50")
    jump = MONDAY + 200 * ONE_DAY
    fresh = order(ERASED, "O5", jump + timedelta(hours=9), "40")
    # What the TierChanged stream holds, by the in-process pipeline (the held order is
    # erased before it is released, so it never counts); and without the erase, as control.
    expected, control = (LocalPipeline(default_policy(), PARTITIONS, DAY) for _ in range(2))
    for pipeline in (expected, control):
        for event in day_one:
            pipeline.feed(event)
        for partition in range(PARTITIONS):
            pipeline.watermark(partition, MONDAY + ONE_DAY + TICK)
    first = len(expected.emitted)
    expected.erase(ERASED)
    control.feed(held)
    for pipeline in (expected, control):
        for partition in range(PARTITIONS):
            pipeline.watermark(partition, jump + TICK)
    assert [c for c in control.emitted[first:] if c.customer_id == ERASED], "control"
    after_erase = len(expected.emitted) - first
    assert after_erase > 0, "the jump must reclassify the other customers"

    env = worker_env(infra, name, tmp_path / "data", partitions=PARTITIONS)
    prepare_topics(infra, name, PARTITIONS)
    log = tmp_path / "worker.log"
    base = f"http://127.0.0.1:{env['TIERSTREAM_WEB__PORT']}"
    profile = CustomerProfile(
        customer_id=ERASED, account_manager=AccountManager(id="m-1", name="M")
    ).model_dump_json()
    customers = f"{name}-customers"
    with running_worker(env, log):
        asyncio.run(
            produce(
                infra.kafka_bootstrap,
                [
                    (customers, ERASED.encode(), profile.encode(), [], None),
                    *_orders(name, day_one),
                    *watermarks(name, MONDAY + ONE_DAY + TICK, PARTITIONS),
                ],
            )
        )
        day_one_changes = tier_changes(infra, name, first, 120)
        assert len(day_one_changes) == first, log_tail(log)
        assert _get(f"{base}/customers/{ERASED}") == 200, log_tail(log)

        # An order the merge holds (the feedback input is still at day one's end).
        asyncio.run(produce(infra.kafka_bootstrap, _orders(name, [held])))
        held_records = _live_records(infra, name, "held")
        assert any(_naming(k, v, ERASED) for k, v in held_records.items()), log_tail(log)
        history = {table: _live_records(infra, name, table) for table in TABLES}

        # The tombstone, then an unparsable record on the same key (same partition): once
        # the latter is a dead letter, the erase has been applied and committed.
        asyncio.run(
            produce(
                infra.kafka_bootstrap,
                [
                    (customers, ERASED.encode(), None, [], None),
                    (customers, ERASED.encode(), b"{not json", [], None),
                ],
            )
        )
        dead = asyncio.run(
            read_records(infra.kafka_bootstrap, f"{name}-dlq", expected=1, timeout=120)
        )
        assert len(dead) == 1, log_tail(log)
        erased_status = _get(f"{base}/customers/{ERASED}")
        after = {table: _live_records(infra, name, table) for table in TABLES}

        asyncio.run(produce(infra.kafka_bootstrap, watermarks(name, jump + TICK, PARTITIONS)))
        jumped = tier_changes(infra, name, first + after_erase, 120)

        asyncio.run(
            produce(
                infra.kafka_bootstrap,
                [*_orders(name, [fresh]), *watermarks(name, jump + ONE_DAY + TICK, PARTITIONS)],
            )
        )
        everything = tier_changes(infra, name, first + after_erase + 1, 120)
        afresh_status = _get(f"{base}/customers/{ERASED}")

    # Before the erase every table but the day records named the customer (the control).
    named = {t for t, rs in history.items() if any(_naming(k, v, ERASED) for k, v in rs.items())}
    assert named == set(TABLES) - {"customer-state-days"}
    # After it, no live record of any table does.
    assert {
        table: [k for k, v in records.items() if v is not None and _naming(k, v, ERASED)]
        for table, records in after.items()
    } == {table: [] for table in TABLES}, log_tail(log)
    assert erased_status == 404
    later = jumped[first:]
    assert len(later) == after_erase, log_tail(log)
    assert [c.customer_id for c in later if c.customer_id == ERASED] == []
    [afresh] = [c for c in everything[first + after_erase :] if c.customer_id == ERASED]
    assert afresh.direction is Direction.INITIAL
    assert (afresh.previous, afresh.metrics.frequency) == (None, 1)
    assert afresh_status == 200
