"""A real `tierstream worker` serves /healthz, /readyz, /metrics and /customers/{id}, and
every dashboard panel and alert rule returns data from a real Prometheus scraping it and a
real `tierstream notifier`.

The worker and the notifier run as subprocesses (event clock, memory store) on fresh topics;
the notifier's webhook channel posts to a local signed-webhook sink. Prometheus scrapes both
from before the history is replayed, so every counter and histogram moves between scrapes,
and the notifier's failure outcomes are there at 0 (it exports them from start-up) although
a healthy run fails no delivery.
"""

from __future__ import annotations

import asyncio
import json
import math
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from schemas.tier_changed import TierChanged
from streams.cli.main import main
from streams.data.history import FEEDBACK_HEADER, ORDER_HEADER, generate_history, write_csv
from streams.metrics import PUSH_ALERT_OUTCOMES, STREAM_ALERT_OUTCOMES
from streams.pipeline.epochs import boundary_at_or_before
from streams.worker.customer_lookup import NOT_CLASSIFIED
from streams.worker.endpoints import LIVENESS_PATH, METRICS_PATH, READINESS_PATH
from tests.conftest import Infra
from tests.integration.notifier_harness import (
    SECRET,
    NotifierProcess,
    WebhookSink,
    free_port,
    notifier_env,
)
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
UNKNOWN_CUSTOMER = "/customers/nobody"
REPO = Path(__file__).resolve().parents[2]


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=2) as answer:  # noqa: S310 (loopback URL we built)
            return int(answer.status), answer.read()
    except urllib.error.HTTPError as error:
        return int(error.code), error.read()


def _wait_ready(base: str, timeout: float, log: Path) -> list[tuple[int, int, int]]:
    """Poll /healthz, an unknown customer and /readyz until /readyz says 200; return the
    (healthz, customer, readyz) statuses seen once the server answered. Readiness only goes
    from 503 to 200 here, so a customer answer before a 503 readyz was given while not ready."""
    seen: list[tuple[int, int, int]] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            statuses = (
                _get(base + LIVENESS_PATH)[0],
                _get(base + UNKNOWN_CUSTOMER)[0],
                _get(base + READINESS_PATH)[0],
            )
        except OSError:  # not listening yet
            time.sleep(0.05)
            continue
        seen.append(statuses)
        if statuses[2] == 200:
            return seen
        time.sleep(0.05)
    raise AssertionError(f"/readyz never answered 200: {seen[-5:]}\n{log_tail(log)}")


def _history(tmp_path: Path) -> tuple[Path, Path, str]:
    generated = generate_history(120, 1_200, seed=11, span_days=400)
    orders = write_csv(tmp_path / "orders.csv", ORDER_HEADER, generated.orders)
    feedback = write_csv(tmp_path / "feedback.csv", FEEDBACK_HEADER, generated.feedback)
    final = boundary_at_or_before(generated.end, DAY) + timedelta(days=1, microseconds=1)
    return orders, feedback, final.isoformat()


@contextmanager
def _webhook_sink() -> Iterator[tuple[WebhookSink, str]]:
    """The notifier harness's signed-webhook sink, served from a thread's event loop (the
    test itself is synchronous: `tierstream replay` runs its own loop)."""
    sink = WebhookSink()
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="webhook-sink", daemon=True)
    thread.start()
    try:
        url = asyncio.run_coroutine_threadsafe(sink.start(), loop).result(timeout=10)
        yield sink, url
    finally:
        asyncio.run_coroutine_threadsafe(sink.close(), loop).result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=5)
        loop.close()


@pytest.fixture
def notifier(
    infra: Infra, unique_name: str, tmp_path: Path
) -> Iterator[tuple[NotifierProcess, WebhookSink]]:
    """A real `tierstream notifier` on the worker's topics; webhook alerts go to a local
    sink, to a default owner (the replayed customers have no account manager)."""
    topics = (f"{unique_name}-tier-changes", f"{unique_name}-customers")
    # Created here, before the notifier would create them at the same moment.
    prepare_topics(infra, unique_name, PARTITIONS)
    with _webhook_sink() as (sink, url):
        env = notifier_env(
            infra,
            unique_name,
            topics,
            webhook__url=url,
            webhook__secret=SECRET,
            default_owner="owner-on-call",
        )
        process = NotifierProcess(
            {**env, "TIERSTREAM_TOPICS__PARTITIONS": str(PARTITIONS)}, tmp_path / "notifier.log"
        )
        try:
            yield process, sink
        finally:
            process.stop()


def _value(server: PrometheusServer, expr: str) -> float:
    """The value of a query that must return exactly one sample."""
    samples = server.query(expr)
    assert len(samples) == 1, f"{expr}: {samples!r}"
    return float(samples[0]["value"][1])


def _logs(*paths: Path) -> str:
    return "".join(log_tail(path) for path in paths)


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
        # Liveness answers from the start; readiness waits for the assignment and recovery,
        # and so does the customer lookup (503, then 404 for a customer nobody classified).
        assert seen[0] == (200, 503, 503), seen[:5]
        assert all(healthz == 200 for healthz, _, _ in seen)
        assert all(customer == 503 for _, customer, readyz in seen if readyz == 503)
        status, body = _get(base + READINESS_PATH)
        assert (status, json.loads(body)) == (200, {"status": "ready"})
        status, body = _get(base + UNKNOWN_CUSTOMER)
        assert (status, json.loads(body)) == (404, {"error": NOT_CLASSIFIED})
        status, body = _get(base + METRICS_PATH)
        assert status == 200
        names = {family.name for family in text_string_to_metric_families(body.decode())}
        assert "tierstream_events_consumed" in names
        # Faust's generic views stay off: the table views would serve every table's raw
        # state, the router views the partition map and any table's keys.
        for path in ("/table/customer-state/", "/table/ranked/", "/router/", "/router/ranked/"):
            assert _get(base + path)[0] == 404, path


