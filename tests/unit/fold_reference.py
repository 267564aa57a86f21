"""`tierstream score`'s output as the fold computes it: the reference of the columnar engine.

Reads the files with the row-by-row CSV reader (`streams.data.csv_input`), folds every event
with `tiering.score_history` and prints each evaluation the way `score` printed it before the
columnar engine, value cells from `streams.cli.score_clv.clv_cells`.

With a value model the fold (`score_history`) still projects rising stars by growth, while
`score` projects by the model's predicted_clv (`tiering.rising`): the reference then takes
the tier and rising star from `tiering`'s own rules (`is_rising_star`, `candidate_tier`) fed
with the predictions `clv_cells` prints, ranked against the customer's group as the fold does.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from pathlib import Path

from schemas import OrderEvent
from schemas.profile import PROFILE_DIMENSIONS, ProfileDimensions
from streams.cli.score_clv import EMPTY_CELLS, clv_cells
from streams.data.csv_input import CsvReport, read_feedback, read_orders
from tiering import Policy, score_history
from tiering.batch import group_of
from tiering.classify import Evaluation
from tiering.population import ExactPopulation, RankedMetric
from tiering.rising import growth_projection, is_rising_star
from tiering.tiers import Standing, candidate_tier
from tiering.value import load_model, predict, summarise_orders


def _with_model_projection(
    evaluations: tuple[Evaluation, ...],
    predicted: Mapping[str, float],
    policy: Policy,
    profiles: Mapping[str, ProfileDimensions],
) -> dict[str, tuple[str, bool]]:
    """customer_id → (tier, rising_star) with predicted_clv as the projection."""
    groups: dict[str | None, list[float]] = {}
    for e in evaluations:
        if e.measurement.active:
            group = group_of(profiles.get(e.customer_id), policy)
            groups.setdefault(group, []).append(float(e.measurement.monetary))
    populations = {
        group: ExactPopulation(
            {RankedMetric.MONETARY: v, RankedMetric.FREQUENCY: v, RankedMetric.RECENCY_DAYS: v}
        )
        for group, v in groups.items()
    }
    decided = {}
    for e in evaluations:
        c, share = e.classification, e.metrics.monetary_share_above
        projected = predicted.get(e.customer_id, growth_projection(e.measurement, policy))
        projected_share = (
            None
            if share is None or projected is None
            else populations[group_of(profiles.get(e.customer_id), policy)].share_greater(
                RankedMetric.MONETARY, projected
            )
        )
        rising = is_rising_star(share, projected_share, policy)
        standing = Standing(share, c.lifecycle, c.risk, rising, profiles.get(e.customer_id))
        decided[e.customer_id] = (candidate_tier(policy, standing), rising)
    return decided


def _predicted_clv(
    model_path: Path, orders: list[OrderEvent], as_of: datetime, policy: Policy
) -> dict[str, float]:
    """The unrounded predicted_clv of `clv_cells`' predictions."""
    model = load_model(model_path)
    summaries = list(summarise_orders(orders, as_of, model.time_unit).values())
    return {
        prediction.customer_id: prediction.predicted_clv
        for prediction in predict(
            model, summaries, policy.value.horizon_days, policy.value.annual_discount_rate
        )
    }


def fold_rows(
    orders_path: Path,
    feedback_path: Path | None,
    policy: Policy,
    as_of: datetime,
    model_path: Path | None = None,
    profiles: Mapping[str, ProfileDimensions] | None = None,
) -> list[list[str]]:
    """One row of cells per customer (sorted by id), as the score CSV writes them; the
    profile columns follow when `profiles` is given."""
    orders = list(read_orders(orders_path, CsvReport(orders_path)))
    feedback = list(read_feedback(feedback_path, CsvReport(feedback_path))) if feedback_path else []
    result = score_history(orders, feedback, policy, as_of, profiles=profiles)
    clv = (
        None
        if model_path is None
        else clv_cells(
            model_path,
            orders,
            as_of,
            policy.value.horizon_days,
            policy.value.annual_discount_rate,
        )
    )
    known = profiles or {}
    by_model = (
        {}
        if clv is None
        else _with_model_projection(
            result.evaluations,
            _predicted_clv(model_path, orders, as_of, policy),
            policy,
            known,
        )
    )
    rows = []
    for evaluation in result.evaluations:
        c, m = evaluation.classification, evaluation.metrics
        scores = c.scores
        tier, rising = by_model.get(evaluation.customer_id, (c.tier, c.rising_star))
        profile = known.get(evaluation.customer_id)
        rows.append(
            [
                evaluation.customer_id,
                tier,
                c.abc_class.value,
                "" if scores is None else str(scores.recency),
                "" if scores is None else str(scores.frequency),
                "" if scores is None else str(scores.monetary),
                "" if c.segment is None else c.segment.value,
                c.lifecycle.value,
                c.risk.value,
                "" if m.recency_days is None else str(m.recency_days),
                str(m.frequency),
                str(m.monetary),
                "true" if rising else "false",
                *(
                    []
                    if profiles is None
                    else [
                        (getattr(profile, name) or "") if profile is not None else ""
                        for name in PROFILE_DIMENSIONS
                    ]
                ),
                *([] if clv is None else clv.get(evaluation.customer_id, EMPTY_CELLS)),
            ]
        )
    return rows
