"""`tierstream score`'s output as the fold computes it: the reference of the columnar engine.

Reads the files with the row-by-row CSV reader (`streams.data.csv_input`), folds every event
with `tiering.score_history` and prints each evaluation the way `score` printed it before the
columnar engine, value cells from `streams.cli.score_clv.clv_cells`.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from streams.cli.score_clv import EMPTY_CELLS, clv_cells
from streams.data.csv_input import CsvReport, read_feedback, read_orders
from tiering import Policy, score_history


def fold_rows(
    orders_path: Path,
    feedback_path: Path | None,
    policy: Policy,
    as_of: datetime,
    model_path: Path | None = None,
) -> list[list[str]]:
    """One row of cells per customer (sorted by id), as the score CSV writes them."""
    orders = list(read_orders(orders_path, CsvReport(orders_path)))
    feedback = list(read_feedback(feedback_path, CsvReport(feedback_path))) if feedback_path else []
    result = score_history(orders, feedback, policy, as_of)
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
    rows = []
    for evaluation in result.evaluations:
        c, m = evaluation.classification, evaluation.metrics
        scores = c.scores
        rows.append(
            [
                evaluation.customer_id,
                c.tier,
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
                *([] if clv is None else clv.get(evaluation.customer_id, EMPTY_CELLS)),
            ]
        )
    return rows
