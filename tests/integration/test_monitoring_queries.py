"""Every dashboard query and every alert rule returns data from a real Prometheus.

The scrape targets here are small in-test HTTP servers that export `WorkerMetrics` and
`NotifierMetrics` on fresh registries with realistic, moving values (`_SampleTraffic`): a
fast check of the queries against every label set, busy traffic included. A second, quiet
worker exports other monetary amounts per tier, so the revenue share is checked as pooled
over two workers (what production with several workers needs). The same queries
against a real `tierstream worker` and `tierstream notifier` are in
tests/integration/test_worker_web.py.
"""

from __future__ import annotations

import math
import random
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, start_http_server

from streams.metrics import NotifierMetrics, WorkerMetrics
from tests.integration.prometheus import PrometheusServer, render_config
from tests.monitoring.queries import Query, alert_rules, dashboard_queries, with_bool_comparisons

pytestmark = pytest.mark.prometheus

# Scrapes and rule evaluations once a second, so rate() has its two samples within seconds.
SCRAPE_INTERVAL = "1s"
# What Grafana would put for $__rate_interval at a 1s scrape interval and a short range.
RATE_INTERVAL = "15s"
WAIT_SECONDS = 45.0

TOPICS = ("orders", "feedback", "customers")
TIERS = ("A", "B", "C")
# Monetary basis per tier (currency units) of the busy worker and of the quiet one. Their
# totals differ (1.0 M and 3.2 M), so an average of per-worker shares (A: (0.61 + 0.016) / 2
# = 0.31) is far from the pooled share (A: 0.66 M / 4.2 M = 0.157).
MONETARY = {"A": 610_000.0, "B": 240_000.0, "C": 150_000.0}
QUIET_WORKER_MONETARY = {"A": 50_000.0, "B": 150_000.0, "C": 3_000_000.0}
CHANNELS = ("email", "webhook")


