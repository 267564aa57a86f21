"""Stage 2 of the worker, for one partition: at each boundary whose merged population is
complete, classify the customers that need it and emit a TierChanged for every counted change.

Who needs it at boundary E: customers measured at E (events, due instants), customers whose
tier hold expires by E, and customers whose rank classes the move of the population from the
previous boundary changes — found with the cut sweep over sorted values, not a scan. Pure
bookkeeping; the agent supplies populations and publishes the events. See
docs/stream-design.md.

Under the policy's `rank_within`, a customer is ranked against the population of its group
(`GroupedPopulation.within`), the group its latest measurement carries (stage 1 reads it from
the profile when it measures, so a customer's sketch entry and its ranking agree). Each group
has its own value index and step functions: the sweep finds, group by group, the customers
whose class the move of their group's population changes.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol, runtime_checkable

from schemas import Classification, ClassificationMetrics
from schemas.profile import AccountManager, ProfileDimensions
from schemas.tier_changed import TierChanged, tier_changed_event_id
from streams.pipeline.classification_counts import (
    NO_DIMENSION_VALUE,
    ClassificationCounts,
    CountKeeper,
)
from streams.pipeline.cut_sweep import StepClass, changed_ranges
from streams.pipeline.due_index import DueIndex
from streams.pipeline.rank_classes import step_classes
from streams.pipeline.value_index import ValueIndex
from tiering import (
    Measurement,
    Policy,
    Population,
    TierHold,
    classify_measurement,
    diff,
)
from tiering.measure import at_later_instant
from tiering.rising import growth_projection
from tiering.valuation import p_alive_falls_below_at
from tiering.value import ValueModel, model_version

__all__ = [
    "NO_DIMENSION_VALUE",
    "ClassificationCounts",
    "GroupedPopulation",
    "LastEvaluation",
    "ManagerLookup",
    "PartitionRanker",
    "ProfileLookup",
]

# customer_id -> the account manager known now (the worker's `profiles` table). Asked only
# when a change is emitted; never part of the classification or of the event id.
ManagerLookup = Callable[[str], AccountManager | None]
# customer_id -> its industry/size/region known now (the same table). Read for tier
# conditions that name a dimension, and copied into TierChanged.profile; never part of the
# event id.
ProfileLookup = Callable[[str], ProfileDimensions | None]


@runtime_checkable
class GroupedPopulation(Population, Protocol):
    """A population that also answers for one ranking group (`streams.pipeline.ranks.
    SketchPopulation`); what `rank` needs under the policy's `rank_within`."""

    def within(self, group: str | None) -> Population:
        """The population of the active customers of one group at the same boundary."""
        ...


@dataclass(frozen=True)
class LastEvaluation:
    """When a customer was last classified, against what figures, under which policy.

    `as_of` is the epoch boundary (event time) of the evaluation: at or after the
    `occurred_at` of the customer's last TierChanged, later when a boundary re-evaluated the
    customer without a counted change. `metrics` are that evaluation's figures and ranks, as
    a TierChanged at that boundary would carry them.
    """

    as_of: datetime
    metrics: ClassificationMetrics
    policy_version: str
    value_model_version: str | None = None


