"""The tier policy: every tunable of the classification, versioned and validated on load.

The built-in default (`default_policy.yaml`, shipped with the package) implements
DESIGN.md's "Definitions (default policy)"; its comments record the choices made where the
design is silent.
"""

from __future__ import annotations

import re
from enum import StrEnum
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import ErrorDetails

from schemas import ChangedField, Lifecycle, RfmSegment, Risk, TierName
from schemas.profile import PROFILE_DIMENSIONS
from tiering.exceptions import PolicyError

__all__ = [
    "AbcPolicy",
    "AlertPolicy",
    "Basis",
    "Dimension",
    "HysteresisPolicy",
    "LifecyclePolicy",
    "Policy",
    "RiskPolicy",
    "SegmentRule",
    "TierCondition",
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
            raise ValueError("a_cut: must be smaller than b_cut")
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


Dimension = Literal["industry", "size", "region"]


class TierCondition(BaseModel):
    """What a customer's classification must satisfy to be in a tier; every given field must
    hold (and). `top_share` is the rank condition: p < top_share, where p is the share of the
    ranked customers (all active ones, or those of the customer's group under `rank_within`)
    whose monetary (the policy's basis) is strictly greater — so 0.05 means "top 5 %"."""

    model_config = _STRICT

    top_share: float | None = Field(default=None, gt=0, le=1)
    lifecycle: tuple[Lifecycle, ...] | None = Field(default=None, min_length=1)
    risk: tuple[Risk, ...] | None = Field(default=None, min_length=1)
    rising_star: bool | None = None
    industry: tuple[str, ...] | None = Field(default=None, min_length=1)
    size: tuple[str, ...] | None = Field(default=None, min_length=1)
    region: tuple[str, ...] | None = Field(default=None, min_length=1)

    @model_validator(mode="after")
    def _not_empty(self) -> TierCondition:
        if not self.given:
            raise ValueError("a condition needs at least one field (or leave `when` out)")
        return self

    @property
    def given(self) -> tuple[str, ...]:
        """The names of the fields this condition sets (not None), in declaration order."""
        return tuple(name for name in type(self).model_fields if getattr(self, name) is not None)


class TierPolicy(BaseModel):
    """One tier: its name (in TierChanged, metrics and the read model), label, the service it
    is owed, and when a customer is in it: `when` is a condition or a list of conditions of
    which any may hold; the last tier has none (everyone left)."""

    model_config = _STRICT

    name: TierName
    label: str = Field(min_length=1)
    service_level: str = Field(min_length=1)
    when: tuple[TierCondition, ...] | None = None

    @field_validator("when", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, dict) else value


class AlertPolicy(BaseModel):
    """Which changes raise an alert for the account manager."""

    model_config = _STRICT

    tier_upgrade: bool = True
    risk_becomes_at_risk: bool = True
    # A customer becoming a rising star (`tiering.rising`); on by default (C customers whose
    # projected value ranks them in B under the default policy).
    becomes_rising_star: bool = True
    # Tier names (checked against the policy's tiers on load).
    complaint_in_tiers: tuple[TierName, ...] = ()
    decline_in_tiers: tuple[TierName, ...] = ()


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
                raise ValueError(f"{name}: range must satisfy 1 <= low <= high <= 5")
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
    # 2 to 8 tiers, highest first (DESIGN.md "Policy-defined tiers"). The form of earlier
    # releases, a mapping A/B/C → label and service level, still loads: it means A: top
    # `abc.a_cut`, B: top `abc.b_cut`, C the rest (`_legacy_tiers`).
    tiers: tuple[TierPolicy, ...] = Field(min_length=2, max_length=8)
    # Rank within the customer's group of this profile dimension (customers without it form
    # their own group): "top 5 %" then means within the customer's region, say.
    rank_within: Dimension | None = None
    counted_changes: tuple[ChangedField, ...] = Field(min_length=1)
    alerts: AlertPolicy
    segments: tuple[SegmentRule, ...] = Field(min_length=1)
    # The value-model file `tierstream clv fit` writes (DESIGN.md, "Customer value"); a
    # relative path is relative to the policy file. TIERSTREAM_CLV_MODEL, when set, wins.
    value_model: str | None = Field(default=None, min_length=1, max_length=4096)
    value: ValuePolicy = ValuePolicy()
    # Profile dimensions whose values label the worker's gauge
    # tierstream_customers_by_dimension{dimension,value,tier} (streams/worker/dimensions.py);
    # each may hold at most 50 distinct values, or the worker refuses to start.
    metrics_dimensions: tuple[Dimension, ...] = Field(default=(), max_length=3)

    @model_validator(mode="before")
    @classmethod
    def _legacy_tiers(cls, document: Any) -> Any:
        if not isinstance(document, dict) or not isinstance(document.get("tiers"), dict):
            return document
        tiers = document["tiers"]
        abc = document.get("abc")
        if set(tiers) != {"A", "B", "C"} or not isinstance(abc, dict):
            return document  # let validation name the problem
        cuts = {"A": abc.get("a_cut"), "B": abc.get("b_cut")}
        # Earlier releases' alert defaults named A and B.
        alerts = document.get("alerts")
        if isinstance(alerts, dict):
            alerts = {"complaint_in_tiers": ["A"], "decline_in_tiers": ["A", "B"], **alerts}
        listed = []
        for name in ("A", "B", "C"):
            entry = dict(tiers[name]) if isinstance(tiers[name], dict) else tiers[name]
            if isinstance(entry, dict):
                entry["name"] = name
                if name in cuts:
                    entry["when"] = {"top_share": cuts[name]}
            listed.append(entry)
        return {**document, "tiers": listed, "alerts": alerts}

    @model_validator(mode="after")
    def _tier_list(self) -> Policy:
        names = [tier.name for tier in self.tiers]
        for position, tier in enumerate(self.tiers):
            if tier.name in names[:position]:
                raise ValueError(f"tiers.{position}.name: '{tier.name}' is used twice")
            last = position == len(self.tiers) - 1
            if last and tier.when is not None:
                raise ValueError(f"tiers.{position}.when: the last tier takes everyone left")
            if not last and tier.when is None:
                raise ValueError(f"tiers.{position}.when: only the last tier may have none")
        return self

    @model_validator(mode="after")
    def _complete(self) -> Policy:
        names = self.tier_names
        for field in ("complaint_in_tiers", "decline_in_tiers"):
            for position, name in enumerate(getattr(self.alerts, field)):
                if name not in names:
                    raise ValueError(
                        f"alerts.{field}.{position}: '{name}' is not a tier of this policy"
                        f" ({', '.join(names)})"
                    )
        if self.lifecycle.half_split_days >= self.window_days:
            raise ValueError("lifecycle.half_split_days: must be smaller than window_days")
        for recency in range(1, 6):
            for frequency in range(1, 6):
                for monetary in range(1, 6):
                    if not any(r.matches(recency, frequency, monetary) for r in self.segments):
                        raise ValueError(
                            f"segments: no rule covers R{recency} F{frequency} M{monetary}"
                        )
        return self

    @property
    def tier_names(self) -> tuple[str, ...]:
        """The tiers' names, highest first."""
        return tuple(tier.name for tier in self.tiers)

    def tier(self, name: str) -> TierPolicy:
        """The tier called `name` (a PolicyError if the policy has none)."""
        for tier in self.tiers:
            if tier.name == name:
                return tier
        raise PolicyError(f"policy {self.version} has no tier '{name}'")

    def tier_rank(self, name: str) -> int:
        """0 for the highest tier; a name the policy does not define (a classification made
        under an earlier policy) ranks below every tier, so any tier is an upgrade from it."""
        names = self.tier_names
        return names.index(name) if name in names else len(names)

    @property
    def top_shares(self) -> tuple[float, ...]:
        """Every distinct `top_share` of the tier conditions, ascending: the rank cuts."""
        return tuple(
            sorted(
                {
                    condition.top_share
                    for tier in self.tiers
                    for condition in tier.when or ()
                    if condition.top_share is not None
                }
            )
        )

    @property
    def uses_profile(self) -> bool:
        """Whether classification reads profile dimensions (conditions or rank_within)."""
        return self.rank_within is not None or any(
            getattr(condition, dimension) is not None
            for tier in self.tiers
            for condition in tier.when or ()
            for dimension in PROFILE_DIMENSIONS
        )

    def segment_for(self, recency: int, frequency: int, monetary: int) -> RfmSegment:
        """The first segment rule matching the scores (validation guarantees one exists)."""
        for rule in self.segments:
            if rule.matches(recency, frequency, monetary):
                return rule.segment
        raise PolicyError(f"no segment for R{recency} F{frequency} M{monetary}")  # unreachable


# A validator that checks several fields names the one at fault as "path.to.field: why",
# relative to where it runs; `_located` moves that path into the error's location.
_NAMED_FIELD = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+)*): (.+)$", re.DOTALL)


def _field_path(location: tuple[int | str, ...]) -> str:
    return ".".join(str(part) for part in location) or "<top level>"


def _located(error: ErrorDetails) -> tuple[str, str]:
    """(field path, message) of a validation error; a validator's ValueError loses pydantic's
    "Value error, " prefix and, when it names a field, is located at that field."""
    location, message = tuple(error["loc"]), error["msg"]
    if error["type"] == "value_error":
        message = message.removeprefix("Value error, ")
        named = _NAMED_FIELD.match(message)
        if named is not None:
            location = (*location, *named.group(1).split("."))
            message = named.group(2)
    return _field_path(location), message


def parse_policy(document: Any, source: str = "policy") -> Policy:
    """Validate a parsed YAML/JSON document as a Policy; errors name the first bad field."""
    if not isinstance(document, dict):
        raise PolicyError(f"{source}: expected a mapping of policy fields at the top level")
    try:
        return Policy.model_validate(document)
    except ValidationError as error:
        field, message = _located(error.errors()[0])
        raise PolicyError(
            f"{source}: field '{field}': {message} ({error.error_count()} problem(s) in all)"
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
