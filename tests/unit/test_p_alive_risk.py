"""`risk.p_alive_below`: with a value model, a customer whose P(alive) falls below the policy's
threshold is at_risk with its own reason, found by stream time alone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from schemas import Risk
from streams.pipeline.epochs import boundary_at_or_after
from streams.pipeline.local_pipeline import LocalPipeline
from tests.unit.builders import AS_OF, POLICY, days_before, purchase, state_of
from tiering import (
    Evaluation,
    ExactPopulation,
    Policy,
    PolicyError,
    RankedMetric,
    TierHold,
    classify_measurement,
    measure,
    parse_policy,
)
from tiering.valuation import p_alive_falls_below_at, value_figures
from tiering.value import ValueModel

MODEL = ValueModel.model_validate(
    {
        "bg_nbd": {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426},
        "gamma_gamma": {"p": 6.25, "q": 3.74, "v": 15.44},
        "time_unit": "week",
        "calibration_end": "1997-09-30",
        "customers": 2357,
        "log_likelihood": {"bg_nbd": -9582.4, "gamma_gamma": -4053.0},
    }
)
THRESHOLD = 0.5
WATCHFUL = POLICY.model_copy(
    update={"risk": POLICY.risk.model_copy(update={"p_alive_below": THRESHOLD})}
)
# Thirty daily purchases, then ten silent days: p_alive ≈ 0.30 (x = 29, t_x = 29 days),
# while the overdue rule waits for max(30 days, 2 × the 1-day mean gap).
DAILY_THEN_SILENT = [purchase(days_before(10 + day), "20") for day in range(30)]


def _evaluate(policy: Policy, model: ValueModel | None) -> Evaluation:
    measurement = measure(state_of(DAILY_THEN_SILENT), policy, AS_OF)
    population = ExactPopulation(
        {
            RankedMetric.MONETARY: [float(measurement.monetary)],
            RankedMetric.FREQUENCY: [float(measurement.frequency)],
            RankedMetric.RECENCY_DAYS: [float(measurement.recency_days or 0)],
        }
    )
    return classify_measurement(measurement, TierHold(), population, policy, model)


def test_p_alive_below_is_off_by_default() -> None:
    assert POLICY.risk.p_alive_below is None
    assert _evaluate(POLICY, MODEL).classification.risk is Risk.OK


def test_p_alive_below_the_threshold_makes_an_otherwise_ok_customer_at_risk() -> None:
    evaluation = _evaluate(WATCHFUL, MODEL)
    assert evaluation.classification.risk is Risk.AT_RISK
    risk_reason = evaluation.reasons[1]
    assert risk_reason.code == "risk.low_p_alive"
    assert "29.6 % likely to still be buying, below 50.0 %" in risk_reason.text


def test_p_alive_threshold_without_a_value_model_changes_nothing() -> None:
    assert _evaluate(WATCHFUL, None).classification.risk is Risk.OK


def test_p_alive_threshold_outside_zero_to_one_is_refused_naming_the_field() -> None:
    document = POLICY.model_dump(mode="json")
    document["risk"]["p_alive_below"] = 1.5
    with pytest.raises(PolicyError, match=r"risk\.p_alive_below"):
        parse_policy(document)


def test_p_alive_falls_below_the_threshold_at_the_start_of_the_crossing_day() -> None:
    measurement = measure(state_of(DAILY_THEN_SILENT), POLICY, days_before(10))
    crossing = p_alive_falls_below_at(measurement, MODEL, THRESHOLD)
    assert crossing is not None
    assert crossing == crossing.replace(hour=0, minute=0, second=0, microsecond=0)

    def p_alive_at(instant: datetime) -> float:
        later = measure(state_of(DAILY_THEN_SILENT), POLICY, instant)
        figures = value_figures(later, MODEL)
        assert figures is not None
        return figures.p_alive

    assert p_alive_at(crossing) < THRESHOLD <= p_alive_at(crossing - timedelta(microseconds=1))


def test_a_customer_with_one_transaction_day_never_falls_below() -> None:
    measurement = measure(state_of([purchase(days_before(300))]), POLICY, AS_OF)
    assert p_alive_falls_below_at(measurement, MODEL, THRESHOLD) is None


START = datetime(2026, 1, 1, 12, tzinfo=UTC)
SILENT = [purchase(START + timedelta(days=d), "20", customer="silent") for d in range(30)]


def _silent_and_steady(policy: Policy) -> LocalPipeline:
    """One customer buys daily for 30 days then goes silent; another keeps buying daily, so
    boundaries keep closing."""
    start = START
    events = list(SILENT)
    events += [purchase(start + timedelta(days=d), "20", customer="steady") for d in range(60)]
    events.sort(key=lambda event: event.occurred_at)
    pipeline = LocalPipeline(policy, 1, 86_400, value_model=MODEL)
    for event in events:
        pipeline.feed(event)
    pipeline.watermark(0, start + timedelta(days=61))
    return pipeline


def test_a_silent_customer_becomes_at_risk_when_its_p_alive_falls_before_it_is_overdue() -> None:
    pipeline = _silent_and_steady(WATCHFUL)
    silent = [event for event in pipeline.emitted if event.customer_id == "silent"]
    at_risk = next(event for event in silent if event.current.risk is Risk.AT_RISK)
    last_purchase = SILENT[-1].occurred_at
    crossing = p_alive_falls_below_at(measure(state_of(SILENT), POLICY, last_purchase), MODEL, 0.5)
    assert crossing is not None
    # At the first boundary at or after the crossing (daily boundaries at UTC midnight), not
    # whenever something else happens to re-evaluate the customer.
    assert at_risk.occurred_at == boundary_at_or_after(crossing, 86_400)
    assert at_risk.reasons[1].code == "risk.low_p_alive"
    assert at_risk.metrics.p_alive is not None and at_risk.metrics.p_alive < THRESHOLD


def test_without_the_threshold_the_silent_customer_becomes_at_risk_only_when_overdue() -> None:
    pipeline = _silent_and_steady(POLICY)
    silent = [event for event in pipeline.emitted if event.customer_id == "silent"]
    at_risk = next(event for event in silent if event.current.risk is Risk.AT_RISK)
    assert at_risk.reasons[1].code == "risk.overdue"
