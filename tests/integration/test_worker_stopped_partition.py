"""A partition stopped by an unexpected error does not stop the others' ranking (issue #13).

The customer-state changelog of one customer holds bytes that are not a state (a corrupt
store; no event can do this: bad events are dead letters). The worker restores that table,
meets the customer's next order, stops that partition at the order, answers /readyz 503,
and announces the stop on the ranks topic. The other partition's customers keep getting
TierChanged at boundaries after the stop, which they would not if the rank barrier still
waited for the stopped partition's next summary.
"""

from __future__ import annotations

import asyncio
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from schemas.tier_changed import TierChanged
from streams.kafka.admin import ensure_topics
from streams.pipeline.repartition import customer_partition
from tests.conftest import Infra
from tests.integration.worker_process import (
    Outgoing,
    log_tail,
    order,
    prepare_topics,
    produce,
    running_worker,
    tier_changes,
    watermarks,
    worker_env,
)

pytestmark = pytest.mark.integration

PARTITIONS = 2
START = datetime(2025, 6, 2, 10, tzinfo=UTC)


def _customer_on(partition: int, prefix: str) -> str:
    return next(
        f"{prefix}{index}"
        for index in range(1000)
        if customer_partition(f"{prefix}{index}", PARTITIONS) == partition
    )


def _readyz(port: str) -> int:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as reply:
            return int(reply.status)
    except urllib.error.HTTPError as error:
        return error.code
    except OSError:
        return 0  # not listening yet


def test_a_stopped_partition_lets_the_other_partitions_rank_on(
    infra: Infra, unique_name: str, tmp_path: Path
) -> None:
    corrupt = _customer_on(0, "CORRUPT")
    early = _customer_on(1, "EARLY")
    late = _customer_on(1, "LATE")  # first purchase after the stop: an initial TierChanged
    orders_topic = f"{unique_name}-orders"
    events = [
        order(early, "E1", START, "100"),
        order(corrupt, "C1", START + timedelta(days=3), "100"),
        order(late, "L1", START + timedelta(days=8), "100"),
    ]
    records: list[Outgoing] = [
        (orders_topic, event.customer_id.encode(), event.model_dump_json().encode(), [], None)
        for event in events
    ]
    prepare_topics(infra, unique_name, PARTITIONS)
    changelog = f"{unique_name}-customer-state-changelog"
    asyncio.run(
        ensure_topics(
            infra.kafka_bootstrap, [changelog], PARTITIONS, 1, config={"cleanup.policy": "compact"}
        )
    )
    not_a_state: Outgoing = (changelog, corrupt.encode(), b"{not json", [], 0)
    asyncio.run(
        produce(
            infra.kafka_bootstrap,
            [not_a_state, *records, *watermarks(unique_name, START + timedelta(days=12), 2)],
        )
    )
    env = worker_env(infra, unique_name, tmp_path / "data")
    log = tmp_path / "worker.log"
    seen: list[TierChanged] = []
    readiness: set[int] = set()
    with running_worker(env, log):
        deadline = time.monotonic() + 150
        while time.monotonic() < deadline and late not in {c.customer_id for c in seen}:
            seen = tier_changes(infra, unique_name, expected=1, timeout=5, linger=0.5)
            readiness.add(_readyz(env["TIERSTREAM_WEB__PORT"]))
        readiness.add(_readyz(env["TIERSTREAM_WEB__PORT"]))

    by_customer = {change.customer_id for change in seen}
    assert late in by_customer, log_tail(log)
    assert early in by_customer
    assert corrupt not in by_customer
    assert 503 in readiness
    assert "partition 0 stopped at" in log.read_text(errors="replace")
