"""tierstream against a secured broker and Redis: SASL_SSL with SCRAM-SHA-512 on Kafka, TLS
with an ACL user on Redis (the second endpoints of `scripts/infra`). Every tierstream process
here is configured only through TIERSTREAM_KAFKA__* and a rediss:// URL with its CA; a
PLAINTEXT client could not even connect to those ports. Results are checked on the same
servers' plaintext endpoints, with the harness's usual readers."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import redis.asyncio as redis
from prometheus_client import CollectorRegistry

from streams.cli.main import main
from streams.notifier.keys import Keys
from streams.notifier.read_model import ReadModel
from streams.notifier.service import Notifier
from streams.settings import load_settings
from tests.conftest import Infra
from tests.integration.notifier_harness import (
    create_topics,
    event_records,
    history,
    notifier_env,
    produce,
    running_notifier,
    wait_until,
)
from tests.integration.secure_endpoints import SecureInfra, secure_infra
from tests.integration.worker_process import (
    expected_history,
    log_tail,
    per_customer,
    prepare_topics,
    read_records,
    running_worker,
    tier_changes,
    worker_env,
)
from tiering import default_policy

pytestmark = pytest.mark.integration

# The default policy's tier names, highest first.
POLICY_TIERS = ("A", "B", "C")

REPO = Path(__file__).resolve().parents[2]
PARTITIONS = 2


@pytest.fixture(scope="session")
def secure(infra: Infra) -> SecureInfra:
    """The secured endpoints of the running infrastructure (after `infra` made sure it runs)."""
    return secure_infra()


def _with_password(url: str, password: str) -> str:
    """The redis[s]:// URL with another password for its user."""
    changed = re.sub(r"//([^:/]+):[^@]*@", rf"//\1:{password}@", url)
    assert changed != url
    return changed


def _replay_args(orders: Path, feedback: Path) -> list[str]:
    return ["replay", str(orders), "--feedback", str(feedback)]


