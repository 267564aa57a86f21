"""Prometheus metrics of the worker and the notifier, created on an injected registry.

Names follow Prometheus conventions (`tierstream_` prefix, base units, `_total` counters).
Labels take only small closed sets of values (topic names, enum members, the policy's tier
names, channel names); never a customer id, manager or other personal or high-cardinality
value. Money is in the policy's currency units (Prometheus has no base unit for it).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

__all__ = [
    "CUSTOMER_RECORD_OUTCOMES",
    "NOTIFIER_TASKS",
    "PUSH_ALERT_OUTCOMES",
    "STREAM_ALERT_OUTCOMES",
    "TIER_CHANGE_RECORD_OUTCOMES",
    "NotifierMetrics",
    "WorkerMetrics",
]

# Event-to-TierChanged latency spans sub-second (live) to minutes (epoch waits).
_LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900)


@dataclass(frozen=True)
class WorkerMetrics:
    """Everything the stream worker reports."""

    events_consumed: Counter
    dead_letters: Counter
    tier_changes: Counter
    tier_transitions: Counter
    customers_by_tier: Gauge
    customers_by_risk: Gauge
    customers_by_lifecycle: Gauge
    monetary_by_tier: Gauge
    event_to_change_latency: Histogram
    consumer_lag: Gauge
    table_keys: Gauge
    state_bytes: Gauge
    sweep_duration: Histogram
    customers_reevaluated: Counter
    stream_time: Gauge
    partitions_stopped: Gauge
    customers_by_dimension: Gauge
    dimension_values_unlabelled: Gauge

    @classmethod
    def create(cls, registry: CollectorRegistry) -> WorkerMetrics:
        """Register the worker's metrics on `registry` (a fresh one per test)."""
        return cls(
            events_consumed=Counter(
                "tierstream_events_consumed_total",
                "Input events consumed, by topic and outcome (applied, duplicate, late, invalid).",
                ["topic", "outcome"],
                registry=registry,
            ),
            dead_letters=Counter(
                "tierstream_dead_letters_total",
                "Records sent to the dead-letter topic, by source topic and error type.",
                ["topic", "error_type"],
                registry=registry,
            ),
            tier_changes=Counter(
                "tierstream_tier_changes_total",
                "TierChanged events emitted, by changed field and direction.",
                ["field", "direction"],
                registry=registry,
            ),
            tier_transitions=Counter(
                "tierstream_tier_transitions_total",
                "TierChanged events that set or moved the tier, by previous tier (`none` for "
                "a first classification) and current tier.",
                ["from", "to"],
                registry=registry,
            ),
            customers_by_tier=Gauge(
                "tierstream_customers",
                "Customers per tier, from the classifications this worker owns.",
                ["tier"],
                registry=registry,
            ),
            customers_by_risk=Gauge(
                "tierstream_customers_by_risk",
                "Customers per churn-risk level.",
                ["risk"],
                registry=registry,
            ),
            customers_by_lifecycle=Gauge(
                "tierstream_customers_by_lifecycle",
                "Customers per lifecycle stage.",
                ["lifecycle"],
                registry=registry,
            ),
            monetary_by_tier=Gauge(
                "tierstream_monetary_by_tier",
                "Sum of the policy's monetary basis (trailing-window revenue or margin, net, "
                "floored at 0) of this worker's classified customers per current tier, in the "
                "policy's currency units; share = sum by (tier) / sum over every worker.",
                ["tier"],
                registry=registry,
            ),
            event_to_change_latency=Histogram(
                "tierstream_event_to_tier_change_latency_seconds",
                "Wall time from consuming an event to publishing the TierChanged it caused.",
                buckets=_LATENCY_BUCKETS,
                registry=registry,
            ),
            consumer_lag=Gauge(
                "tierstream_consumer_lag_records",
                "Records between the committed offset and the end of each input partition.",
                ["topic", "partition"],
                registry=registry,
            ),
            table_keys=Gauge(
                "tierstream_table_keys",
                "Keys held in each table's local partitions.",
                ["table"],
                registry=registry,
            ),
            state_bytes=Gauge(
                "tierstream_state_bytes",
                "Serialised bytes of per-customer state held locally.",
                ["table"],
                registry=registry,
            ),
            sweep_duration=Histogram(
                "tierstream_sweep_duration_seconds",
                "Time to evaluate one epoch boundary of one partition.",
                registry=registry,
            ),
            customers_reevaluated=Counter(
                "tierstream_customers_reevaluated_total",
                "Customers re-evaluated, by cause (event, due, cut_points).",
                ["cause"],
                registry=registry,
            ),
            stream_time=Gauge(
                "tierstream_stream_time_seconds",
                "Stream time (Unix seconds) of the most advanced local partition.",
                registry=registry,
            ),
            partitions_stopped=Gauge(
                "tierstream_partitions_stopped",
                "1 per local partition an unexpected error stopped (records wait uncommitted).",
                ["partition"],
                registry=registry,
            ),
            # Only for the policy's `metrics_dimensions`, at most 50 values each plus `none`
            # (streams/worker/dimensions.py): the values are group codes, never names.
            customers_by_dimension=Gauge(
                "tierstream_customers_by_dimension",
                "Customers per tier and value of a profile dimension the policy lists in "
                "metrics_dimensions (value `none`: no profile or no value).",
                ["dimension", "value", "tier"],
                registry=registry,
            ),
            dimension_values_unlabelled=Gauge(
                "tierstream_dimension_values_unlabelled",
                "Distinct values of a metrics dimension seen beyond the 50 this worker labels; "
                "their customers are missing from tierstream_customers_by_dimension.",
                ["dimension"],
                registry=registry,
            ),
        )


