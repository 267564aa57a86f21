"""The stream's classifications carry the value model's figures, and only ride along.

`p_alive`, `predicted_clv` and `expected_next_order_at` fill the metrics when a value model is
configured (null without one); they change at every boundary, so they must never make a
TierChanged of their own nor change an event id.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from schemas import ChangedField, FeedbackEvent, OrderEvent
from streams.data.csv_input import CsvReport, read_orders
from streams.data.history import ORDER_HEADER, generate_history, write_csv
from streams.pipeline.epochs import boundary_at_or_before
from streams.pipeline.local_pipeline import LocalPipeline
from streams.worker.customer_lookup import customer_answer
from tests.unit.builders import AS_OF, POLICY, days_before, purchase, state_of
from tests.unit.cdnow import PUBLISHED_MODEL
from tiering import (
    Evaluation,
    ExactPopulation,
    RankedMetric,
    TierHold,
    classify_measurement,
    measure,
)
from tiering.policy import Policy, ValuePolicy
from tiering.value import TimeUnit, ValueModel, model_version, predict, summarise_orders

DAY_SECONDS = 86_400
PARTITIONS = 2

# The published CDNOW parameters (DESIGN.md, "Customer value"), in weeks.
MODEL = ValueModel.model_validate(PUBLISHED_MODEL)

ORDERS = [
    purchase(days_before(300), "20"),
    purchase(days_before(200), "35"),
    purchase(days_before(200.2), "5"),
    purchase(days_before(90), "0"),
]


def _evaluate(model: ValueModel | None, policy: Policy = POLICY) -> Evaluation:
    measurement = measure(state_of(ORDERS), POLICY, AS_OF)
    population = ExactPopulation(
        {
            RankedMetric.MONETARY: [float(measurement.monetary)],
            RankedMetric.FREQUENCY: [float(measurement.frequency)],
            RankedMetric.RECENCY_DAYS: [float(measurement.recency_days or 0)],
        }
    )
    return classify_measurement(measurement, TierHold(), population, policy, model)


def test_classification_without_a_value_model_has_null_value_fields() -> None:
    metrics = _evaluate(None).metrics
    assert (metrics.p_alive, metrics.predicted_clv, metrics.expected_next_order_at) == (
        None,
        None,
        None,
    )


def test_classification_with_a_value_model_carries_the_batch_predictions() -> None:
    metrics = _evaluate(MODEL).metrics
    summary = summarise_orders(ORDERS, AS_OF, TimeUnit.WEEK)["c1"]
    (expected,) = predict(MODEL, [summary])
    assert (metrics.p_alive, metrics.predicted_clv, metrics.expected_next_order_at) == (
        expected.p_alive,
        expected.predicted_clv,
        expected.expected_next_order_at,
    )


def test_the_policy_sets_the_clv_horizon_and_discount_rate() -> None:
    policy = POLICY.model_copy(
        update={"value": ValuePolicy(horizon_days=730, annual_discount_rate=0.1)}
    )
    metrics = _evaluate(MODEL, policy).metrics
    summary = summarise_orders(ORDERS, AS_OF, TimeUnit.WEEK)["c1"]
    (expected,) = predict(MODEL, [summary], 730, 0.1)
    (default,) = predict(MODEL, [summary])
    assert metrics.predicted_clv == expected.predicted_clv
    assert metrics.predicted_clv != default.predicted_clv


def test_model_version_names_the_calibration_end_and_changes_with_the_content() -> None:
    refit = MODEL.model_copy(update={"customers": 2358})
    assert model_version(MODEL).startswith("1997-09-30.")
    assert model_version(MODEL) == model_version(MODEL.model_copy())
    assert model_version(refit) != model_version(MODEL)


def _replay(directory: Path, model: ValueModel | None) -> LocalPipeline:
    generated = generate_history(60, 600, seed=11, span_days=400)
    orders = write_csv(directory / "orders.csv", ORDER_HEADER, generated.orders)
    events: list[OrderEvent | FeedbackEvent] = list(read_orders(orders, CsvReport(orders)))
    events.sort(key=lambda event: event.occurred_at)
    pipeline = LocalPipeline(POLICY, PARTITIONS, DAY_SECONDS, value_model=model)
    for event in events:
        pipeline.feed(event)
    final = boundary_at_or_before(events[-1].occurred_at, DAY_SECONDS) + timedelta(days=60)
    for partition in range(PARTITIONS):
        pipeline.watermark(partition, final + timedelta(microseconds=1))
    return pipeline


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[LocalPipeline, LocalPipeline]:
    """The same history replayed without and with a value model."""
    return (
        _replay(tmp_path_factory.mktemp("plain"), None),
        _replay(tmp_path_factory.mktemp("valued"), MODEL),
    )


def _changes_besides_rising_star(pipeline: LocalPipeline) -> list[tuple[object, ...]]:
    """Each emitted change of tier, risk, lifecycle or segment, with the new values."""
    return [
        (e.customer_id, e.occurred_at, c.tier, c.risk, c.lifecycle, c.segment)
        for e in pipeline.emitted
        if set(e.changes) - {ChangedField.RISING_STAR}
        for c in (e.current,)
    ]


def test_a_value_model_changes_no_tier_risk_lifecycle_or_segment_change(
    runs: tuple[LocalPipeline, LocalPipeline],
) -> None:
    """Without `risk.p_alive_below` the model moves only the value fields and who is a
    rising star (predicted_clv replaces the growth projection, tiering.rising)."""
    plain, valued = runs
    assert len(plain.emitted) > 0
    assert _changes_besides_rising_star(valued) == _changes_besides_rising_star(plain)


def test_every_tier_changed_under_a_value_model_carries_its_version_and_p_alive(
    runs: tuple[LocalPipeline, LocalPipeline],
) -> None:
    _, valued = runs
    assert {e.value_model_version for e in valued.emitted} == {model_version(MODEL)}
    assert all(e.metrics.p_alive is not None for e in valued.emitted)


def test_customer_lookup_answers_with_the_value_model_version_and_figures(
    runs: tuple[LocalPipeline, LocalPipeline],
) -> None:
    _, valued = runs
    customer = valued.emitted[0].customer_id
    body = customer_answer(customer, valued.ranked(customer)).body
    assert body["value_model_version"] == model_version(MODEL)
    assert body["metrics"]["predicted_clv"] is not None
