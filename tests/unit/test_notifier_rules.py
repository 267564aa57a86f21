"""The alert rules of the default policy, one case per rule and its boundaries."""

from __future__ import annotations

import pytest

from schemas import Classification, Lifecycle, RfmSegment, Risk
from schemas.profile import AccountManager
from streams.notifier.routing import RouteSource, route
from streams.notifier.rules import Trigger, decide
from streams.notifier.testing import classification, tier_changed
from tiering.policy import AlertPolicy, Policy, default_policy

POLICY = default_policy()


def _triggers(
    previous: Classification | None,
    current: Classification,
    *,
    complaint: bool = False,
    policy: Policy = POLICY,
) -> tuple[Trigger, ...] | None:
    alert = decide(tier_changed("c-1", previous, current, complaint=complaint), policy)
    return None if alert is None else alert.triggers


def test_tier_upgrade_alerts() -> None:
    assert _triggers(classification("B"), classification("A")) == (Trigger.TIER_UPGRADE,)


def test_tier_downgrade_alone_does_not_alert() -> None:
    assert _triggers(classification("A"), classification("B")) is None


def test_first_classification_never_alerts_even_when_at_risk() -> None:
    assert _triggers(None, classification("A", risk=Risk.AT_RISK), complaint=True) is None


@pytest.mark.parametrize("tier", ["A", "B", "C"])
def test_risk_becoming_at_risk_alerts_in_every_tier(tier: str) -> None:
    triggers = _triggers(classification(tier), classification(tier, risk=Risk.AT_RISK))
    assert triggers == (Trigger.AT_RISK,)


def test_risk_becoming_churned_is_not_the_at_risk_rule() -> None:
    previous = classification("C")
    assert _triggers(previous, classification("C", risk=Risk.CHURNED)) is None


@pytest.mark.parametrize(("tier", "alerts"), [("A", True), ("B", True), ("C", False)])
def test_decline_alerts_only_in_tiers_a_and_b(tier: str, alerts: bool) -> None:
    triggers = _triggers(classification(tier), classification(tier, lifecycle=Lifecycle.DECLINE))
    assert triggers == ((Trigger.DECLINE,) if alerts else None)


def test_decline_uses_the_new_tier() -> None:
    previous = classification("C")
    current = classification("B", lifecycle=Lifecycle.DECLINE)
    assert _triggers(previous, current) == (Trigger.TIER_UPGRADE, Trigger.DECLINE)


def test_complaint_from_a_tier_a_customer_alerts_as_a_complaint() -> None:
    triggers = _triggers(
        classification("A"), classification("A", risk=Risk.AT_RISK), complaint=True
    )
    assert triggers == (Trigger.AT_RISK, Trigger.COMPLAINT)


def test_complaint_from_a_tier_b_customer_is_only_at_risk() -> None:
    triggers = _triggers(
        classification("B"), classification("B", risk=Risk.AT_RISK), complaint=True
    )
    assert triggers == (Trigger.AT_RISK,)


def test_an_old_complaint_does_not_alert_again_on_a_segment_change() -> None:
    from schemas import RfmSegment

    previous = classification("A", risk=Risk.AT_RISK)
    current = classification("A", risk=Risk.AT_RISK, segment=RfmSegment.CHAMPIONS)
    assert _triggers(previous, current, complaint=True) is None


def test_complaint_rule_alone_still_alerts_when_at_risk_rule_is_off() -> None:
    policy = POLICY.model_copy(
        update={
            "alerts": AlertPolicy(
                tier_upgrade=True, risk_becomes_at_risk=False, complaint_in_tiers=("A",)
            )
        }
    )
    triggers = _triggers(
        classification("A"),
        classification("A", risk=Risk.AT_RISK),
        complaint=True,
        policy=policy,
    )
    assert triggers == (Trigger.COMPLAINT,)


def test_disabled_upgrade_rule_stays_silent() -> None:
    policy = POLICY.model_copy(update={"alerts": AlertPolicy(tier_upgrade=False)})
    assert _triggers(classification("B"), classification("A"), policy=policy) is None


def test_becoming_a_rising_star_alerts() -> None:
    previous, current = classification("C"), classification("C", rising_star=True)
    assert _triggers(previous, current) == (Trigger.RISING_STAR,)


def test_staying_a_rising_star_does_not_alert_again() -> None:
    # A segment change of a customer that already was a rising star.
    previous = classification("C", rising_star=True)
    current = classification("C", rising_star=True, segment=RfmSegment.CHAMPIONS)
    assert _triggers(previous, current) is None


def test_ceasing_to_be_a_rising_star_does_not_alert() -> None:
    previous, current = classification("C", rising_star=True), classification("C")
    assert _triggers(previous, current) is None


def test_rising_star_rule_off_stays_silent() -> None:
    policy = POLICY.model_copy(update={"alerts": AlertPolicy(becomes_rising_star=False)})
    previous, current = classification("C"), classification("C", rising_star=True)
    assert _triggers(previous, current, policy=policy) is None


def test_a_rising_star_promoted_at_once_alerts_for_both() -> None:
    previous, current = classification("C"), classification("B", rising_star=True)
    assert _triggers(previous, current) == (Trigger.TIER_UPGRADE, Trigger.RISING_STAR)


def test_alert_carries_the_new_tiers_label_and_service_level() -> None:
    alert = decide(tier_changed("c-1", classification("B"), classification("A")), POLICY)
    assert alert is not None
    assert alert.tier_label == "core"
    assert alert.service_level == POLICY.tier("A").service_level


MANAGER = AccountManager(id="m-1", name="Ada", email="ada@example.com")
OTHER = AccountManager(id="m-2", name="Bob")


def test_route_prefers_the_customers_topic_over_the_event() -> None:
    recipient = route("c-1", OTHER, {"c-1": MANAGER}, "owner")
    assert recipient is not None
    assert (recipient.manager_id, recipient.source) == ("m-1", RouteSource.PROFILE)


def test_route_falls_back_to_the_event_then_the_default_owner() -> None:
    from_event = route("c-1", OTHER, {}, "owner")
    fallback = route("c-1", None, {}, "owner", "owner@example.com")
    assert from_event is not None and from_event.manager_id == "m-2"
    assert fallback is not None
    assert (fallback.manager_id, fallback.email, fallback.source) == (
        "owner",
        "owner@example.com",
        RouteSource.DEFAULT,
    )


def test_route_names_nobody_without_manager_or_default_owner() -> None:
    assert route("c-1", None, {}, None) is None