# The notifier's label values (a unit test checks the notifier's code uses no others).
# A push channel (webhook, email): delivered, an attempt failed, parked after the last attempt,
# already delivered before (a redelivery), channel cannot reach the recipient.
PUSH_ALERT_OUTCOMES = ("sent", "failed", "parked", "duplicate", "skipped")
# The Redis alert streams (channel `redis`, when enabled): appended now, or appended before.
STREAM_ALERT_OUTCOMES = ("sent", "duplicate")
TIER_CHANGE_RECORD_OUTCOMES = ("alert", "no_alert", "invalid")
CUSTOMER_RECORD_OUTCOMES = ("profile", "erased", "invalid")
# Background tasks the notifier supervises (label `task` of the restarts counter).
NOTIFIER_TASKS = ("profiles",)


@dataclass(frozen=True)
class NotifierMetrics:
    """Everything the notifier reports."""

    alerts: Counter
    delivery_latency: Histogram
    records: Counter
    pending_alerts: Gauge
    parked_entries: Gauge
    parked_trimmed: Counter
    task_restarts: Counter
    redis_up: Gauge

    @classmethod
    def create(cls, registry: CollectorRegistry) -> NotifierMetrics:
        """Register the notifier's metrics on `registry`."""
        return cls(
            alerts=Counter(
                "tierstream_alerts_total",
                "Alerts by channel and outcome (sent, failed, parked, duplicate).",
                ["channel", "outcome"],
                registry=registry,
            ),
            delivery_latency=Histogram(
                "tierstream_alert_delivery_latency_seconds",
                "Wall time from consuming a TierChanged to delivering its alert, by channel.",
                ["channel"],
                buckets=_LATENCY_BUCKETS,
                registry=registry,
            ),
            records=Counter(
                "tierstream_notifier_records_total",
                "Records the notifier consumed, by topic and outcome (alert, no_alert, invalid).",
                ["topic", "outcome"],
                registry=registry,
            ),
            pending_alerts=Gauge(
                "tierstream_notifier_pending_alerts",
                "Alerts held back by the per-manager rate limit, waiting to go out in a digest.",
                registry=registry,
            ),
            parked_entries=Gauge(
                "tierstream_notifier_parked_entries",
                "Entries in the park list {prefix}:parked, as this notifier last wrote or read it.",
                registry=registry,
            ),
            parked_trimmed=Counter(
                "tierstream_notifier_parked_trimmed",
                "Oldest parked deliveries dropped to keep the park list within "
                "TIERSTREAM_NOTIFIER__PARKED_MAX_ENTRIES; their alerts cannot be replayed.",
                registry=registry,
            ),
            task_restarts=Counter(
                "tierstream_notifier_task_restarts",
                "Background tasks restarted after an unexpected error (profiles: the "
                "customers-topic follower).",
                ["task"],
                registry=registry,
            ),
            redis_up=Gauge(
                "tierstream_notifier_redis_up",
                "1 while Redis answers the notifier, 0 during an outage (alerts wait meanwhile).",
                registry=registry,
            ),
        )

    def start_at_zero(
        self,
        push_channels: Iterable[str],
        stream_channel: str | None,
        tier_changes_topic: str,
        customers_topic: str,
    ) -> None:
        """Export every labelled series this notifier can move, at 0, from start-up.

        A labelled series otherwise appears at its first increment: until the first failure
        `outcome="failed"` would be absent, so the delivery panels and the failing/parked alert
        rules would show no data (absent, not 0) on a healthy notifier, and `rate()` or
        `increase()` would miss the first failure, which has no earlier sample to compare with.
        """
        for channel in push_channels:
            for outcome in PUSH_ALERT_OUTCOMES:
                self.alerts.labels(channel=channel, outcome=outcome)
            self.delivery_latency.labels(channel=channel)
        if stream_channel is not None:
            for outcome in STREAM_ALERT_OUTCOMES:
                self.alerts.labels(channel=stream_channel, outcome=outcome)
        for outcome in TIER_CHANGE_RECORD_OUTCOMES:
            self.records.labels(topic=tier_changes_topic, outcome=outcome)
        for outcome in CUSTOMER_RECORD_OUTCOMES:
            self.records.labels(topic=customers_topic, outcome=outcome)
        for task in NOTIFIER_TASKS:
            self.task_restarts.labels(task=task)
        self.redis_up.set(1)