class PartitionRanker:
    """Latest measurement, classification and tier hold of each customer of one partition."""

    def __init__(
        self,
        policy: Policy,
        managers: ManagerLookup | None = None,
        value_model: ValueModel | None = None,
        profiles: ProfileLookup | None = None,
    ) -> None:
        self._policy = policy
        self._managers = managers or (lambda _customer: None)
        self._profiles = profiles or (lambda _customer: None)
        # Whether classifying reads the profile (tier conditions, rank_within, dimension
        # gauges); if not, it is read only for the changes emitted (TierChanged.profile),
        # not for every customer a boundary re-evaluates.
        self._classifying_reads_profiles = policy.uses_profile or bool(policy.metrics_dimensions)
        # The value model fills the metrics' value fields; its version rides on TierChanged.
        self._value_model = value_model
        self._value_model_version = None if value_model is None else model_version(value_model)
        self._latest: dict[str, Measurement] = {}
        # One value index per ranking group (only the None group without `rank_within`).
        self._indexes: dict[str | None, ValueIndex] = {}
        self._current: dict[str, tuple[Classification, TierHold]] = {}
        self._hold_due = DueIndex()
        # Evaluations of the last `rank` call only: `entry` hands them to the checkpoint,
        # which is where they are kept.
        self._evaluated: dict[str, LastEvaluation] = {}
        self._previous: tuple[datetime, Population] | None = None
        # The step functions of `_previous` per group learnt by the last sweep (None: none).
        self._previous_steps: dict[str | None, dict[str, StepClass]] | None = None
        # After a restore the previous population is gone: the next boundary re-evaluates
        # every customer instead of sweeping the cut points (same result, one-off cost).
        self._full_sweep = False
        self.touched: set[str] = set()
        # Customers re-evaluated by the last `rank` call that no measurement brought:
        # "due" (a tier hold expired), "cut_points" (the population moved their class, or
        # the full sweep after a restore).
        self.causes: Counter[str] = Counter()
        # Each classified customer's contribution to `counts()`, kept as classifications
        # change, so the gauges never need a scan of the partition.
        self._counts = CountKeeper(policy)

    @classmethod
    def restored(
        cls,
        policy: Policy,
        entries: Iterable[tuple[Measurement, Classification | None, TierHold]],
        managers: ManagerLookup | None = None,
        value_model: ValueModel | None = None,
        profiles: ProfileLookup | None = None,
    ) -> PartitionRanker:
        """Rebuild from each customer's checkpoint (see `entry`)."""
        ranker = cls(policy, managers, value_model, profiles)
        for measurement, classification, hold in entries:
            customer_id = measurement.customer_id
            ranker._remember(measurement)
            if classification is not None:
                ranker._current[customer_id] = (classification, hold)
                ranker._hold_due.schedule(customer_id, ranker._due(measurement, hold))
                profile = ranker._profiles(customer_id) if policy.metrics_dimensions else None
                ranker._counts.count(customer_id, classification, measurement.monetary, profile)
        ranker._full_sweep = True
        return ranker

    @property
    def value_model_version(self) -> str | None:
        """The version of the value model this ranker classifies with (None: no model)."""
        return self._value_model_version

    def use_value_model(self, model: ValueModel | None) -> None:
        """Classify with `model` from the next `rank` call on (a refitted model file).

        A new model moves every customer's p_alive and predicted_clv, and the instant its
        p_alive falls below `risk.p_alive_below` (a due instant scheduled under the old
        model): so the next boundary re-evaluates every customer, as after a restore. The
        same version again changes nothing."""
        if model is self._value_model:
            return
        version = None if model is None else model_version(model)
        if version == self._value_model_version:
            return
        self._value_model = model
        self._value_model_version = version
        self._full_sweep = True

    def entry(
        self, customer_id: str
    ) -> tuple[Measurement, Classification | None, TierHold, LastEvaluation | None]:
        """What to checkpoint for a customer touched by the last `rank` call (the first three
        are what `restored` takes back; the evaluation is for readers of the checkpoint)."""
        classification, hold = self._current.get(customer_id, (None, TierHold()))
        evaluation = self._evaluated.get(customer_id)
        return self._latest[customer_id], classification, hold, evaluation

    def erase(self, customer_id: str) -> None:
        """Forget a customer (an erase request): its measurement, classification, tier hold,
        due instant and gauge tally. Its next measurement, if new events bring one, is a
        first classification (`initial`). O(log n)."""
        latest = self._latest.pop(customer_id, None)
        if latest is not None:
            self._index_of(latest).remove(latest)
        self._current.pop(customer_id, None)
        self._evaluated.pop(customer_id, None)
        self._hold_due.schedule(customer_id, None)
        self.touched.discard(customer_id)
        self._counts.forget(customer_id)

    def _group(self, measurement: Measurement) -> str | None:
        """The customer's ranking group: its measurement's under `rank_within`, else None
        (everyone is ranked together)."""
        return None if self._policy.rank_within is None else measurement.group

    def _index_of(self, measurement: Measurement) -> ValueIndex:
        group = self._group(measurement)
        index = self._indexes.get(group)
        if index is None:
            # The rising-star projection is indexed too: a population move can change the
            # rank its projection reaches without touching the customer's own values.
            policy = self._policy
            index = ValueIndex((("projected", lambda latest: growth_projection(latest, policy)),))
            self._indexes[group] = index
        return index

    def _within(self, population: Population, group: str | None) -> Population:
        """The population a customer of `group` is ranked against."""
        if self._policy.rank_within is None:
            return population
        if not isinstance(population, GroupedPopulation):
            raise TypeError(
                f"policy {self._policy.version} ranks within {self._policy.rank_within}: "
                "rank needs a population that answers per group (SketchPopulation)"
            )
        return population.within(group)

    def _remember(self, measurement: Measurement) -> None:
        previous = self._latest.get(measurement.customer_id)
        if previous is not None:
            # Removed from the index of its previous group: a profile move changes it.
            self._index_of(previous).remove(previous)
        self._index_of(measurement).replace(None, measurement)
        self._latest[measurement.customer_id] = measurement

    def _hold_expiry(self, hold: TierHold) -> datetime | None:
        if hold.below_since is None:
            return None
        return hold.below_since + timedelta(days=self._policy.hysteresis.downgrade_after_days)

    def _due(self, measurement: Measurement, hold: TierHold) -> datetime | None:
        """When this stage must re-evaluate the customer with no new measurement: its tier
        hold expiring, or (value model and `risk.p_alive_below` set) its p_alive falling
        below the threshold, which time alone does and stage 1 cannot see."""
        dues = [self._hold_expiry(hold)]
        threshold = self._policy.risk.p_alive_below
        if self._value_model is not None and threshold is not None:
            crossing = p_alive_falls_below_at(measurement, self._value_model, threshold)
            if crossing is not None and crossing > measurement.as_of:
                dues.append(crossing)
        return min((due for due in dues if due is not None), default=None)

    def classification(self, customer_id: str) -> Classification | None:
        """The customer's current classification, if it has one."""
        entry = self._current.get(customer_id)
        return None if entry is None else entry[0]

    def counts(self) -> ClassificationCounts:
        """Customers per tier, risk and lifecycle, and monetary per tier, of this partition's
        current classifications (kept up to date by `rank`; no scan)."""
        return self._counts.counts()

    def rank(
        self, boundary: datetime, population: Population, measurements: tuple[Measurement, ...]
    ) -> list[TierChanged]:
        """Classify at `boundary`; return the TierChanged events in customer-id order."""
        for measurement in measurements:
            self._remember(measurement)
        measured = {m.customer_id for m in measurements}
        affected = set(measured)
        due = self._hold_due.pop_due(boundary)
        affected.update(due)
        after_steps: dict[str | None, dict[str, StepClass]] | None = None
        if self._full_sweep:
            affected.update(self._latest)
            self._full_sweep = False
        elif self._previous is not None:
            after_steps = {
                group: step_classes(self._policy, (boundary, self._within(population, group)))
                for group in self._indexes
            }
            affected.update(self._cut_affected(self._previous, after_steps))
        self.touched = affected
        self._evaluated = {}
        held = set(due) - measured
        self.causes = Counter({"due": len(held), "cut_points": len(affected - measured - held)})
        events = []
        for customer_id in sorted(affected):
            event = self._classify(customer_id, boundary, population)
            if event is not None:
                events.append(event)
        self._previous = (boundary, population)
        self._previous_steps = after_steps
        return events

    def _classify(
        self, customer_id: str, boundary: datetime, population: Population
    ) -> TierChanged | None:
        measurement = self._latest[customer_id]
        if measurement.as_of != boundary:
            measurement = at_later_instant(measurement, boundary)
        previous, hold = self._current.get(customer_id, (None, TierHold()))
        reads_profile = self._classifying_reads_profiles
        profile = self._profiles(customer_id) if reads_profile else None
        evaluation = classify_measurement(
            measurement,
            hold,
            self._within(population, self._group(measurement)),
            self._policy,
            self._value_model,
            profile,
        )
        self._current[customer_id] = (evaluation.classification, evaluation.hold)
        self._evaluated[customer_id] = LastEvaluation(
            boundary, evaluation.metrics, self._policy.version, self._value_model_version
        )
        self._counts.count(customer_id, evaluation.classification, measurement.monetary, profile)
        self._hold_due.schedule(customer_id, self._due(measurement, evaluation.hold))
        change = diff(previous, evaluation.classification, self._policy)
        if change is None:
            return None
        if not reads_profile:
            profile = self._profiles(customer_id)
        return TierChanged(
            event_id=tier_changed_event_id(
                customer_id, boundary, previous, evaluation.classification
            ),
            customer_id=customer_id,
            occurred_at=boundary,
            previous=previous,
            current=evaluation.classification,
            changes=change.changes,
            direction=change.direction,
            reasons=evaluation.reasons,
            metrics=evaluation.metrics,
            policy_version=self._policy.version,
            value_model_version=self._value_model_version,
            account_manager=self._managers(customer_id),
            profile=profile,
        )

    def _cut_affected(
        self,
        before: tuple[datetime, Population],
        after_steps: Mapping[str | None, Mapping[str, StepClass]],
    ) -> set[str]:
        """Customers whose class given some ranked value differs between the `before` moment
        and the step functions of the boundary being ranked, group by group (each group's
        customers against its own population).

        `rank` keeps those step functions: at the next boundary they are the `before` ones,
        and what they learnt answers most of that sweep without asking the population again.
        """
        instant, population = before
        affected: set[str] = set()
        for group, index in self._indexes.items():
            before_steps = (self._previous_steps or {}).get(group)
            if before_steps is None:
                before_steps = step_classes(
                    self._policy, (instant, self._within(population, group))
                )
            for name in index.names:
                values = index.values(name)
                before_runs = before_steps[name].runs(values)
                after_runs = after_steps[group][name].runs(values)
                for start, end in changed_ranges(before_runs, after_runs, len(values)):
                    affected.update(values.customers_between(start, end))
        return affected