class _SampleTraffic:
    """Moves every metric the way a busy worker and notifier would, ten times a second."""

    def __init__(self, worker: WorkerMetrics, notifier: NotifierMetrics) -> None:
        self._worker, self._notifier = worker, notifier
        self._random = random.Random(6)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sample-traffic", daemon=True)

    def __enter__(self) -> _SampleTraffic:
        self._set_gauges()
        self._tick()
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.wait(0.1):
            self._tick()

    def _set_gauges(self) -> None:
        w = self._worker
        for tier, customers in (("A", 500), ("B", 1500), ("C", 8000)):
            w.customers_by_tier.labels(tier=tier).set(customers)
            w.monetary_by_tier.labels(tier=tier).set(MONETARY[tier])
        for risk, customers in (("ok", 8200), ("at_risk", 1300), ("churned", 500)):
            w.customers_by_risk.labels(risk=risk).set(customers)
        for stage, customers in (
            ("new", 900),
            ("growth", 2100),
            ("mature", 5200),
            ("decline", 1300),
        ):
            w.customers_by_lifecycle.labels(lifecycle=stage).set(customers)
        w.customers_by_lifecycle.labels(lifecycle="churned").set(500)
        # A policy listing `region` in metrics_dimensions (none beyond the 50 labelled).
        for region, tier, customers in (("emea", "A", 300), ("apac", "C", 4000)):
            w.customers_by_dimension.labels(dimension="region", value=region, tier=tier).set(
                customers
            )
        w.dimension_values_unlabelled.labels(dimension="region").set(0)
        for table, keys in (("customer-state", 10000), ("classification", 9500)):
            w.table_keys.labels(table=table).set(keys)
            w.state_bytes.labels(table=table).set(keys * 1800)
        # Healthy traffic: every partition running (the alert must stay inactive).
        for partition in ("0", "1"):
            w.partitions_stopped.labels(partition=partition).set(0)

    def _tick(self) -> None:
        w, n, rnd = self._worker, self._notifier, self._random
        for topic in TOPICS:
            w.events_consumed.labels(topic=topic, outcome="applied").inc(rnd.randint(20, 60))
            w.events_consumed.labels(topic=topic, outcome="duplicate").inc(rnd.randint(0, 2))
            # About one record in 400 is bad: dead-lettered, well under the 1 % alert.
            invalid = 1 if rnd.random() < 0.1 else 0
            w.events_consumed.labels(topic=topic, outcome="invalid").inc(invalid)
            w.dead_letters.labels(topic=topic, error_type="schema_invalid").inc(invalid)
            for partition in range(2):
                w.consumer_lag.labels(topic=topic, partition=str(partition)).set(rnd.randint(0, 40))
        for field in ("tier", "risk", "lifecycle", "segment"):
            for direction in ("upgrade", "downgrade", "lateral"):
                w.tier_changes.labels(field=field, direction=direction).inc(rnd.randint(0, 3))
        w.tier_changes.labels(field="tier", direction="initial").inc(rnd.randint(0, 2))
        for source, to in (("none", "C"), ("C", "B"), ("B", "A"), ("A", "B"), ("B", "C")):
            w.tier_transitions.labels(source, to).inc(rnd.randint(0, 2))
        for _ in range(5):
            w.event_to_change_latency.observe(rnd.uniform(0.05, 3.0))
            w.sweep_duration.observe(rnd.uniform(0.001, 0.2))
        for cause in ("event", "due", "cut_points"):
            w.customers_reevaluated.labels(cause=cause).inc(rnd.randint(1, 30))
        w.stream_time.set(time.time() - rnd.uniform(0, 2))
        for channel in CHANNELS:
            n.alerts.labels(channel=channel, outcome="sent").inc(rnd.randint(1, 5))
            n.alerts.labels(channel=channel, outcome="duplicate").inc(rnd.randint(0, 1))
            # A failed attempt now and then (retried), well under the 5 % alert.
            n.alerts.labels(channel=channel, outcome="failed").inc(1 if rnd.random() < 0.05 else 0)
            n.alerts.labels(channel=channel, outcome="parked").inc(0)
            n.delivery_latency.labels(channel=channel).observe(rnd.uniform(0.05, 2.0))
        n.records.labels(topic="tier-changes", outcome="alert").inc(rnd.randint(1, 5))
        n.records.labels(topic="tier-changes", outcome="no_alert").inc(rnd.randint(1, 20))
        n.pending_alerts.set(rnd.randint(0, 10))
        # A healthy notifier: Redis answers, the park list is within its bound, nothing is
        # dropped from it and no background task restarts.
        n.redis_up.set(1)
        n.parked_entries.set(rnd.randint(0, 5))
        n.parked_trimmed.inc(0)
        n.task_restarts.labels(task="profiles").inc(0)


@dataclass(frozen=True)
class _Exporters:
    workers: tuple[str, ...]
    notifier: str


@pytest.fixture(scope="module")
def sample_exporters() -> Iterator[_Exporters]:
    """Stand-ins for the worker's and the notifier's /metrics, on free loopback ports."""
    worker_registry, notifier_registry = CollectorRegistry(), CollectorRegistry()
    quiet_registry = CollectorRegistry()
    quiet = WorkerMetrics.create(quiet_registry)
    for tier, amount in QUIET_WORKER_MONETARY.items():
        quiet.monetary_by_tier.labels(tier=tier).set(amount)
    servers = [
        start_http_server(0, "127.0.0.1", registry)
        for registry in (worker_registry, quiet_registry, notifier_registry)
    ]
    worker, quiet_worker, notifier = (f"127.0.0.1:{server.server_port}" for server, _ in servers)
    traffic = _SampleTraffic(
        WorkerMetrics.create(worker_registry), NotifierMetrics.create(notifier_registry)
    )
    try:
        with traffic:
            yield _Exporters(workers=(worker, quiet_worker), notifier=notifier)
    finally:
        for server, thread in servers:
            server.shutdown()
            server.server_close()
            thread.join(timeout=5)


