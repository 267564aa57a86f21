"""Input events: `OrderEvent` (topic `orders`) and `FeedbackEvent` (topic `feedback`).

Both are keyed by `customer_id`. Timestamps must carry a time zone. Amounts are non-negative;
the kind gives the sign (refunds and cancels subtract). A zero-amount purchase (free sample,
full discount, replacement) is a purchase: it counts for frequency, recency and lifecycle and
adds 0 to monetary. Every field is bounded
(`schemas.bounds`): an event outside the bounds fails validation and becomes a dead letter.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, model_validator

from schemas.bounds import (
    COMPLAINT_SEVERITY_RANGE,
    CSAT_SCORE_RANGE,
    MONEY_TEXT,
    NPS_SCORE_RANGE,
    EventId,
    EventTime,
    Money,
)

__all__ = ["FeedbackEvent", "FeedbackKind", "OrderEvent", "OrderKind"]

_FROZEN = ConfigDict(frozen=True, extra="forbid")


class OrderKind(StrEnum):
    """purchase adds to monetary; refund and cancel subtract (they refer to a purchase)."""

    PURCHASE = "purchase"
    REFUND = "refund"
    CANCEL = "cancel"


class FeedbackKind(StrEnum):
    """csat (score 1–5), nps (0–10), complaint (severity 1–3), praise (no score)."""

    CSAT = "csat"
    NPS = "nps"
    COMPLAINT = "complaint"
    PRAISE = "praise"


class OrderEvent(BaseModel):
    """A purchase, or a refund/cancel of an earlier purchase (`order_id` names the purchase)."""

    model_config = _FROZEN

    event_id: EventId
    order_id: EventId
    customer_id: EventId
    occurred_at: EventTime
    amount: Money = Field(
        description=(
            f"non-negative, {MONEY_TEXT}; the kind gives the sign; "
            "0 is a free purchase (it counts for frequency, recency and lifecycle)"
        )
    )
    currency: str = Field(default="EUR", pattern=r"^[A-Z]{3}$")
    kind: OrderKind = OrderKind.PURCHASE
    margin: Money | None = Field(default=None, description=f"non-negative, {MONEY_TEXT}")


_SCORE_RANGES = {
    FeedbackKind.CSAT: CSAT_SCORE_RANGE,
    FeedbackKind.NPS: NPS_SCORE_RANGE,
    FeedbackKind.COMPLAINT: COMPLAINT_SEVERITY_RANGE,
}
# Any kind's score lies in this range; checked before the kind-specific range so that a huge
# number is refused by the field itself.
_LOWEST_SCORE = min(low for low, _ in _SCORE_RANGES.values())
_HIGHEST_SCORE = max(high for _, high in _SCORE_RANGES.values())


class FeedbackEvent(BaseModel):
    """Customer feedback; complaints and low CSAT scores raise churn risk."""

    model_config = _FROZEN

    event_id: EventId
    customer_id: EventId
    occurred_at: EventTime
    kind: FeedbackKind
    score: int | None = Field(
        default=None,
        ge=_LOWEST_SCORE,
        le=_HIGHEST_SCORE,
        description="csat 1–5, nps 0–10, complaint severity 1–3 (optional), praise none",
    )

    @model_validator(mode="after")
    def _score_fits_kind(self) -> FeedbackEvent:
        bounds = _SCORE_RANGES.get(self.kind)
        if bounds is None:
            if self.score is not None:
                raise ValueError(f"{self.kind.value} feedback takes no score")
            return self
        low, high = bounds
        if self.score is None and self.kind is not FeedbackKind.COMPLAINT:
            raise ValueError(f"{self.kind.value} feedback needs a score {low}..{high}")
        if self.score is not None and not low <= self.score <= high:
            raise ValueError(f"{self.kind.value} score must be {low}..{high}")
        return self
