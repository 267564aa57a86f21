"""A real `tierstream worker` serves /healthz, /readyz and /metrics, and every dashboard panel
and alert rule returns data from a real Prometheus scraping it.

The worker runs as a subprocess (event clock, memory store) on fresh topics; Prometheus
scrapes it from before the history is replayed, so every counter and histogram moves between
scrapes. The notifier's series come from a stand-in exporter (`_NotifierTraffic`): the real
notifier's /metrics is checked by its own tests, and its failure-outcome series exist only
once a delivery failed, which a healthy run here does not produce.
"""

from __future__ import annotations

import asyncio
import json
import math
import random
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.parser import text_string_to_metric_families

from schemas.tier_changed import TierChanged
from streams.cli import main
from streams.endpoints import LIVENESS_PATH, METRICS_PATH, READINESS_PATH
from streams.epochs import boundary_at_or_before
from streams.history import FEEDBACK_HEADER, ORDER_HEADER, generate_history, write_csv
from streams.metrics import NotifierMetrics
from tests.conftest import Infra
from tests.integration.notifier_harness import free_port
from tests.integration.prometheus import PrometheusServer, render_config
from tests.integration.worker_process import (
    DAY,
    log_tail,
    prepare_topics,
    produce,
    read_records,
    running_worker,
    worker_env,
)
from tests.monitoring.queries import (
    Query,
    alert_rules,
    dashboard_queries,
    exported_families,
    metric_names,
    with_bool_comparisons,
)

pytestmark = [pytest.mark.integration, pytest.mark.prometheus]

PARTITIONS = 2
# The whole test fits in this window, so rate() and increase() see every change since the
# first scrape (Grafana's $__rate_interval would be as wide on a dashboard of the last 5 min).
RATE_INTERVAL = "5m"
WAIT_SECONDS = 45.0


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=2) as answer:  # noqa: S310 (loopback URL we built)
            return int(answer.status), answer.read()
    except urllib.error.HTTPError as error:
        return int(error.code), error.read()


def _wait_ready(base: str, timeout: float, log: Path) -> list[tuple[int, int]]:
    """Poll /healthz and /readyz until /readyz says 200; return the (healthz, readyz)
    statuses seen once the server answered."""
    seen: list[tuple[int, int]] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            statuses = (_get(base + LIVENESS_PATH)[0], _get(base + READINESS_PATH)[0])
        except OSError:  # not listening yet
            time.sleep(0.05)
            continue
        seen.append(statuses)
        if statuses[1] == 200:
            return seen
        time.sleep(0.05)
    raise AssertionError(f"/readyz never answered 200: {seen[-5:]}\n{log_tail(log)}")


def _history(tmp_path: Path) -> tuple[Path, Path, str]:
    generated = generate_history(120, 1_200, seed=11, span_days=400)
    orders = write_csv(tmp_path / "orders.csv", ORDER_HEADER, generated.orders)
    feedback = write_csv(tmp_path / "feedback.csv", FEEDBACK_HEADER, generated.feedback)
    final = boundary_at_or_before(generated.end, DAY) + timedelta(days=1, microseconds=1)
    return orders, feedback, final.isoformat()


class _NotifierTraffic:
    """Stand-in notifier /metrics: NotifierMetrics moving as a healthy notifier's would."""

    def __init__(self, metrics: NotifierMetrics) -> None:
        self._metrics = metrics
        self._random = random.Random(6)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="notifier-traffic", daemon=True)

    def __enter__(self) -> _NotifierTraffic:
        self._tick()
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.wait(0.1):
            self._tick()

    def _tick(self) -> None:
        n, rnd = self._metrics, self._random
        for channel in ("webhook", "redis"):
            n.alerts.labels(channel=channel, outcome="sent").inc(rnd.randint(1, 5))
            n.alerts.labels(channel=channel, outcome="failed").inc(1 if rnd.random() < 0.02 else 0)
            n.alerts.labels(channel=channel, outcome="parked").inc(0)
            n.delivery_latency.labels(channel=channel).observe(rnd.uniform(0.05, 2.0))
        n.records.labels(topic="tier-changes", outcome="alert").inc(rnd.randint(1, 5))
        n.records.labels(topic="tier-changes", outcome="no_alert").inc(rnd.randint(1, 20))
        n.pending_alerts.set(rnd.randint(0, 10))


@pytest.fixture
def notifier_stand_in() -> Iterator[str]:
    registry = CollectorRegistry()
    server, thread = start_http_server(0, "127.0.0.1", registry)
    try:
        with _NotifierTraffic(NotifierMetrics.create(registry)):
            yield f"127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def _has_number(samples: list[dict[str, Any]]) -> bool:
    return any(not math.isnan(float(sample["value"][1])) for sample in samples)


def _wait_for_data(server: PrometheusServer, queries: list[Query]) -> dict[Query, str]:
    deadline = time.monotonic() + WAIT_SECONDS
    pending = {query: "never queried" for query in queries}
    while pending and time.monotonic() < deadline:
        for query in list(pending):
            samples = server.query(query.expr)
            if _has_number(samples):
                del pending[query]
            else:
                pending[query] = f"returned {samples!r}"
        if pending:
            time.sleep(1)
    return pending