def test_every_dashboard_query_and_alert_rule_returns_data_from_a_real_worker(
    infra: Infra,
    unique_name: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    notifier: tuple[NotifierProcess, WebhookSink],
) -> None:
    process, sink = notifier
    port = free_port()
    # The default policy, plus `region` as a metrics dimension, so the dimension panel has
    # series (the replayed customers have no profile: value `none`).
    policy = yaml.safe_load((REPO / "tiering" / "default_policy.yaml").read_text("utf-8"))
    policy["metrics_dimensions"] = ["region"]
    policy_file = tmp_path / "policy.yaml"
    policy_file.write_text(yaml.safe_dump(policy), encoding="utf-8")
    env = worker_env(
        infra,
        unique_name,
        tmp_path / "data",
        partitions=PARTITIONS,
        TIERSTREAM_WEB__PORT=str(port),
        TIERSTREAM_METRICS_INTERVAL_SECONDS="1",
        TIERSTREAM_POLICY=str(policy_file),
    )
    prepare_topics(infra, unique_name, PARTITIONS)
    orders, feedback, watermark = _history(tmp_path)
    log, notifier_log = tmp_path / "worker.log", tmp_path / "notifier.log"
    config = render_config(
        {
            "tierstream-worker": [f"127.0.0.1:{port}"],
            "tierstream-notifier": [f"127.0.0.1:{process.port}"],
        },
        scrape_interval="1s",
    )
    with running_worker(env, log), PrometheusServer(config) as prometheus:
        _wait_ready(f"http://127.0.0.1:{port}", 60, log)
        prometheus.wait_for_targets_up(timeout=30)
        # Before any record the notifier's outcomes are series at 0, not absent.
        before = prometheus.query('tierstream_alerts_total{job="tierstream-notifier"}')
        assert {(s["metric"]["channel"], s["metric"]["outcome"]) for s in before} == {
            *(("webhook", outcome) for outcome in PUSH_ALERT_OUTCOMES),
            *(("redis", outcome) for outcome in STREAM_ALERT_OUTCOMES),
        }, _logs(log, notifier_log)
        assert {float(sample["value"][1]) for sample in before} == {0.0}
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
        assert process.process.poll() is None, _logs(log, notifier_log)

        # The worker's series come from the worker (the notifier exports none of them), and
        # the figures are the run's: customers classified, a TierChanged latency observed.
        worker_queries = [q for q in dashboard if metric_names(q.expr) & _worker_series()]
        assert len(worker_queries) >= 15
        customers = prometheus.query("sum(tierstream_customers)")
        assert float(customers[0]["value"][1]) > 0
        latency = prometheus.query("sum(tierstream_event_to_tier_change_latency_seconds_count)")
        assert float(latency[0]["value"][1]) > 0
        dead = prometheus.query('sum(tierstream_dead_letters_total{error_type="json_invalid"})')
        assert float(dead[0]["value"][1]) == 1
        # The dashboard's pooled revenue share: the tiers' shares of the total add up to 1.
        (share_query,) = [q for q in dashboard if q.source.startswith("panel 'Revenue share")]
        shares = prometheus.query(f"sum({share_query.expr})")
        assert float(shares[0]["value"][1]) == pytest.approx(1.0, abs=1e-6)
        first = _value(prometheus, 'sum(tierstream_tier_transitions_total{from="none"})')
        assert first > 0
        state = prometheus.query('tierstream_table_keys{table="customer-state"}')
        assert float(state[0]["value"][1]) > 0

        # The notifier's figures are the run's too: alerts the sink accepted (a delivery is
        # counted once the sink answered, so the sink has at least what the last scrape saw),
        # none failed or parked, and every alerting record also went to the Redis streams.
        sent = _value(prometheus, 'tierstream_alerts_total{channel="webhook",outcome="sent"}')
        assert 0 < sent <= sum(sink.deliveries().values()), _logs(log, notifier_log)
        assert sink.bad_signatures == 0
        for outcome in ("failed", "parked"):
            selector = f'tierstream_alerts_total{{channel="webhook",outcome="{outcome}"}}'
            assert _value(prometheus, selector) == 0
        alerting = _value(prometheus, 'sum(tierstream_notifier_records_total{outcome="alert"})')
        assert alerting >= sent
        assert _value(prometheus, 'tierstream_alerts_total{channel="redis",outcome="sent"}') > 0
        assert _value(prometheus, 'sum(tierstream_notifier_records_total{outcome="no_alert"})') > 0

        # Healthy run: every rule evaluates without error and none is pending or firing.
        evaluated = {
            rule["name"]: rule
            for group in prometheus.api("rules")["groups"]
            for rule in group["rules"]
        }
        assert {name for name, rule in evaluated.items() if rule["health"] != "ok"} == set()
        assert {name for name, rule in evaluated.items() if rule["state"] != "inactive"} == set()
