"""Which tier changes alert an account manager: a pure decision over one `TierChanged`.

The policy's `alerts` section names the rules (tiering.AlertPolicy). A first classification
(direction `initial`) never alerts: when the worker starts on a history every customer gets
one, and a manager flooded with "your customer now exists" messages stops reading them.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict

from schemas import ChangedField, Direction, Lifecycle, Risk
from schemas.tier_changed import TierChanged
from tiering.policy import Policy

__all__ = ["COMPLAINT_REASON_CODES", "Alert", "Trigger", "decide", "is_complaint_reason"]

# tiering.explain gives this code when a complaint or a low csat makes a customer at_risk;
# the finer codes are accepted too, so a later contract that splits them keeps alerting.
COMPLAINT_REASON_CODES = frozenset({"risk.negative_feedback", "risk.complaint", "risk.low_csat"})


class Trigger(StrEnum):
    """An alert rule that fired; the values are stable and appear in alert payloads."""

    TIER_UPGRADE = "tier_upgrade"
    AT_RISK = "risk_at_risk"
    DECLINE = "lifecycle_decline"
    COMPLAINT = "complaint"
    RISING_STAR = "rising_star"


class Alert(BaseModel):
    """A tier change worth a manager's attention, with what the policy says the tier is owed."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    event: TierChanged
    triggers: tuple[Trigger, ...]
    tier_label: str
    service_level: str

    @property
    def event_id(self) -> str:
        """The TierChanged id: the idempotency key of every delivery of this alert."""
        return self.event.event_id


def is_complaint_reason(code: str) -> bool:
    """Whether a reason code says negative feedback (a complaint or low csat) drives the risk."""
    return code in COMPLAINT_REASON_CODES


def _triggers(event: TierChanged, policy: Policy) -> list[Trigger]:
    rules = policy.alerts
    current = event.current
    found: list[Trigger] = []
    if rules.tier_upgrade and event.direction is Direction.UPGRADE:
        found.append(Trigger.TIER_UPGRADE)
    risk_changed = ChangedField.RISK in event.changes
    if rules.risk_becomes_at_risk and risk_changed and current.risk is Risk.AT_RISK:
        found.append(Trigger.AT_RISK)
    if (
        ChangedField.LIFECYCLE in event.changes
        and current.lifecycle is Lifecycle.DECLINE
        and current.tier in rules.decline_in_tiers
    ):
        found.append(Trigger.DECLINE)
    # Only when risk changed: a complaint stays in the reasons for the whole lookback window,
    # and a later segment change must not alert for the same complaint again.
    if (
        risk_changed
        and current.risk is Risk.AT_RISK
        and current.tier in rules.complaint_in_tiers
        and any(is_complaint_reason(reason.code) for reason in event.reasons)
    ):
        found.append(Trigger.COMPLAINT)
    # Becoming a rising star (tiering.rising): the reasons carry why (tier.rising_star).
    if (
        rules.becomes_rising_star
        and ChangedField.RISING_STAR in event.changes
        and current.rising_star
    ):
        found.append(Trigger.RISING_STAR)
    return found


def decide(event: TierChanged, policy: Policy) -> Alert | None:
    """The alert this change raises under `policy`, or None.

    Rules (each switchable in the policy): the tier went up; risk became at_risk; a customer
    in `decline_in_tiers` entered lifecycle decline; a customer in `complaint_in_tiers` became
    at_risk because of a complaint or low csat; the customer became a rising star. The tier
    of the *new* classification decides tier membership. A first classification (previous
    null) never alerts.
    """
    if event.previous is None or event.direction is Direction.INITIAL:
        return None
    triggers = _triggers(event, policy)
    if not triggers:
        return None
    tier = policy.tier(event.current.tier)
    return Alert(
        event=event,
        triggers=tuple(triggers),
        tier_label=tier.label,
        service_level=tier.service_level,
    )
