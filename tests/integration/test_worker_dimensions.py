"""`tierstream worker` with a policy listing `metrics_dimensions`, on the real broker.

A listed dimension labels `tierstream_customers_by_dimension`; an unlisted one never does;
a listed dimension with more than 50 values on the customers topic stops the worker at
start with an error naming it (streams/worker/dimensions.py).
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from schemas.profile import AccountManager, CustomerProfile
from streams.worker.endpoints import METRICS_PATH
from tests.conftest import Infra
from tests.integration.worker_process import (
    REPO,
    Outgoing,
    input_records,
    log_tail,
    order,
    prepare_topics,
    produce,
    read_records,
    running_worker,
    watermarks,
    worker_env,
)

pytestmark = pytest.mark.integration

PARTITIONS = 2
MONDAY = datetime(2026, 1, 5, tzinfo=UTC)
MANAGER = AccountManager(id="m-1", name="Ada")


def _policy_file(directory: Path, dimensions: list[str]) -> Path:
    text = resources.files("tiering").joinpath("default_policy.yaml").read_text("utf-8")
    document = {**yaml.safe_load(text), "metrics_dimensions": dimensions}
    path = directory / "policy.yaml"
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    return path


def _profile(name: str, customer: str, region: str, industry: str) -> Outgoing:
    profile = CustomerProfile(
        customer_id=customer, account_manager=MANAGER, region=region, industry=industry
    )
    return (f"{name}-customers", customer.encode(), profile.model_dump_json().encode(), [], None)


def _samples(port: str, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{METRICS_PATH}", timeout=5) as answer:
        text = answer.read().decode()
    return {
        tuple(sorted(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name
    }


def test_a_dimension_with_more_than_fifty_values_stops_the_worker_at_start(
    infra: Infra, unique_name: str, tmp_path: Path
) -> None:
    prepare_topics(infra, unique_name, PARTITIONS)
    profiles = [_profile(unique_name, f"c{n}", f"region-{n}", "retail") for n in range(51)]
    asyncio.run(produce(infra.kafka_bootstrap, profiles))
    env = worker_env(infra, unique_name, tmp_path / "data", partitions=PARTITIONS)
    env["TIERSTREAM_POLICY"] = str(_policy_file(tmp_path, ["industry", "region"]))
    result = subprocess.run(
        [sys.executable, "-m", "streams.cli", "worker"],
        cwd=REPO,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2, result.stderr[-2000:]
    assert "metrics_dimensions: 'region' has more than 50 distinct values" in result.stderr


def test_a_listed_dimension_labels_the_customer_gauge_and_an_unlisted_one_does_not(
    infra: Infra, unique_name: str, tmp_path: Path
) -> None:
    prepare_topics(infra, unique_name, PARTITIONS)
    env = worker_env(infra, unique_name, tmp_path / "data", partitions=PARTITIONS)
    env["TIERSTREAM_POLICY"] = str(_policy_file(tmp_path, ["region"]))
    port = env["TIERSTREAM_WEB__PORT"]
    regions = {"c1": "emea", "c2": "emea", "c3": "apac"}
    applied = (("outcome", "applied"), ("topic", f"{unique_name}-customers"))
    log = tmp_path / "worker.log"
    with running_worker(env, log):
        profiles = [_profile(unique_name, c, r, "retail") for c, r in regions.items()]
        asyncio.run(produce(infra.kafka_bootstrap, profiles))
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:  # the profiles are in before the orders count
            try:
                seen = _samples(port, "tierstream_events_consumed_total").get(applied, 0.0)
            except OSError:
                seen = 0.0
            if seen == len(regions):
                break
            time.sleep(0.5)
        assert seen == len(regions), log_tail(log)
        orders = [
            order(customer, f"o-{customer}", MONDAY + timedelta(hours=n), "100")
            for n, customer in enumerate([*regions, "c4"])
        ]
        closing = MONDAY + timedelta(days=1, microseconds=1)
        records = input_records(unique_name, orders)
        asyncio.run(produce(infra.kafka_bootstrap, records + watermarks(unique_name, closing, 2)))
        changes = asyncio.run(
            read_records(
                infra.kafka_bootstrap, f"{unique_name}-tier-changes", expected=4, timeout=120
            )
        )
        assert len(changes) == 4, log_tail(log)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            gauge = _samples(port, "tierstream_customers_by_dimension")
            if sum(gauge.values()) == 4:
                break
            time.sleep(0.5)
    by_value: dict[str, float] = {}
    for labels, value in gauge.items():
        assert dict(labels)["dimension"] == "region"
        by_value[dict(labels)["value"]] = by_value.get(dict(labels)["value"], 0.0) + value
    assert by_value == {"emea": 2.0, "apac": 1.0, "none": 1.0}
