"""`GET /customers/{id}` on two real workers of one group (Faust's table routing).

Both workers start before any input, so the group settles first and each writes only the
customers of its own partitions; standby replicas are off, so a worker's local `ranked` table
holds its own customers only (its `tierstream_table_keys{table="ranked"}` says how many).
Each worker is then asked for every customer, those whose partitions the other worker owns
(from each worker's per-partition lag series) included, and every answer is compared with
the last TierChanged the workers published for that customer.
"""

from __future__ import annotations

import asyncio
import json
import time
import urllib.error
import urllib.request
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from aiokafka.partitioner import DefaultPartitioner
from prometheus_client.parser import text_string_to_metric_families

from schemas.customer_classification import CustomerClassification
from schemas.tier_changed import TierChanged
from streams.cli.main import main
from streams.worker.customer_lookup import NOT_CLASSIFIED
from streams.worker.endpoints import METRICS_PATH, READINESS_PATH
from tests.conftest import Infra
from tests.integration.worker_process import (
    expected_history,
    log_tail,
    prepare_topics,
    read_records,
    running_worker,
    wait_until_ranked,
    with_own_port,
    worker_env,
)
from tiering import default_policy, diff

pytestmark = pytest.mark.integration

PARTITIONS = 4


def _get(url: str) -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(url, timeout=10) as answer:  # noqa: S310 (loopback URL we built)
            return int(answer.status), json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return int(error.code), json.loads(error.read())


def _samples(base: str, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    with urllib.request.urlopen(base + METRICS_PATH, timeout=10) as answer:  # noqa: S310
        text = answer.read().decode()
    return {
        tuple(sorted(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name
    }


def _owned(base: str, orders_topic: str) -> frozenset[int]:
    """The input partitions a worker owns: those it reports consumer lag for."""
    lag = _samples(base, "tierstream_consumer_lag_records")
    return frozenset(
        int(dict(labels)["partition"]) for labels in lag if dict(labels)["topic"] == orders_topic
    )


def _settled_split(bases: list[str], orders_topic: str, logs: str) -> list[frozenset[int]]:
    """Wait (bounded) until both workers are ready and split the partitions between them."""
    deadline = time.monotonic() + 120
    owned: list[frozenset[int]] = []
    while time.monotonic() < deadline:
        try:
            ready = all(_get(base + READINESS_PATH)[0] == 200 for base in bases)
            owned = [_owned(base, orders_topic) for base in bases]
        except OSError:  # a web server not listening yet
            ready = False
        if (
            ready
            and all(owned)
            and not owned[0] & owned[1]
            and owned[0] | owned[1] == set(range(PARTITIONS))
        ):
            return owned
        time.sleep(0.5)
    raise AssertionError(f"the group never split the partitions: {owned}\n{logs}")


def _tails(logs: list[Path]) -> str:
    return "".join(log_tail(log) for log in logs)


def _partition_of(customer: str) -> int:
    # The producer's default partitioner (murmur2, as Kafka's Java client), which keyed the
    # inputs and which Faust's routing assumes for the changelog.
    partitions = list(range(PARTITIONS))
    return int(DefaultPartitioner()(customer.encode(), partitions, partitions))


def test_each_worker_answers_for_customers_the_other_owns_with_their_last_tier_change(
    infra: Infra, unique_name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    history = expected_history(tmp_path, 120, 1_500, PARTITIONS, seed=13, span_days=400)
    orders, feedback = history.orders, history.feedback
    events, watermark, expected = history.events, history.watermark, history.expected
    final = watermark - timedelta(microseconds=1)  # the last boundary the watermark closes

    env = worker_env(
        infra,
        unique_name,
        tmp_path / "data",
        partitions=PARTITIONS,
        TIERSTREAM_STANDBY_REPLICAS="0",
        TIERSTREAM_METRICS_INTERVAL_SECONDS="1",
    )
    second_env = with_own_port({**env, "TIERSTREAM_DATA_DIR": str(tmp_path / "data-2")})
    bases = [f"http://127.0.0.1:{e['TIERSTREAM_WEB__PORT']}" for e in (env, second_env)]
    orders_topic = f"{unique_name}-orders"
    prepare_topics(infra, unique_name, PARTITIONS)
    logs = [tmp_path / "first.log", tmp_path / "second.log"]
    with running_worker(env, logs[0]), running_worker(second_env, logs[1]):
        owned = _settled_split(bases, orders_topic, _tails(logs))
        for base in bases:
            assert _get(f"{base}/customers/nobody") == (404, {"error": NOT_CLASSIFIED})

        for variable, value in env.items():
            monkeypatch.setenv(variable, value)
        replay = ["replay", str(orders), "--feedback", str(feedback)]
        assert main([*replay, "--watermark", watermark.isoformat()]) == 0
        settled = wait_until_ranked(infra, unique_name, PARTITIONS, final.isoformat(), 300)
        assert settled, _tails(logs)
        records = asyncio.run(
            read_records(
                infra.kafka_bootstrap,
                f"{unique_name}-tier-changes",
                expected=len(expected.emitted),
                timeout=60,
            )
        )
        answers = {
            base: {
                customer: _get(f"{base}/customers/{customer}")
                for customer in sorted({event.customer_id for event in events})
            }
            for base in bases
        }
        local_keys = [
            _samples(base, "tierstream_table_keys")[(("table", "ranked"),)] for base in bases
        ]
        # No rebalance moved a partition while the workers were asked.
        assert [_owned(base, orders_topic) for base in bases] == owned, _tails(logs)

    changes = [TierChanged.model_validate_json(record.value) for record in records]
    assert len(changes) == len(expected.emitted), _tails(logs)
    last = {change.customer_id: change for change in changes}
    # Each worker holds only its own customers' records, fewer than it answered 200 for:
    # it answered the others' by forwarding.
    stored = sum(expected.ranked(customer) is not None for customer in answers[bases[0]])
    assert sum(local_keys) == stored, local_keys
    assert all(0 < keys < len(last) for keys in local_keys), local_keys

    for mine, theirs, base in ((owned[0], owned[1], bases[0]), (owned[1], owned[0], bases[1])):
        foreign = [customer for customer in last if _partition_of(customer) in theirs]
        assert foreign, f"no customer on the partitions {sorted(theirs)} the other owns"
        assert all(_partition_of(customer) not in mine for customer in foreign)
        for customer in foreign:
            assert answers[base][customer][0] == 200, (customer, answers[base][customer])

    for customer, answered in answers[bases[0]].items():
        status, body = answered
        assert answers[bases[1]][customer] == answered, customer
        if customer not in last:
            assert (status, body) == (404, {"error": NOT_CLASSIFIED}), customer
            continue
        assert status == 200, (customer, body)
        change = last[customer]
        current = CustomerClassification.model_validate(body)
        assert current.customer_id == customer
        assert current.policy_version == change.policy_version
        if current.occurred_at == change.occurred_at:
            assert (current.current, current.metrics) == (change.current, change.metrics)
        else:
            # Re-evaluated at a later boundary without a counted change: scores and the
            # ABC class may have moved, tier, risk, lifecycle and segment have not.
            assert current.occurred_at > change.occurred_at, customer
            assert diff(change.current, current.current, default_policy()) is None, customer