def test_replay_publishes_through_the_sasl_ssl_listener(
    infra: Infra,
    secure: SecureInfra,
    unique_name: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    history_ = expected_history(tmp_path, 20, 120, PARTITIONS, seed=11, span_days=60)
    for name, value in {
        **secure.kafka_env(),
        "TIERSTREAM_TOPICS__ORDERS": f"{unique_name}-orders",
        "TIERSTREAM_TOPICS__FEEDBACK": f"{unique_name}-feedback",
        "TIERSTREAM_TOPICS__PARTITIONS": str(PARTITIONS),
    }.items():
        monkeypatch.setenv(name, value)

    assert main(_replay_args(history_.orders, history_.feedback)) == 0

    orders = sum(1 for event in history_.events if hasattr(event, "order_id"))
    records = asyncio.run(
        read_records(
            infra.kafka_bootstrap, f"{unique_name}-orders", expected=orders + PARTITIONS, timeout=60
        )
    )
    assert len(records) == orders + PARTITIONS  # the events and one watermark per partition


def test_worker_over_sasl_ssl_emits_the_deterministic_tier_changed_sequence(
    infra: Infra,
    secure: SecureInfra,
    unique_name: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    history_ = expected_history(tmp_path, 40, 400, PARTITIONS, seed=12, span_days=200)
    env = {**worker_env(infra, unique_name, tmp_path / "data"), **secure.kafka_env()}
    prepare_topics(infra, unique_name, PARTITIONS)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    replay = _replay_args(history_.orders, history_.feedback)
    assert main([*replay, "--watermark", history_.watermark.isoformat()]) == 0
    log = tmp_path / "worker.log"
    expected = history_.expected.emitted
    with running_worker(env, log):
        received = tier_changes(infra, unique_name, len(expected), 180)

    assert len(received) == len(expected), log_tail(log)
    assert per_customer(received) == per_customer(expected)


async def test_notifier_over_sasl_ssl_and_redis_tls_fills_the_read_model_and_alert_stream(
    infra: Infra, secure: SecureInfra, unique_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    topics = await create_topics(infra, unique_name)
    customers = [f"c-{n}" for n in range(6)]
    events = history(customers)
    await produce(infra, topics[0], event_records(events.events))
    # The ACL user may only touch keys starting with `tierstream`.
    prefix = f"tierstream-{unique_name}"
    env = {
        **notifier_env(infra, unique_name, topics, default_owner="owner"),
        **secure.kafka_env(),
        **secure.redis_env(),
        "TIERSTREAM_REDIS__KEY_PREFIX": prefix,
    }
    client = redis.from_url(secure.redis_url, **secure.redis_options())
    model, keys = ReadModel(client, Keys(prefix)), Keys(prefix)
    try:
        async with running_notifier(env, monkeypatch):

            async def caught_up() -> bool:
                alerts = await client.xlen(keys.alerts)
                return alerts >= len(events.alerting) and all(
                    [await model.get(customer) is not None for customer in customers]
                )

            await wait_until(caught_up, 40, "read model and alert stream filled")
        assert await model.tier_counts(POLICY_TIERS) == {"A": len(customers), "B": 0, "C": 0}
        assert await client.xlen(keys.alerts) == len(events.alerting)
    finally:
        await client.aclose()


def test_replay_with_a_wrong_kafka_password_fails_naming_the_sasl_settings(
    secure: SecureInfra,
    unique_name: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    history_ = expected_history(tmp_path, 5, 20, PARTITIONS, seed=13, span_days=30)
    wrong = "not-the-password-4f2a"
    for name, value in {
        **secure.kafka_env(password=wrong),
        "TIERSTREAM_TOPICS__ORDERS": f"{unique_name}-orders",
        "TIERSTREAM_TOPICS__FEEDBACK": f"{unique_name}-feedback",
    }.items():
        monkeypatch.setenv(name, value)

    assert main(_replay_args(history_.orders, history_.feedback)) == 1

    error = " ".join(capsys.readouterr().err.split())  # the console wraps long lines
    assert "refused the SASL SCRAM-SHA-512 credentials" in error, error
    assert "TIERSTREAM_KAFKA__SASL_PASSWORD" in error, error
    assert wrong not in error


def test_a_worker_with_a_wrong_kafka_password_stops_naming_the_sasl_settings(
    infra: Infra, secure: SecureInfra, unique_name: str, tmp_path: Path
) -> None:
    wrong = "not-the-password-7e3d"
    env = {
        **worker_env(infra, unique_name, tmp_path / "data"),
        **secure.kafka_env(password=wrong),
    }
    result = subprocess.run(
        [sys.executable, "-m", "streams.cli", "worker"],
        cwd=REPO,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    error = " ".join(result.stderr.split())
    assert result.returncode == 1, error[-3000:]
    assert "cannot connect to Kafka: Kafka refused the SASL SCRAM-SHA-512 credentials" in error
    assert "TIERSTREAM_KAFKA__SASL_PASSWORD" in error
    assert wrong not in result.stdout + result.stderr


def test_tier_lookup_with_a_wrong_redis_password_fails_naming_the_redis_url(
    secure: SecureInfra, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    wrong = "not-the-password-9d1e"
    for name, value in secure.redis_env(url=_with_password(secure.redis_url, wrong)).items():
        monkeypatch.setenv(name, value)

    assert main(["tier", "c-1"]) == 2

    error = " ".join(capsys.readouterr().err.split())
    assert "Redis refused the user and password in TIERSTREAM_REDIS_URL" in error, error
    assert wrong not in error


async def test_a_notifier_with_a_wrong_redis_password_is_not_ready_and_names_the_redis_url(
    infra: Infra, secure: SecureInfra, unique_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    topics = await create_topics(infra, unique_name)
    wrong = "not-the-password-0b7c"
    env = {
        **notifier_env(infra, unique_name, topics),
        **secure.kafka_env(),
        **secure.redis_env(url=_with_password(secure.redis_url, wrong)),
        "TIERSTREAM_REDIS__KEY_PREFIX": f"tierstream-{unique_name}",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    notifier = Notifier(load_settings(), default_policy(), CollectorRegistry())
    stop = asyncio.Event()
    task = asyncio.create_task(notifier.run(stop))
    try:
        await wait_until(
            lambda: "redis" in notifier.health_report().problems or task.done(),
            20,
            "a Redis problem in the health report",
        )
        report = notifier.health_report()
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)

    assert not report.ready
    reason = report.problems["redis"]
    assert "Redis refused the user and password in TIERSTREAM_REDIS_URL" in reason, reason
    assert wrong not in reason


def test_demo_runs_against_the_secured_broker_and_redis(
    secure: SecureInfra, unique_name: str
) -> None:
    # The demo's own clients (topic admin, feed, TierChanged reader, clean-up) and the worker
    # and notifier it starts all take the secured endpoints from the inherited variables.
    # 40 s as in test_demo: under load the first alerts can take 20 s to arrive.
    env = {
        **os.environ,
        "TIERSTREAM_TEST_MARKER": unique_name,
        **secure.kafka_env(),
        **secure.redis_env(),
    }
    result = subprocess.run(
        [sys.executable, "-m", "streams.cli", "demo", "--duration", "40"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=150,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    tier_changed = re.search(r"^\s*TierChanged seen:\s+([\d,]+)", output, re.MULTILINE)
    alerts = re.search(r"^\s*alerts received:\s+([\d,]+)", output, re.MULTILINE)
    assert tier_changed and int(tier_changed.group(1).replace(",", "")) > 0, output
    assert alerts and int(alerts.group(1).replace(",", "")) > 0, output
    assert "could not remove the run's topics/keys" not in output, output
