"""`tierstream worker` on the real broker: the `customers` topic and TierChanged.account_manager.

A profile the worker has applied before a boundary is ranked puts its manager on the
TierChanged events of that boundary; a tombstone takes it off again; a profile that is not
valid goes to the dead-letter topic and is counted in /metrics. Each step waits for proof
that the worker has read what came before it (a dead letter further down the same partition
of `customers`, or the TierChanged events of the previous boundary), since the customers
agent and the measure agent read their topics concurrently.
"""

from __future__ import annotations

import asyncio
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from schemas import OrderEvent
from schemas.dead_letter import DeadLetter
from schemas.profile import AccountManager, CustomerProfile
from schemas.tier_changed import TierChanged
from streams.pipeline.headers import Watermark
from streams.pipeline.local_pipeline import LocalPipeline
from streams.worker.endpoints import METRICS_PATH
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
    worker_env,
)
from tiering import default_policy

pytestmark = pytest.mark.integration

PARTITIONS = 2
MONDAY = datetime(2026, 1, 5, tzinfo=UTC)
ANNA = AccountManager(id="m-anna", name="Anna", email="anna@example.com")


def _orders(name: str, events: list[OrderEvent], closing: datetime) -> list[Outgoing]:
    """The events on `orders`, then a watermark past `closing` on every input partition."""
    mark = Watermark(stream_time=closing + timedelta(microseconds=1)).model_dump_json().encode()
    return [
        *(
            (f"{name}-orders", e.customer_id.encode(), e.model_dump_json().encode(), [], None)
            for e in events
        ),
        *(
            (f"{name}-{topic}", None, mark, Watermark.headers(), partition)
            for topic in ("orders", "feedback")
            for partition in range(PARTITIONS)
        ),
    ]


def _profile(name: str, key: bytes, value: bytes | None) -> Outgoing:
    return (f"{name}-customers", key, value, [], None)


def _read(infra: Infra, topic: str, expected: int, timeout: float) -> list[bytes]:
    records = asyncio.run(
        read_records(infra.kafka_bootstrap, topic, expected=expected, timeout=timeout)
    )
    return [record.value for record in records if record.value is not None]


def _counter(port: str, name: str, **labels: str) -> float:
    url = f"http://127.0.0.1:{port}{METRICS_PATH}"
    with urllib.request.urlopen(url, timeout=5) as answer:
        text = answer.read().decode()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return float(sample.value)
    raise AssertionError(f"no sample {name}{labels} in /metrics")


def test_tier_changes_carry_the_manager_of_the_profile_known_when_they_were_ranked(
    infra: Infra, unique_name: str, tmp_path: Path
) -> None:
    customers = f"{unique_name}-customers"
    anna = CustomerProfile(customer_id="C1", account_manager=ANNA).model_dump_json().encode()
    # Day 1: C1 small, C2 large (both first classifications). Day 2: C1 overtakes C2.
    day_one = [
        order("C1", "O1", MONDAY + timedelta(hours=9), "100"),
        order("C2", "O2", MONDAY + timedelta(hours=10), "900"),
    ]
    day_two = [order("C1", "O3", MONDAY + timedelta(days=1, hours=9), "5000")]
    expected = LocalPipeline(default_policy(), PARTITIONS, DAY)
    for event in day_one:
        expected.feed(event)
    for partition in range(PARTITIONS):
        expected.watermark(partition, MONDAY + timedelta(days=1, microseconds=1))
    first_boundary = len(expected.emitted)
    # The tombstone between the days erases C1 altogether: its day-two order starts it afresh.
    expected.erase("C1")
    for event in day_two:
        expected.feed(event)
    for partition in range(PARTITIONS):
        expected.watermark(partition, MONDAY + timedelta(days=2, microseconds=1))
    c1_later = [c for c in expected.emitted[first_boundary:] if c.customer_id == "C1"]
    assert c1_later, "the history must change C1 at the second boundary"

    env = worker_env(infra, unique_name, tmp_path / "data")
    prepare_topics(infra, unique_name, PARTITIONS)
    log = tmp_path / "worker.log"
    with running_worker(env, log):
        # A profile, then an unparsable record with the same key (same partition): once the
        # latter is in the DLQ, the profile has been applied.
        asyncio.run(
            produce(
                infra.kafka_bootstrap,
                [_profile(unique_name, b"C1", anna), _profile(unique_name, b"C1", b"{not json")],
            )
        )
        dead = _read(infra, f"{unique_name}-dlq", 1, 120)
        assert len(dead) == 1, log_tail(log)
        first_close = MONDAY + timedelta(days=1)
        asyncio.run(produce(infra.kafka_bootstrap, _orders(unique_name, day_one, first_close)))
        first = _read(infra, f"{unique_name}-tier-changes", first_boundary, 120)
        assert len(first) == first_boundary, log_tail(log)

        # The erase request, then a profile missing its manager, same key: a second dead letter.
        invalid = b'{"customer_id": "C1"}'
        asyncio.run(
            produce(
                infra.kafka_bootstrap,
                [_profile(unique_name, b"C1", None), _profile(unique_name, b"C1", invalid)],
            )
        )
        dead = _read(infra, f"{unique_name}-dlq", 2, 120)
        assert len(dead) == 2, log_tail(log)
        second_close = MONDAY + timedelta(days=2)
        asyncio.run(produce(infra.kafka_bootstrap, _orders(unique_name, day_two, second_close)))
        received = [
            TierChanged.model_validate_json(value)
            for value in _read(infra, f"{unique_name}-tier-changes", len(expected.emitted), 120)
        ]
        port = env["TIERSTREAM_WEB__PORT"]
        counted = {
            error_type: _counter(
                port, "tierstream_dead_letters_total", topic=customers, error_type=error_type
            )
            for error_type in ("json_invalid", "schema_invalid")
        }
        applied = _counter(
            port, "tierstream_events_consumed_total", topic=customers, outcome="applied"
        )
        invalid_count = _counter(
            port, "tierstream_events_consumed_total", topic=customers, outcome="invalid"
        )

    assert counted == {"json_invalid": 1.0, "schema_invalid": 1.0}
    assert (applied, invalid_count) == (2.0, 2.0)
    # Keyed by event id: the two customers' changes sit on different partitions.
    managers = {c.event_id: c.account_manager for c in received}
    wanted = {
        c.event_id: ANNA if c.customer_id == "C1" and position < first_boundary else None
        for position, c in enumerate(expected.emitted)
    }
    assert managers == wanted, log_tail(log)
    assert len(received) == len(expected.emitted)

    letters = [DeadLetter.model_validate_json(value) for value in dead]
    assert [letter.error_type for letter in letters] == ["json_invalid", "schema_invalid"]
    assert [letter.value for letter in letters] == [b"{not json", invalid]
    assert all(letter.topic == customers for letter in letters)
    assert "account_manager" in letters[1].reason
