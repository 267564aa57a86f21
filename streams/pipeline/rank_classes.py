"""What the population can move in a customer's classification, as monotone step functions of
one ranked value each, for the cut sweep (streams.pipeline.cut_sweep).

The rank stage compares these functions at two boundaries: a customer whose class given any
of its ranked values differs is re-evaluated. Everything rank-derived in a classification
must be in some class here — the ABC class, the R/F/M scores, which tier cuts the monetary
rank meets (and which widened cuts, for hysteresis), and the rank level the rising-star
projection reaches (tiering.rising).
"""

from __future__ import annotations

from collections.abc import Hashable
from datetime import datetime

from streams.pipeline.cut_sweep import ClassOf, StepClass
from tiering import Policy, Population, RankedMetric, abc_class
from tiering.classify import score_of
from tiering.measure import DAY
from tiering.tiers import rank_level

__all__ = ["rank_class_functions", "step_classes"]


def rank_class_functions(policy: Policy, moment: tuple[datetime, Population]) -> dict[str, ClassOf]:
    """Per ranked value (the names of RANKED_VALUES), the rank-derived classes of a customer
    with that value at boundary `moment[0]` against population `moment[1]`: everything of a
    classification that the population can move. Each is a monotone step function of the
    value, as the cut sweep requires."""
    instant, population = moment
    cuts = policy.top_shares
    margin = policy.hysteresis.margin

    def monetary_class(value: float) -> Hashable:
        above = population.share_greater(RankedMetric.MONETARY, value)
        # ABC class, M score, which tier cuts the rank meets (tier and rising-star level),
        # and which widened cuts it meets (hysteresis).
        return (
            abc_class(above, policy),
            score_of(population.share_smaller(RankedMetric.MONETARY, value)),
            tuple(above < cut for cut in cuts),
            tuple(above < cut + margin for cut in cuts),
        )

    def projected_class(value: float) -> Hashable:
        return rank_level(policy, population.share_greater(RankedMetric.MONETARY, value))

    def frequency_class(value: float) -> Hashable:
        return score_of(population.share_smaller(RankedMetric.FREQUENCY, value))

    def recency_class(last_purchase: datetime) -> Hashable:
        recency_days = (instant - last_purchase) // DAY
        return score_of(population.share_greater(RankedMetric.RECENCY_DAYS, float(recency_days)))

    return {
        "monetary": monetary_class,
        "frequency": frequency_class,
        "last_purchase": recency_class,
        "projected": projected_class,
    }


def step_classes(policy: Policy, moment: tuple[datetime, Population]) -> dict[str, StepClass]:
    return {
        name: StepClass(class_of) for name, class_of in rank_class_functions(policy, moment).items()
    }
