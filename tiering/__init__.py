"""The tiering domain: pure, deterministic customer classification (no I/O, no clock).

Folds and functions over small frozen values; time is always a parameter:

- `apply(state, event, policy)` folds an order or feedback event into a `CustomerState`;
- `measure(state, policy, as_of)` gives the population-independent figures;
- `classify(state, population, policy, as_of)` / `classify_measurement(...)` rank them
  against a `Population` (exact in batch, merged sketches in the stream) into an `Evaluation`;
- `diff(previous, current, policy)` says what changed; `next_due` when to look again;
- `score_history(...)` classifies a whole history at once (the batch scorer).
"""

from tiering.batch import BatchResult, score_history
from tiering.classify import Evaluation, TierHold, abc_class, classify, classify_measurement
from tiering.diff import Change, diff
from tiering.due import next_due
from tiering.exceptions import PolicyError, TieringError
from tiering.measure import Measurement, measure
from tiering.policy import Basis, Policy, default_policy, load_policy, parse_policy
from tiering.population import ExactPopulation, Population, RankedMetric
from tiering.state import ApplyResult, CustomerState, Outcome, apply, empty_state

__all__ = [
    "ApplyResult",
    "Basis",
    "BatchResult",
    "Change",
    "CustomerState",
    "Evaluation",
    "ExactPopulation",
    "Measurement",
    "Outcome",
    "Policy",
    "PolicyError",
    "Population",
    "RankedMetric",
    "TierHold",
    "TieringError",
    "abc_class",
    "apply",
    "classify",
    "classify_measurement",
    "default_policy",
    "diff",
    "empty_state",
    "load_policy",
    "measure",
    "next_due",
    "parse_policy",
    "score_history",
]
