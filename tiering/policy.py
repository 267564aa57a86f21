"""The tier policy: every tunable of the classification, versioned and validated on load.

The built-in default (`default_policy.yaml`, shipped with the package) implements
DESIGN.md's "Definitions (default policy)"; its comments record the choices made where the
design is silent.
"""

from __future__ import annotations

from enum import StrEnum
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from schemas import ChangedField, RfmSegment, Tier
from tiering.exceptions import PolicyError

__all__ = [
    "AbcPolicy",
    "AlertPolicy",
    "Basis",
    "HysteresisPolicy",
    "LifecyclePolicy",
    "Policy",
    "RiskPolicy",
    "SegmentRule",
    "TierPolicy",
    "default_policy",
    "load_policy",
    "parse_policy",
]

_STRICT = ConfigDict(frozen=True, extra="forbid")


class Basis(StrEnum):
    """What monetary sums: order amounts (revenue) or their margins."""

    REVENUE = "revenue"
    MARGIN = "margin"


class AbcPolicy(BaseModel):
    """Pareto cuts on p = share of active customers with strictly greater monetary."""

    model_config = _STRICT

    a_cut: float = Field(gt=0, lt=1)
    b_cut: float = Field(gt=0, lt=1)

    @model_validator(mode="after")
    def _ordered(self) -> AbcPolicy:
        if not self.a_cut < self.b_cut:
            raise ValueError("a_cut must be smaller than b_cut")
        return self


class LifecyclePolicy(BaseModel):
    """new within `new_days` of the first purchase; growth/decline compare window halves."""

    model_config = _STRICT

    new_days: int = Field(ge=0)
    half_split_days: int = Field(gt=0)
    growth_ratio: float = Field(gt=1)
    decline_ratio: float = Field(gt=0, lt=1)


class ValuePolicy(BaseModel):
    """How the value model's predictions are read (DESIGN.md, "Customer value"):
    `predicted_clv` = expected purchases over `horizon_days` × expected order value, each
    expected purchase discounted by (1 + `annual_discount_rate`)^(years until it; 0 = none)."""

    model_config = _STRICT

    horizon_days: int = Field(default=365, ge=1, le=3650)
    annual_discount_rate: float = Field(default=0.0, ge=0, le=1)


class RiskPolicy(BaseModel):
    """at_risk when overdue (recency > max(min_gap_days, gap_factor × mean gap)) or unhappy,
    or, with a value model and `p_alive_below` set, when p_alive < p_alive_below (off by
    default: a customer that is otherwise ok)."""

    model_config = _STRICT

    min_gap_days: float = Field(ge=0)
    gap_factor: float = Field(gt=0)
    feedback_lookback_days: int = Field(gt=0)
    low_csat_max: int = Field(ge=1, le=5)
    p_alive_below: float | None = Field(default=None, gt=0, lt=1)


class HysteresisPolicy(BaseModel):
    """Upgrades apply at once; a downgrade waits until the customer has stayed below its
    tier's cut by `margin` (a rank share) for `downgrade_after_days` of event time."""

    model_config = _STRICT

    margin: float = Field(ge=0, lt=1)
    downgrade_after_days: float = Field(ge=0)


class TierPolicy(BaseModel):
    """A tier's label and the service it is owed."""

    model_config = _STRICT

    label: str = Field(min_length=1)
    service_level: str = Field(min_length=1)


class AlertPolicy(BaseModel):
    """Which changes raise an alert for the account manager."""

    model_config = _STRICT

    tier_upgrade: bool = True
    risk_becomes_at_risk: bool = True
    complaint_in_tiers: tuple[Tier, ...] = (Tier.A,)
    decline_in_tiers: tuple[Tier, ...] = (Tier.A, Tier.B)


