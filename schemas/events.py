"""Input events: `OrderEvent` (topic `orders`) and `FeedbackEvent` (topic `feedback`).

Both are keyed by `customer_id`. Timestamps must carry a time zone. Amounts are positive;
the kind gives the sign (refunds and cancels subtract).
"""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

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

    event_id: str = Field(min_length=1, max_length=200)
    order_id: str = Field(min_length=1, max_length=200)
    customer_id: str = Field(min_length=1, max_length=200)
    occurred_at: AwareDatetime
    amount: Decimal = Field(gt=0, allow_inf_nan=False, description="positive; kind gives the sign")
    currency: str = Field(default="EUR", pattern=r"^[A-Z]{3}$")
    kind: OrderKind = OrderKind.PURCHASE
    margin: Decimal | None = Field(default=None, ge=0, allow_inf_nan=False)


_SCORE_RANGES = {
    FeedbackKind.CSAT: (1, 5),
    FeedbackKind.NPS: (0, 10),
    FeedbackKind.COMPLAINT: (1, 3),
}


class FeedbackEvent(BaseModel):
    """Customer feedback; complaints and low CSAT scores raise churn risk."""

    model_config = _FROZEN

    event_id: str = Field(min_length=1, max_length=200)
    customer_id: str = Field(min_length=1, max_length=200)
    occurred_at: AwareDatetime
    kind: FeedbackKind
    score: int | None = None

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
