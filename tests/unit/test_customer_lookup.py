"""`GET /customers/{id}` answers from the customer's `ranked` record: its current classification,
the boundary that last evaluated it, that evaluation's figures and the policy version.

The records come from the stream's own stages (LocalPipeline keeps them exactly as the worker
writes its `ranked` table), so the answers are compared with the TierChanged events the same
run emitted.
"""

from __future__ import annotations

import dataclasses
import json
import socket
from datetime import timedelta
from pathlib import Path

import pytest

from schemas import FeedbackEvent, OrderEvent
from schemas.customer_classification import CustomerClassification
from schemas.tier_changed import CONTRACT_VERSION, TierChanged
from streams.data.csv_input import CsvReport, read_feedback, read_orders
from streams.data.history import FEEDBACK_HEADER, ORDER_HEADER, generate_history, write_csv
from streams.pipeline.checkpoints import RankedRecord
from streams.pipeline.epochs import boundary_at_or_before
from streams.pipeline.local_pipeline import LocalPipeline
from streams.settings import WebSettings
from streams.worker.customer_lookup import NOT_CLASSIFIED, NOT_EVALUATED_YET, customer_answer
from streams.worker.web import advertised_host
from tests.unit.builders import POLICY
from tiering import diff

DAY_SECONDS = 86_400
PARTITIONS = 2


@pytest.fixture(scope="module")
def replayed(tmp_path_factory: pytest.TempPathFactory) -> LocalPipeline:
    """Both stages after a small history and a final watermark."""
    directory: Path = tmp_path_factory.mktemp("lookup-history")
    generated = generate_history(80, 800, seed=5, span_days=300)
    orders = write_csv(directory / "orders.csv", ORDER_HEADER, generated.orders)
    feedback = write_csv(directory / "feedback.csv", FEEDBACK_HEADER, generated.feedback)
    events: list[OrderEvent | FeedbackEvent] = [
        *read_orders(orders, CsvReport(orders)),
        *read_feedback(feedback, CsvReport(feedback)),
    ]
    events.sort(key=lambda event: event.occurred_at)
    pipeline = LocalPipeline(POLICY, PARTITIONS, DAY_SECONDS)
    for event in events:
        pipeline.feed(event)
    final = boundary_at_or_before(events[-1].occurred_at, DAY_SECONDS) + timedelta(days=1)
    for partition in range(PARTITIONS):
        pipeline.watermark(partition, final + timedelta(microseconds=1))
    return pipeline


def _last_changes(pipeline: LocalPipeline) -> dict[str, TierChanged]:
    return {event.customer_id: event for event in pipeline.emitted}


def _some_record(pipeline: LocalPipeline) -> tuple[str, RankedRecord]:
    customer = min(_last_changes(pipeline))
    raw = pipeline.ranked(customer)
    assert raw is not None
    return customer, RankedRecord.from_json(raw)


def test_a_customer_whose_last_evaluation_changed_it_answers_with_that_tier_changed(
    replayed: LocalPipeline,
) -> None:
    answered = 0
    for customer, event in _last_changes(replayed).items():
        answer = customer_answer(customer, replayed.ranked(customer))
        published = event.model_dump(mode="json")
        if answer.body.get("occurred_at") != published["occurred_at"]:
            continue  # re-evaluated later without a change: the next test
        assert answer.status == 200
        assert answer.body == {
            "contract_version": CONTRACT_VERSION,
            "customer_id": customer,
            **{
                name: published[name]
                for name in (
                    "occurred_at",
                    "current",
                    "metrics",
                    "policy_version",
                    "value_model_version",
                )
            },
        }
        answered += 1
    assert answered > 0


def test_a_customer_re_evaluated_without_a_change_answers_with_the_later_boundary(
    replayed: LocalPipeline,
) -> None:
    later = 0
    for customer, event in _last_changes(replayed).items():
        answer = customer_answer(customer, replayed.ranked(customer))
        assert answer.status == 200
        body = CustomerClassification.model_validate(answer.body)
        # Scores and the ABC class move without an event when no counted field changes
        # (tier under hysteresis, segment, risk, lifecycle): those fields are the last event's.
        assert diff(event.current, body.current, POLICY) is None
        assert body.occurred_at >= event.occurred_at
        assert body.policy_version == event.policy_version
        if body.occurred_at > event.occurred_at:
            later += 1
    assert later > 0


def test_a_customer_never_classified_is_404_with_a_json_error() -> None:
    answer = customer_answer("nobody", None)
    assert (answer.status, answer.body) == (404, {"error": NOT_CLASSIFIED})


def test_a_record_without_a_classification_is_404(replayed: LocalPipeline) -> None:
    customer, record = _some_record(replayed)
    unclassified = dataclasses.replace(record, classification=None)
    answer = customer_answer(customer, unclassified.to_json())
    assert (answer.status, answer.body) == (404, {"error": NOT_CLASSIFIED})


def test_a_record_stored_before_evaluations_were_kept_is_503_until_re_evaluated(
    replayed: LocalPipeline,
) -> None:
    customer, record = _some_record(replayed)
    older = json.loads(record.to_json())
    del older["e"]
    answer = customer_answer(customer, json.dumps(older).encode())
    assert (answer.status, answer.body) == (503, {"error": NOT_EVALUATED_YET})


def test_the_ranked_record_keeps_its_evaluation_through_encoding(
    replayed: LocalPipeline,
) -> None:
    _, record = _some_record(replayed)
    assert record.evaluation is not None
    assert RankedRecord.from_json(record.to_json()) == record


def test_workers_advertise_the_bound_host_when_it_is_an_address() -> None:
    assert advertised_host(WebSettings(host="127.0.0.1")) == "127.0.0.1"
    assert advertised_host(WebSettings(host="::1")) == "[::1]"


def test_workers_bound_to_every_interface_advertise_their_hostname_address() -> None:
    expected = socket.gethostbyname(socket.gethostname())
    assert advertised_host(WebSettings(host="0.0.0.0")) == expected  # noqa: S104 (the case)


def test_an_advertised_host_setting_wins() -> None:
    settings = WebSettings(host="0.0.0.0", advertised_host="worker-0.tierstream-worker")  # noqa: S104
    assert advertised_host(settings) == "worker-0.tierstream-worker"
