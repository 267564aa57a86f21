"""The worker rides out a broker restart in the middle of a replay (issue #13).

The broker is the test's own (tests/integration/own_broker.py), so that stopping it leaves
the session's shared broker alone. A controlled restart (SIGTERM, then the same ports and
data) lands while the worker is ranking a generated history under exactly_once; afterwards
the per-customer TierChanged sequences equal the in-process pipeline's, nothing lost or
repeated.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from streams.cli.main import main
from tests.conftest import Infra
from tests.integration.own_broker import OwnBroker
from tests.integration.worker_process import (
    expected_history,
    log_tail,
    per_customer,
    prepare_topics,
    running_worker,
    tier_changes,
    worker_env,
)

pytestmark = pytest.mark.integration

PARTITIONS = 2


def test_a_broker_restart_mid_replay_loses_and_repeats_no_tier_change(
    infra: Infra, unique_name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    broker = OwnBroker(tmp_path / "broker")
    broker.start()
    try:
        own = Infra(broker.bootstrap, infra.redis_url)
        history = expected_history(tmp_path, 300, 4_000, PARTITIONS, seed=9, span_days=500)
        expected = history.expected.emitted
        env = worker_env(own, unique_name, tmp_path / "data")
        prepare_topics(own, unique_name, PARTITIONS)
        for variable, value in env.items():
            monkeypatch.setenv(variable, value)
        replay = ["replay", str(history.orders), "--feedback", str(history.feedback)]
        assert main([*replay, "--watermark", history.watermark.isoformat()]) == 0
        log = tmp_path / "worker.log"
        with running_worker(env, log) as worker:
            partial = tier_changes(own, unique_name, len(expected) // 4, 180, linger=0.0)
            broker.stop()
            time.sleep(5)  # down long enough for every client to notice
            broker.start()
            received = tier_changes(own, unique_name, len(expected), 300)
            survived = worker.poll() is None

        assert 0 < len(partial) < len(expected), "the restart must land mid-stream"
        assert survived, log_tail(log)
        assert len(received) == len(expected), log_tail(log)
        assert per_customer(received) == per_customer(expected)
    finally:
        broker.stop()