@pytest.fixture(scope="module")
def prometheus(sample_exporters: _Exporters) -> Iterator[PrometheusServer]:
    """A real Prometheus scraping the stand-ins under the production job names."""
    config = render_config(
        {
            "tierstream-worker": list(sample_exporters.workers),
            "tierstream-notifier": [sample_exporters.notifier],
        },
        scrape_interval=SCRAPE_INTERVAL,
    )
    with PrometheusServer(config) as server:
        server.wait_for_targets_up(timeout=30)
        yield server


def _has_number(samples: list[dict[str, Any]]) -> bool:
    return any(not math.isnan(float(sample["value"][1])) for sample in samples)


def _wait_for_data(server: PrometheusServer, queries: list[Query]) -> dict[Query, str]:
    """Poll until every query returns a sample with a number; return the ones that never did."""
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


def test_every_dashboard_query_returns_data_from_exported_metrics(
    prometheus: PrometheusServer,
) -> None:
    queries = dashboard_queries(rate_interval=RATE_INTERVAL)
    assert len(queries) >= 20
    empty = _wait_for_data(prometheus, queries)
    assert not empty, "\n".join(f"{q.source}: {q.expr}: {why}" for q, why in empty.items())


def test_every_alert_expression_returns_data_from_exported_metrics(
    prometheus: PrometheusServer,
) -> None:
    # Thresholds rightly filter everything out on healthy data; as `bool` comparisons the
    # expressions return 0/1 per series, so emptiness can only mean a missing series.
    queries = [
        Query(f"alert {rule['alert']}", with_bool_comparisons(rule["expr"]))
        for rule in alert_rules()
    ]
    empty = _wait_for_data(prometheus, queries)
    assert not empty, "\n".join(f"{q.source}: {q.expr}: {why}" for q, why in empty.items())


def test_prometheus_loads_and_evaluates_every_rule_without_error(
    prometheus: PrometheusServer,
) -> None:
    expected = {rule["alert"] for rule in alert_rules()}
    deadline = time.monotonic() + WAIT_SECONDS
    evaluated: dict[str, dict[str, Any]] = {}
    unhealthy: dict[str, str] = {}
    active: dict[str, str] = {}
    while time.monotonic() < deadline:
        evaluated = {
            rule["name"]: rule
            for group in prometheus.api("rules")["groups"]
            for rule in group["rules"]
            # Prometheus reports a rule never evaluated yet as evaluated in year 1.
            if not rule.get("lastEvaluation", "0001").startswith("0001")
        }
        unhealthy = {n: r.get("lastError", "") for n, r in evaluated.items() if r["health"] != "ok"}
        # With one scrape only, rate() has no value yet and "no events consumed" is briefly
        # pending; healthy traffic must leave every alert inactive once two scrapes exist.
        active = {n: r["state"] for n, r in evaluated.items() if r["state"] != "inactive"}
        if set(evaluated) == expected and not unhealthy and not active:
            break
        time.sleep(1)
    assert set(evaluated) == expected
    assert not unhealthy
    assert not active


def test_revenue_share_panel_pools_the_monetary_amounts_of_every_worker(
    prometheus: PrometheusServer,
) -> None:
    (query,) = [q for q in dashboard_queries() if q.source.startswith("panel 'Revenue share")]
    assert not _wait_for_data(prometheus, [query])
    shares = {s["metric"]["tier"]: float(s["value"][1]) for s in prometheus.query(query.expr)}
    total = sum(MONETARY.values()) + sum(QUIET_WORKER_MONETARY.values())
    expected = {tier: (MONETARY[tier] + QUIET_WORKER_MONETARY[tier]) / total for tier in TIERS}
    assert shares == pytest.approx(expected, abs=1e-9)