def _worker_series() -> set[str]:
    families = exported_families()
    return {
        name
        for family, names in families.items()
        if not family.startswith(("tierstream_alert", "tierstream_notifier"))
        for name in names
    }


def test_healthz_answers_while_readyz_is_503_until_the_worker_is_ready(
    infra: Infra, unique_name: str, tmp_path: Path
) -> None:
    port = free_port()
    env = worker_env(
        infra, unique_name, tmp_path / "data", partitions=PARTITIONS, TIERSTREAM_WEB__PORT=str(port)
    )
    prepare_topics(infra, unique_name, PARTITIONS)
    log = tmp_path / "worker.log"
    base = f"http://127.0.0.1:{port}"
    with running_worker(env, log):
        seen = _wait_ready(base, 60, log)
        # Liveness answers from the start; readiness waits for the assignment and recovery.
        assert seen[0] == (200, 503), seen[:5]
        assert all(healthz == 200 for healthz, _ in seen)
        status, body = _get(base + READINESS_PATH)
        assert (status, json.loads(body)) == (200, {"status": "ready"})
        status, body = _get(base + METRICS_PATH)
        assert status == 200
        names = {family.name for family in text_string_to_metric_families(body.decode())}
        assert "tierstream_events_consumed" in names
        # Faust's table views stay off: they would serve customer state.
        assert _get(base + "/table/customer-state/")[0] == 404


def test_every_dashboard_query_and_alert_rule_returns_data_from_a_real_worker(
    infra: Infra,
    unique_name: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    notifier_stand_in: str,
) -> None:
    port = free_port()
    env = worker_env(
        infra,
        unique_name,
        tmp_path / "data",
        partitions=PARTITIONS,
        TIERSTREAM_WEB__PORT=str(port),
        TIERSTREAM_METRICS_INTERVAL_SECONDS="1",
    )
    prepare_topics(infra, unique_name, PARTITIONS)
    orders, feedback, watermark = _history(tmp_path)
    log = tmp_path / "worker.log"
    config = render_config(
        {
            "tierstream-worker": [f"127.0.0.1:{port}"],
            "tierstream-notifier": [notifier_stand_in],
        },
        scrape_interval="1s",
    )
    with running_worker(env, log), PrometheusServer(config) as prometheus:
        _wait_ready(f"http://127.0.0.1:{port}", 60, log)
        prometheus.wait_for_targets_up(timeout=30)
        # Scraped before any input: every counter then moves between two scrapes.
        time.sleep(2)
        for variable, value in env.items():
            monkeypatch.setenv(variable, value)
        assert (
            main(["replay", str(orders), "--feedback", str(feedback), "--watermark", watermark])
            == 0
        )
        # One bad record, so the dead-letter series move too (far below the 1 % alert).
        asyncio.run(
            produce(
                infra.kafka_bootstrap, [(f"{unique_name}-orders", b"X", b"{not json", [], None)]
            )
        )
        changes = asyncio.run(
            read_records(
                infra.kafka_bootstrap, f"{unique_name}-tier-changes", expected=1, timeout=60
            )
        )
        assert changes, log_tail(log)
        assert TierChanged.model_validate_json(changes[0].value)
        time.sleep(3)  # the metrics sampler and two more scrapes

        dashboard = dashboard_queries(rate_interval=RATE_INTERVAL)
        rules = [
            Query(f"alert {rule['alert']}", with_bool_comparisons(rule["expr"]))
            for rule in alert_rules()
        ]
        empty = _wait_for_data(prometheus, [*dashboard, *rules])
        assert not empty, "\n".join(f"{q.source}: {q.expr}: {why}" for q, why in empty.items())

        # The worker's series come from the worker (the stand-in exports none of them), and
        # the figures are the run's: customers classified, a TierChanged latency observed.
        worker_queries = [q for q in dashboard if metric_names(q.expr) & _worker_series()]
        assert len(worker_queries) >= 15
        customers = prometheus.query("sum(tierstream_customers)")
        assert float(customers[0]["value"][1]) > 0
        latency = prometheus.query("sum(tierstream_event_to_tier_change_latency_seconds_count)")
        assert float(latency[0]["value"][1]) > 0
        dead = prometheus.query('sum(tierstream_dead_letters_total{error_type="json_invalid"})')
        assert float(dead[0]["value"][1]) == 1
        shares = prometheus.query("sum(tierstream_revenue_share_ratio)")
        assert float(shares[0]["value"][1]) == pytest.approx(1.0, abs=1e-6)
        state = prometheus.query('tierstream_table_keys{table="customer-state"}')
        assert float(state[0]["value"][1]) > 0

        # Healthy run: every rule evaluates without error and none is pending or firing.
        evaluated = {
            rule["name"]: rule
            for group in prometheus.api("rules")["groups"]
            for rule in group["rules"]
        }
        assert {name for name, rule in evaluated.items() if rule["health"] != "ok"} == set()
        assert {name for name, rule in evaluated.items() if rule["state"] != "inactive"} == set()
