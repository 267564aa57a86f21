"""Reason codes and one human sentence per classified dimension (tier, risk, lifecycle, segment).

Codes are stable machine identifiers (part of the event contract); sentences are for people
and may be reworded. Sentences carry figures only, never names or free text.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from schemas import Classification, ClassificationMetrics, Lifecycle, Reason, Risk
from tiering.measure import Measurement
from tiering.policy import Policy, TierCondition
from tiering.tiers import rank_level

if TYPE_CHECKING:
    from tiering.classify import TierHold

__all__ = ["reasons_for"]


def _money(value: object) -> str:
    return f"{value:,.2f}"


def _standing_text(metrics: ClassificationMetrics, policy: Policy) -> str | None:
    share = metrics.monetary_share_above
    if share is None:
        return None
    basis = "revenue" if policy.basis.value == "revenue" else "margin"
    among = (
        "active customers"
        if policy.rank_within is None
        else f"active customers of its {policy.rank_within}"
    )
    return (
        f"trailing-{policy.window_days}-day {basis} {_money(metrics.monetary)} is in the top "
        f"{share * 100:.1f} % of {metrics.active_customers:,} {among}"
    )


def _tier_reason(
    classification: Classification,
    metrics: ClassificationMetrics,
    hold: TierHold,
    policy: Policy,
    candidate: str,
) -> Reason:
    tier = classification.tier
    label = policy.tier(tier).label
    standing = _standing_text(metrics, policy)
    if tier != candidate:
        since = hold.below_since.date().isoformat() if hold.below_since else "now"
        return Reason(
            code="tier.held",
            text=(
                f"stays {tier} ({label}) although {standing or 'it is not an active customer'}"
                f" (tier by conditions: {candidate}); below its condition since {since}, "
                f"downgrade after {policy.hysteresis.downgrade_after_days:g} days"
            ),
        )
    definition = policy.tier(tier)
    rank_only = definition.when is None or all(
        condition.given == ("top_share",) for condition in definition.when
    )
    if standing is None and rank_only:
        return Reason(
            code="tier.inactive",
            text=f"tier {tier} ({label}): no purchase in the last {policy.window_days} days",
        )
    if rank_only:
        return Reason(code="tier.abc_rank", text=f"tier {tier} ({label}): {standing}")
    met = " or ".join(_condition_text(condition) for condition in definition.when or ())
    return Reason(
        code="tier.condition",
        text=f"tier {tier} ({label}): meets {met}" + (f"; {standing}" if standing else ""),
    )


def _condition_text(condition: TierCondition) -> str:
    parts = []
    for field in condition.given:
        value = getattr(condition, field)
        if field == "top_share":
            parts.append(f"top {value * 100:g} %")
        elif field == "rising_star":
            parts.append("rising star" if value else "not a rising star")
        else:
            parts.append(f"{field} in {'/'.join(str(item) for item in value)}")
    return "(" + ", ".join(parts) + ")"


def _rising_star_reason(
    classification: Classification, projected_share: float | None, policy: Policy, by_model: bool
) -> Reason | None:
    if not classification.rising_star or projected_share is None:
        return None
    reaches = policy.tiers[rank_level(policy, projected_share)].name
    source = "predicted CLV" if by_model else f"last {policy.lifecycle.half_split_days} days' pace"
    return Reason(
        code="tier.rising_star",
        text=(
            f"rising star: its projected value ({source}) would rank in the top "
            f"{projected_share * 100:.1f} %, the rank of tier {reaches}"
        ),
    )


def _risk_reason(
    measurement: Measurement,
    classification: Classification,
    metrics: ClassificationMetrics,
    policy: Policy,
) -> Reason:
    if classification.risk is Risk.AT_RISK and measurement.risk is Risk.OK:
        # Only the value model can have made it at risk (classify_measurement).
        return Reason(
            code="risk.low_p_alive",
            text=(
                f"at risk: {(metrics.p_alive or 0) * 100:.1f} % likely to still be buying, "
                f"below {(policy.risk.p_alive_below or 0) * 100:.1f} %; last purchase "
                f"{measurement.recency_days} days ago"
            ),
        )
    if measurement.risk is Risk.CHURNED:
        return Reason(
            code="risk.churned", text=f"churned: no purchase in the last {policy.window_days} days"
        )
    if measurement.risk is Risk.AT_RISK:
        if measurement.last_negative_feedback_at is not None:
            return Reason(
                code="risk.negative_feedback",
                text=(
                    "at risk: a complaint or low satisfaction score on "
                    f"{measurement.last_negative_feedback_at.date().isoformat()}"
                ),
            )
        return Reason(
            code="risk.overdue",
            text=(
                f"at risk: {measurement.recency_days} days since the last purchase, more than "
                f"{measurement.overdue_after_days or 0:.1f} days expected"
            ),
        )
    return Reason(code="risk.ok", text=f"ok: last purchase {measurement.recency_days} days ago")


def _lifecycle_reason(measurement: Measurement, policy: Policy) -> Reason:
    stage = measurement.lifecycle
    texts = {
        Lifecycle.NEW: f"new: first purchase within {policy.lifecycle.new_days} days",
        Lifecycle.CHURNED: "churned: no purchase in the window",
        Lifecycle.GROWTH: "growth",
        Lifecycle.DECLINE: "decline",
        Lifecycle.MATURE: "mature",
    }
    text = texts[stage]
    if stage in (Lifecycle.GROWTH, Lifecycle.DECLINE, Lifecycle.MATURE):
        text += (
            f": recent half-window {_money(measurement.second_half)} against "
            f"{_money(measurement.first_half)} in the earlier half"
        )
    return Reason(code=f"lifecycle.{stage.value}", text=text)


def _segment_reason(classification: Classification) -> Reason:
    scores, segment = classification.scores, classification.segment
    if scores is None or segment is None:
        return Reason(code="segment.none", text="no RFM segment: not an active customer")
    return Reason(
        code=f"segment.{segment.value}",
        text=(
            f"R{scores.recency} F{scores.frequency} M{scores.monetary} maps to "
            f"{segment.value.replace('_', ' ')}"
        ),
    )


def reasons_for(
    measurement: Measurement,
    classification: Classification,
    metrics: ClassificationMetrics,
    hold: TierHold,
    policy: Policy,
    candidate: str,
    projected_share: float | None = None,
    projected_by_model: bool = False,
) -> tuple[Reason, ...]:
    """One reason per dimension, in the order tier, risk, lifecycle, segment; then, for a
    rising star, why it is one. `candidate` is the tier the conditions give before
    hysteresis; `projected_share` the rank share of the projected value (`tiering.rising`)."""
    reasons = (
        _tier_reason(classification, metrics, hold, policy, candidate),
        _risk_reason(measurement, classification, metrics, policy),
        _lifecycle_reason(measurement, policy),
        _segment_reason(classification),
    )
    rising = _rising_star_reason(classification, projected_share, policy, projected_by_model)
    return reasons if rising is None else (*reasons, rising)
