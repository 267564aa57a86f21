"""`CustomerClassification`: a customer's current classification, read from the worker.

The body of `GET /customers/{customer_id}` on the worker's web port, answered by the worker
that owns the customer's partition from its `ranked` table: the authoritative value, which
the Redis read model follows. Its fields are the `TierChanged` fields of the same name, so a
consumer's models of `current` and `metrics` read both.
"""

from __future__ import annotations

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from schemas.classification import Classification, ClassificationMetrics
from schemas.tier_changed import CONTRACT_VERSION

__all__ = ["CustomerClassification"]


class CustomerClassification(BaseModel):
    """A customer's classification as of the last epoch boundary that evaluated it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    contract_version: str = Field(default=CONTRACT_VERSION, pattern=r"^1\.\d+$")
    customer_id: str = Field(min_length=1)
    occurred_at: AwareDatetime = Field(
        description=(
            "event time of the evaluation (the epoch boundary, as_of); at or after the "
            "occurred_at of the customer's last TierChanged, later when a boundary "
            "re-evaluated the customer without a change"
        )
    )
    current: Classification
    metrics: ClassificationMetrics
    policy_version: str = Field(min_length=1)
    value_model_version: str | None = Field(
        default=None,
        min_length=1,
        description="the value model behind the metrics' value fields; null without one",
    )
