"""The answer to `GET /customers/{customer_id}`, from the customer's `ranked` table value.

Pure: the worker's web view (streams/worker/web.py) reads the table on the worker that owns the
customer's partition and sends what this returns. The body of a 200 is a
`schemas.CustomerClassification`; errors are `{"error": ...}` like Faust's own views.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from schemas.customer_classification import CustomerClassification
from streams.pipeline.checkpoints import RankedRecord

__all__ = ["NOT_CLASSIFIED", "NOT_EVALUATED_YET", "Answer", "customer_answer"]

NOT_CLASSIFIED = "no classification for this customer: the workers have processed no event of it"
NOT_EVALUATED_YET = (
    "this customer's classification was stored by an earlier release without its figures; "
    "it is available again after the next epoch boundary"
)


@dataclass(frozen=True)
class Answer:
    """HTTP status and JSON body."""

    status: int
    body: dict[str, Any]


def customer_answer(customer_id: str, ranked: bytes | None) -> Answer:
    """200 with the customer's current classification, the boundary it was evaluated at, its
    figures and the policy version; 404 when the worker never classified the customer; 503
    for a record of an earlier release that lacks the evaluation (until the next boundary
    rewrites it: the first boundary after a restart re-evaluates every customer)."""
    record = None if ranked is None else RankedRecord.from_json(ranked)
    if record is None or record.classification is None:
        return Answer(404, {"error": NOT_CLASSIFIED})
    evaluation = record.evaluation
    if evaluation is None:
        return Answer(503, {"error": NOT_EVALUATED_YET})
    body = CustomerClassification(
        customer_id=customer_id,
        occurred_at=evaluation.as_of,
        current=record.classification,
        metrics=evaluation.metrics,
        policy_version=evaluation.policy_version,
        value_model_version=evaluation.value_model_version,
    )
    return Answer(200, body.model_dump(mode="json"))