class SegmentRule(BaseModel):
    """Scores within these inclusive ranges map to `segment` (first matching rule wins)."""

    model_config = _STRICT

    segment: RfmSegment
    recency: tuple[int, int] = (1, 5)
    frequency: tuple[int, int] = (1, 5)
    monetary: tuple[int, int] = (1, 5)

    @model_validator(mode="after")
    def _ranges(self) -> SegmentRule:
        for name in ("recency", "frequency", "monetary"):
            low, high = getattr(self, name)
            if not 1 <= low <= high <= 5:
                raise ValueError(f"{name} range must satisfy 1 <= low <= high <= 5")
        return self

    def matches(self, recency: int, frequency: int, monetary: int) -> bool:
        """Whether the scores fall in every range of this rule."""
        return (
            self.recency[0] <= recency <= self.recency[1]
            and self.frequency[0] <= frequency <= self.frequency[1]
            and self.monetary[0] <= monetary <= self.monetary[1]
        )


class Policy(BaseModel):
    """Everything the classification depends on besides the events and the population."""

    model_config = _STRICT

    version: str = Field(min_length=1)
    basis: Basis
    window_days: int = Field(gt=0, le=3660)
    abc: AbcPolicy
    lifecycle: LifecyclePolicy
    risk: RiskPolicy
    hysteresis: HysteresisPolicy
    tiers: dict[Tier, TierPolicy]
    counted_changes: tuple[ChangedField, ...] = Field(min_length=1)
    alerts: AlertPolicy
    segments: tuple[SegmentRule, ...] = Field(min_length=1)
    # The value-model file `tierstream clv fit` writes (DESIGN.md, "Customer value"); a
    # relative path is relative to the policy file. TIERSTREAM_CLV_MODEL, when set, wins.
    value_model: str | None = Field(default=None, min_length=1, max_length=4096)
    value: ValuePolicy = ValuePolicy()

    @model_validator(mode="after")
    def _complete(self) -> Policy:
        missing_tiers = [tier.value for tier in Tier if tier not in self.tiers]
        if missing_tiers:
            raise ValueError(f"tiers: missing {', '.join(missing_tiers)}")
        if self.lifecycle.half_split_days >= self.window_days:
            raise ValueError("lifecycle.half_split_days must be smaller than window_days")
        for recency in range(1, 6):
            for frequency in range(1, 6):
                for monetary in range(1, 6):
                    if not any(r.matches(recency, frequency, monetary) for r in self.segments):
                        raise ValueError(
                            f"segments: no rule covers R{recency} F{frequency} M{monetary}"
                        )
        return self

    def segment_for(self, recency: int, frequency: int, monetary: int) -> RfmSegment:
        """The first segment rule matching the scores (validation guarantees one exists)."""
        for rule in self.segments:
            if rule.matches(recency, frequency, monetary):
                return rule.segment
        raise PolicyError(f"no segment for R{recency} F{frequency} M{monetary}")  # unreachable


def _field_path(location: tuple[int | str, ...]) -> str:
    return ".".join(str(part) for part in location) or "<top level>"


def parse_policy(document: Any, source: str = "policy") -> Policy:
    """Validate a parsed YAML/JSON document as a Policy; errors name the first bad field."""
    if not isinstance(document, dict):
        raise PolicyError(f"{source}: expected a mapping of policy fields at the top level")
    try:
        return Policy.model_validate(document)
    except ValidationError as error:
        first = error.errors()[0]
        raise PolicyError(
            f"{source}: field '{_field_path(first['loc'])}': {first['msg']}"
            f" ({error.error_count()} problem(s) in all)"
        ) from None


def load_policy(path: Path) -> Policy:
    """Read and validate a policy YAML file."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise PolicyError(f"{path}: cannot read policy file: {error.strerror}") from None
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise PolicyError(f"{path}: not valid YAML: {error}") from None
    policy = parse_policy(document, str(path))
    if policy.value_model is not None and not Path(policy.value_model).is_absolute():
        # Named beside the policy: the file and its model travel together.
        located = str(path.parent / policy.value_model)
        policy = policy.model_copy(update={"value_model": located})
    return policy


def default_policy() -> Policy:
    """The built-in policy implementing DESIGN.md's default definitions."""
    text = resources.files("tiering").joinpath("default_policy.yaml").read_text(encoding="utf-8")
    return parse_policy(yaml.safe_load(text), "default_policy.yaml")
