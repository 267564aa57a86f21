"""Helpers for tests and benchmarks: realistic `TierChanged` events without running a worker.

`changes` and `direction` come from the domain's own `tiering.diff`, so the events look
exactly like the worker's.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from schemas import (
    AbcClass,
    Classification,
    ClassificationMetrics,
    Lifecycle,
    Reason,
    RfmScores,
    RfmSegment,
    Risk,
)
from schemas.profile import AccountManager
from schemas.tier_changed import TierChanged, tier_changed_event_id
from tiering.diff import diff
from tiering.policy import Policy, default_policy

__all__ = ["RISING_STAR_REASON", "classification", "tier_changed"]


def classification(
    tier: str = "B",
    *,
    risk: Risk = Risk.OK,
    lifecycle: Lifecycle = Lifecycle.MATURE,
    segment: RfmSegment | None = RfmSegment.LOYAL,
    rising_star: bool = False,
) -> Classification:
    """An active customer's classification (ABC class = tier, scores 4/4/4)."""
    return Classification(
        tier=tier,
        abc_class=AbcClass(tier) if tier in AbcClass.__members__ else AbcClass.C,
        scores=RfmScores(recency=4, frequency=4, monetary=4) if segment else None,
        segment=segment,
        lifecycle=lifecycle,
        risk=risk,
        rising_star=rising_star,
    )


# What tiering.explain says of a rising star under the default policy (growth fallback).
RISING_STAR_REASON = Reason(
    code="tier.rising_star",
    text="rising star: its projected value (last 182 days' pace) would rank in the top "
    "9.1 %, the rank of tier B",
)


def _reasons(current: Classification, complaint: bool) -> tuple[Reason, ...]:
    risk_reason = {
        Risk.OK: Reason(code="risk.ok", text="ok: last purchase 3 days ago"),
        Risk.AT_RISK: Reason(
            code="risk.negative_feedback" if complaint else "risk.overdue",
            text="at risk: a complaint or low satisfaction score on 2026-02-27"
            if complaint
            else "at risk: 75 days since the last purchase, more than 60.0 days expected",
        ),
        Risk.CHURNED: Reason(code="risk.churned", text="churned: no purchase in 365 days"),
    }[current.risk]
    reasons = (
        Reason(
            code="tier.abc_rank",
            text=f"tier {current.tier}: trailing-365-day revenue 48,210.00 is in the top "
            "4.1 % of 12,904 active customers",
        ),
        risk_reason,
        Reason(code=f"lifecycle.{current.lifecycle.value}", text=current.lifecycle.value),
    )
    return (*reasons, RISING_STAR_REASON) if current.rising_star else reasons


def tier_changed(
    customer_id: str,
    previous: Classification | None,
    current: Classification,
    *,
    occurred_at: datetime | None = None,
    complaint: bool = False,
    account_manager: AccountManager | None = None,
    policy: Policy | None = None,
) -> TierChanged:
    """A TierChanged from `previous` to `current` (they must differ in a counted field)."""
    policy = policy or default_policy()
    at = occurred_at or datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    change = diff(previous, current, policy)
    if change is None:
        raise ValueError("previous and current do not differ in any counted field")
    return TierChanged(
        event_id=tier_changed_event_id(customer_id, at, previous, current),
        customer_id=customer_id,
        occurred_at=at,
        previous=previous,
        current=current,
        changes=change.changes,
        direction=change.direction,
        reasons=_reasons(current, complaint),
        metrics=ClassificationMetrics(
            recency_days=3,
            frequency=12,
            monetary=Decimal("48210.00"),
            active_customers=12904,
            monetary_share_above=0.041,
        ),
        policy_version=policy.version,
        account_manager=account_manager,
    )
