"""Metrics follow Prometheus naming and carry no personal or high-cardinality labels."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from streams.metrics import NotifierMetrics, WorkerMetrics

ALLOWED_LABELS = {
    "topic",
    "outcome",
    "error_type",
    "field",
    "direction",
    "tier",
    "from",
    "to",
    "risk",
    "lifecycle",
    "partition",
    "table",
    "cause",
    "channel",
    "le",
    # tierstream_customers_by_dimension: a profile dimension the policy lists and one of
    # its group codes (at most 50 per dimension, streams/worker/dimensions.py).
    "dimension",
    "value",
}


def test_every_metric_is_prefixed_and_counters_end_in_total() -> None:
    registry = CollectorRegistry()
    WorkerMetrics.create(registry)
    NotifierMetrics.create(registry)
    for family in registry.collect():
        assert family.name.startswith("tierstream_")
        if family.type == "counter":
            assert all(sample.name.endswith(("_total", "_created")) for sample in family.samples)


def test_no_label_could_carry_a_customer_or_manager() -> None:
    registry = CollectorRegistry()
    metrics = WorkerMetrics.create(registry)
    metrics.events_consumed.labels(topic="orders", outcome="applied").inc()
    metrics.consumer_lag.labels(topic="orders", partition="0").set(3)
    NotifierMetrics.create(registry).alerts.labels(channel="webhook", outcome="sent").inc()
    labels = {
        name for family in registry.collect() for sample in family.samples for name in sample.labels
    }
    assert labels <= ALLOWED_LABELS


def test_a_fresh_registry_per_instance_keeps_tests_apart() -> None:
    first, second = CollectorRegistry(), CollectorRegistry()
    WorkerMetrics.create(first).dead_letters.labels(topic="orders", error_type="json_invalid").inc()
    WorkerMetrics.create(second)
    value = second.get_sample_value(
        "tierstream_dead_letters_total", {"topic": "orders", "error_type": "json_invalid"}
    )
    assert value is None
