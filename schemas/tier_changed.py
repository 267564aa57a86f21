"""`TierChanged`: one change of a customer's classification (topic `tier-changes`).

Keyed by `customer_id`, so consumers see each customer's changes in order. `event_id` is
derived from the content, so replaying the same history yields the same ids.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from schemas.classification import Classification, ClassificationMetrics, Reason
from schemas.profile import AccountManager, ProfileDimensions
from schemas.vocabulary import ChangedField, Direction

__all__ = ["CONTRACT_VERSION", "TierChanged", "tier_changed_event_id"]

CONTRACT_VERSION = "1.5"
# Fixed namespace so that ids are stable across processes and releases.
_EVENT_ID_NAMESPACE = uuid.UUID("6f1c1c3e-7d9a-4c36-9a43-2f1f0c6a7b11")


def tier_changed_event_id(
    customer_id: str,
    occurred_at: datetime,
    previous: Classification | None,
    current: Classification,
) -> str:
    """A UUIDv5 over the customer, the instant and both classifications.

    Same history → same id; two different changes of one customer differ in instant or content.
    A classification that is not a rising star hashes as it did before contract 1.5 added
    the flag, so the ids of replayed history (and the notifier's dedupe) stay as published.
    """
    before = _hashed(previous) if previous is not None else "null"
    name = f"{customer_id}|{occurred_at.isoformat()}|{before}|{_hashed(current)}"
    return str(uuid.uuid5(_EVENT_ID_NAMESPACE, name))


def _hashed(classification: Classification) -> str:
    if classification.rising_star:
        return classification.model_dump_json()
    return classification.model_dump_json(exclude={"rising_star"})


class TierChanged(BaseModel):
    """A customer's classification changed (or was made for the first time)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    contract_version: str = Field(default=CONTRACT_VERSION, pattern=r"^1\.\d+$")
    event_id: str = Field(min_length=1)
    customer_id: str = Field(min_length=1)
    occurred_at: AwareDatetime = Field(description="event time of the evaluation (as_of)")
    previous: Classification | None = Field(description="null for a first classification")
    current: Classification
    changes: tuple[ChangedField, ...] = Field(min_length=1)
    direction: Direction
    reasons: tuple[Reason, ...] = Field(min_length=1)
    metrics: ClassificationMetrics
    policy_version: str = Field(min_length=1)
    value_model_version: str | None = Field(
        default=None,
        min_length=1,
        description="the value model behind the metrics' value fields; null without one",
    )
    account_manager: AccountManager | None = None
    profile: ProfileDimensions | None = Field(
        default=None,
        description="the customer's industry, size and region when the change was ranked "
        "(contract 1.5); null when no profile is known",
    )
