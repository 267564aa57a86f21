"""Wire models of a classification: what a customer is, and the figures it came from.

`tiering` produces these; `TierChanged` carries them; the Redis read model stores them.
"""

from __future__ import annotations

from decimal import Decimal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from schemas.vocabulary import AbcClass, Lifecycle, RfmSegment, Risk, TierName

__all__ = ["Classification", "ClassificationMetrics", "Reason", "RfmScores"]

_FROZEN = ConfigDict(frozen=True, extra="forbid")


class RfmScores(BaseModel):
    """R, F and M scores, each 1 (worst) to 5 (best).

    For recency, lower `recency_days` is better, so a fresher customer gets a higher R score.
    """

    model_config = _FROZEN

    recency: int = Field(ge=1, le=5)
    frequency: int = Field(ge=1, le=5)
    monetary: int = Field(ge=1, le=5)


class Classification(BaseModel):
    """A customer's classification at one instant.

    Inactive customers (no purchase in the window) have no RFM scores and no segment.
    `tier` is one of the policy's tier names (contract 1.5; A, B or C under the default
    policy). `rising_star` (contract 1.5): below the top tier, but its projected value would
    rank it in a higher tier (`tiering.rising`).
    """

    model_config = _FROZEN

    tier: TierName
    abc_class: AbcClass
    scores: RfmScores | None
    segment: RfmSegment | None
    lifecycle: Lifecycle
    risk: Risk
    rising_star: bool = False


class ClassificationMetrics(BaseModel):
    """The figures a classification came from, and the population ranks they were placed in.

    Shares are fractions of active customers (0..1): `monetary_share_above` is the ABC rank p
    (share with strictly greater monetary); `*_share_below` feed the F and M scores;
    `recency_share_above` (share with strictly larger recency_days) feeds the R score.

    The value fields (contract 1.4) come from the worker's value model (BG/NBD and
    Gamma-Gamma, DESIGN.md "Customer value") over its whole purchase history; they are null
    when no value model is configured or the customer never purchased.
    """

    model_config = _FROZEN

    recency_days: int | None = Field(
        description="whole days from the last purchase ever to as_of; null if never purchased"
    )
    frequency: int = Field(ge=0, description="distinct purchase orders in the window")
    monetary: Decimal = Field(
        ge=0, description="purchases minus refunds and cancels in the window, floored at 0"
    )
    active_customers: int = Field(ge=0, description="size of the population ranked against")
    monetary_share_above: float | None = Field(default=None, ge=0, le=1)
    monetary_share_below: float | None = Field(default=None, ge=0, le=1)
    frequency_share_below: float | None = Field(default=None, ge=0, le=1)
    recency_share_above: float | None = Field(default=None, ge=0, le=1)
    p_alive: float | None = Field(
        default=None, ge=0, le=1, description="probability the customer is still alive (BG/NBD)"
    )
    predicted_clv: float | None = Field(
        default=None,
        ge=0,
        description="expected purchases over the value horizon x expected order value",
    )
    expected_next_order_at: AwareDatetime | None = Field(
        default=None,
        description="last purchase + the mean wait of a customer who is alive (BG/NBD)",
    )


class Reason(BaseModel):
    """Why a classification is what it is: a stable machine code and one human sentence."""

    model_config = _FROZEN

    code: str = Field(pattern=r"^[a-z_]+(\.[a-z_]+)*$", examples=["tier.abc_top_share"])
    text: str = Field(min_length=1)
