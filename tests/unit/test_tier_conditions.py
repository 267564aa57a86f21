"""Policy-defined tiers (DESIGN.md "Policy-defined tiers"): the tier list, its conditions,
hysteresis in any tier order, rising stars and ranks within a profile dimension."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from schemas import Lifecycle, Risk
from schemas.profile import ProfileDimensions
from tests.unit.builders import AS_OF, POLICY, days_before, purchase, state_of
from tiering import (
    ExactPopulation,
    Policy,
    PolicyError,
    RankedMetric,
    TierHold,
    classify_measurement,
    measure,
    parse_policy,
    score_history,
)
from tiering.tiers import Standing, candidate_tier

FOUR_LAYERS: list[dict[str, Any]] = [
    {"name": "premium", "label": "premium", "service_level": "named team",
     "when": {"top_share": 0.15}},
    {"name": "developing", "label": "developing", "service_level": "account team",
     "when": {"top_share": 0.5, "risk": ["ok"]}},
    {"name": "potential", "label": "potential", "service_level": "growth desk",
     "when": [{"lifecycle": ["new", "growth"]}, {"rising_star": True}]},
    {"name": "marginal", "label": "marginal", "service_level": "self-service"},
]  # fmt: skip


def _policy(**changes: Any) -> Policy:
    document = POLICY.model_dump(mode="json")
    document["alerts"] = {**document["alerts"], "complaint_in_tiers": [], "decline_in_tiers": []}
    document.update(changes)
    return parse_policy(document, "test policy")


def _population(monetary: list[float]) -> ExactPopulation:
    return ExactPopulation(
        {
            RankedMetric.MONETARY: monetary,
            RankedMetric.FREQUENCY: [1.0] * len(monetary),
            RankedMetric.RECENCY_DAYS: [1.0] * len(monetary),
        }
    )


def _standing(share: float | None, **changes: Any) -> Standing:
    fields: dict[str, Any] = {
        "share_above": share,
        "lifecycle": Lifecycle.MATURE,
        "risk": Risk.OK,
        "rising_star": False,
        "profile": None,
    }
    fields.update(changes)
    return Standing(**fields)


def test_the_mapping_form_of_earlier_releases_loads_as_the_abc_tier_list() -> None:
    document = POLICY.model_dump(mode="json")
    document["tiers"] = {
        tier.name: {"label": tier.label, "service_level": tier.service_level}
        for tier in POLICY.tiers
    }
    document.pop("alerts")
    document["alerts"] = {}
    legacy = parse_policy(document)
    assert legacy.tier_names == ("A", "B", "C")
    assert legacy.top_shares == (POLICY.abc.a_cut, POLICY.abc.b_cut)
    assert legacy.alerts.complaint_in_tiers == ("A",)


def test_a_last_tier_with_a_condition_is_refused_naming_the_field() -> None:
    tiers = [*FOUR_LAYERS[:3], {**FOUR_LAYERS[3], "when": {"top_share": 0.9}}]
    with pytest.raises(PolicyError, match=r"tiers\.3\.when"):
        _policy(tiers=tiers)


def test_a_tier_before_the_last_without_a_condition_is_refused_naming_the_field() -> None:
    tiers = [FOUR_LAYERS[0], {**FOUR_LAYERS[1], "when": None}, *FOUR_LAYERS[2:]]
    with pytest.raises(PolicyError, match=r"tiers\.1\.when"):
        _policy(tiers=tiers)


def test_a_tier_name_used_twice_is_refused() -> None:
    tiers = [FOUR_LAYERS[0], {**FOUR_LAYERS[1], "name": "premium"}, *FOUR_LAYERS[2:]]
    with pytest.raises(PolicyError, match="used twice"):
        _policy(tiers=tiers)


def test_more_than_eight_tiers_are_refused() -> None:
    tiers = [
        {"name": f"t{i}", "label": "x", "service_level": "x", "when": {"top_share": 0.1 * i}}
        for i in range(1, 9)
    ] + [{"name": "rest", "label": "x", "service_level": "x"}]
    with pytest.raises(PolicyError, match="tiers"):
        _policy(tiers=tiers)


def test_an_alert_rule_naming_a_tier_the_policy_lacks_is_refused() -> None:
    document = POLICY.model_dump(mode="json")
    document["tiers"] = FOUR_LAYERS
    with pytest.raises(PolicyError, match="complaint_in_tiers"):
        parse_policy(document)  # the default alerts name A, which this policy lacks


def test_the_first_tier_whose_condition_holds_wins() -> None:
    policy = _policy(tiers=FOUR_LAYERS)
    assert candidate_tier(policy, _standing(0.10)) == "premium"
    assert candidate_tier(policy, _standing(0.30)) == "developing"
    assert candidate_tier(policy, _standing(0.30, risk=Risk.AT_RISK)) == "marginal"


def test_any_condition_of_a_tier_list_may_hold() -> None:
    policy = _policy(tiers=FOUR_LAYERS)
    assert candidate_tier(policy, _standing(0.8, lifecycle=Lifecycle.GROWTH)) == "potential"
    assert candidate_tier(policy, _standing(0.8, rising_star=True)) == "potential"
    assert candidate_tier(policy, _standing(0.8)) == "marginal"


def test_an_inactive_customer_meets_no_rank_condition() -> None:
    policy = _policy(tiers=FOUR_LAYERS)
    assert candidate_tier(policy, _standing(None, lifecycle=Lifecycle.CHURNED)) == "marginal"


def test_a_profile_condition_holds_only_for_the_listed_values() -> None:
    tiers = [
        {"name": "emea_key", "label": "k", "service_level": "s",
         "when": {"top_share": 0.5, "region": ["emea"]}},
        {"name": "other", "label": "o", "service_level": "s"},
    ]  # fmt: skip
    policy = _policy(tiers=tiers)
    emea = ProfileDimensions(region="emea")
    assert candidate_tier(policy, _standing(0.1, profile=emea)) == "emea_key"
    assert candidate_tier(policy, _standing(0.1, profile=ProfileDimensions(region="apac"))) == (
        "other"
    )
    assert candidate_tier(policy, _standing(0.1)) == "other"


def test_a_downgrade_in_a_named_tier_order_waits_for_the_hold_period() -> None:
    policy = _policy(tiers=FOUR_LAYERS)
    measurement = measure(state_of([purchase(days_before(40), "10")]), policy, AS_OF)
    # 1 customer of 100 above it: p = 0.01, premium.
    high = _population([10.0] + [11.0] + [1.0] * 98)
    first = classify_measurement(measurement, TierHold(), high, policy)
    assert first.classification.tier == "premium"
    # Now 40 of 100 above it: p = 0.4, developing by conditions, but premium is held.
    low = _population([10.0] + [11.0] * 40 + [1.0] * 59)
    held = classify_measurement(measurement, first.hold, low, policy)
    assert held.classification.tier == "premium"
    assert held.reasons[0].code == "tier.held"
    later = measure(
        state_of([purchase(days_before(40), "10")]),
        policy,
        AS_OF + timedelta(days=policy.hysteresis.downgrade_after_days),
    )
    dropped = classify_measurement(later, held.hold, low, policy)
    assert dropped.classification.tier == "developing"


def test_a_c_customer_whose_recent_pace_ranks_in_b_is_a_rising_star() -> None:
    # Window monetary 60 (first half 10, second half 50); the recent pace projects
    # 50 x 365 / 182 = 100.3 over a window, which 10 % of customers exceed: tier B's rank.
    events = [purchase(days_before(300), "10"), purchase(days_before(20), "50")]
    measurement = measure(state_of(events), POLICY, AS_OF)
    population = _population([200.0] * 10 + [90.0] * 20 + [60.0] + [5.0] * 69)
    evaluation = classify_measurement(measurement, TierHold(), population, POLICY)
    assert evaluation.classification.tier == "C"
    assert evaluation.classification.rising_star
    assert evaluation.reasons[-1].code == "tier.rising_star"
    assert "tier B" in evaluation.reasons[-1].text


def test_a_single_order_is_no_trend_and_makes_no_rising_star() -> None:
    measurement = measure(state_of([purchase(days_before(20), "50")]), POLICY, AS_OF)
    population = _population([200.0] * 10 + [90.0] * 20 + [50.0] + [5.0] * 69)
    evaluation = classify_measurement(measurement, TierHold(), population, POLICY)
    assert not evaluation.classification.rising_star


def test_a_customer_in_the_top_tier_is_never_a_rising_star() -> None:
    events = [purchase(days_before(300), "10"), purchase(days_before(20), "500")]
    measurement = measure(state_of(events), POLICY, AS_OF)
    population = _population([510.0] + [5.0] * 99)
    evaluation = classify_measurement(measurement, TierHold(), population, POLICY)
    assert evaluation.classification.tier == "A"
    assert not evaluation.classification.rising_star


def test_ranks_within_region_put_the_top_of_a_small_region_in_the_top_tier() -> None:
    policy = _policy(rank_within="region")
    orders = [purchase(days_before(10), "1000", customer=f"big{i}") for i in range(40)]
    orders.append(purchase(days_before(10), "5", customer="small-apac"))
    orders += [purchase(days_before(10), "1", customer=f"tiny{i}") for i in range(19)]
    profiles = {f"big{i}": ProfileDimensions(region="emea") for i in range(40)}
    profiles["small-apac"] = ProfileDimensions(region="apac")
    profiles.update({f"tiny{i}": ProfileDimensions(region="apac") for i in range(19)})
    within = score_history(orders, [], policy, AS_OF, profiles)
    overall = score_history(orders, [], POLICY, AS_OF, profiles)
    tier_of = {e.customer_id: e.classification.tier for e in within.evaluations}
    assert tier_of["small-apac"] == "A"
    assert {e.customer_id: e.classification.tier for e in overall.evaluations}["small-apac"] == "C"


def test_customers_without_the_dimension_are_ranked_among_themselves() -> None:
    policy = _policy(rank_within="region")
    orders = [purchase(days_before(10), "1000", customer=f"big{i}") for i in range(40)]
    orders.append(purchase(days_before(10), "5", customer="unplaced"))
    profiles = {f"big{i}": ProfileDimensions(region="emea") for i in range(40)}
    result = score_history(orders, [], policy, AS_OF, profiles)
    unplaced = next(e for e in result.evaluations if e.customer_id == "unplaced")
    assert unplaced.classification.tier == "A"
    assert unplaced.metrics.active_customers == 1
