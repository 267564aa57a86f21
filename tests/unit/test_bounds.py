"""Each documented bound of an input event (schemas.bounds): just inside is accepted, just
outside is a dead letter whose reason names the field and the bound (DESIGN.md "Bounds")."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from pydantic import BaseModel

from schemas import FeedbackEvent, OrderEvent
from schemas.bounds import MAX_AMOUNT, MAX_DECIMAL_PLACES, MAX_ID_LENGTH, money_problem
from schemas.profile import CustomerProfile
from streams.pipeline.decode import RecordOrigin, decode

ORIGIN = RecordOrigin(topic="orders", partition=0, offset=7)
NOW = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)

ORDER: dict[str, Any] = {
    "event_id": "e1",
    "order_id": "o1",
    "customer_id": "c1",
    "occurred_at": "2026-01-10T10:00:00Z",
    "amount": "100",
}
FEEDBACK: dict[str, Any] = {
    "event_id": "f1",
    "customer_id": "c1",
    "occurred_at": "2026-01-10T10:00:00Z",
    "kind": "csat",
    "score": 3,
}
PROFILE: dict[str, Any] = {"customer_id": "c1", "account_manager": {"id": "am-1", "name": "Sam"}}

SMALLEST_STEP = "0." + "0" * (MAX_DECIMAL_PLACES - 1) + "1"  # 10^-18, the finest amount


def _with(base: dict[str, Any], **changes: Any) -> dict[str, Any]:
    record = dict(base)
    for name, value in changes.items():
        if name == "manager":
            record["account_manager"] = {**record["account_manager"], **value}
        else:
            record[name] = value
    return record


# (model, record) pairs exactly at, or just inside, a bound.
INSIDE: dict[str, tuple[type[BaseModel], dict[str, Any]]] = {
    "amount at 10^12": (OrderEvent, _with(ORDER, amount="1000000000000")),
    "amount at 10^12 as a JSON number": (OrderEvent, _with(ORDER, amount=10**12)),
    "amount of the finest step": (OrderEvent, _with(ORDER, amount=SMALLEST_STEP)),
    "amount with 18 decimal places": (OrderEvent, _with(ORDER, amount="1" + SMALLEST_STEP[1:])),
    "amount with trailing zeros past 18 places": (OrderEvent, _with(ORDER, amount="1." + "0" * 30)),
    "amount 0 (a free purchase)": (OrderEvent, _with(ORDER, amount="0")),
    "amount -0": (OrderEvent, _with(ORDER, amount="-0")),
    "amount 0 of a refund": (OrderEvent, _with(ORDER, amount="0", kind="refund")),
    "margin 0": (OrderEvent, _with(ORDER, margin="0")),
    "margin at 10^12": (OrderEvent, _with(ORDER, margin="1000000000000")),
    "occurred_at at 1970": (OrderEvent, _with(ORDER, occurred_at="1970-01-01T00:00:00Z")),
    "occurred_at just before 2100": (
        OrderEvent,
        _with(ORDER, occurred_at="2099-12-31T23:59:59.999999Z"),
    ),
    "occurred_at at 1970 in UTC though 1969 locally": (
        OrderEvent,
        _with(ORDER, occurred_at="1969-12-31T23:00:00-01:00"),
    ),
    "event_id of 200 characters": (OrderEvent, _with(ORDER, event_id="e" * MAX_ID_LENGTH)),
    "order_id of 200 characters": (OrderEvent, _with(ORDER, order_id="o" * MAX_ID_LENGTH)),
    "customer_id of 200 non-ASCII characters": (
        OrderEvent,
        _with(ORDER, customer_id="é" * MAX_ID_LENGTH),
    ),
    "csat 1": (FeedbackEvent, _with(FEEDBACK, score=1)),
    "csat 5": (FeedbackEvent, _with(FEEDBACK, score=5)),
    "nps 0": (FeedbackEvent, _with(FEEDBACK, kind="nps", score=0)),
    "nps 10": (FeedbackEvent, _with(FEEDBACK, kind="nps", score=10)),
    "complaint 1": (FeedbackEvent, _with(FEEDBACK, kind="complaint", score=1)),
    "complaint 3": (FeedbackEvent, _with(FEEDBACK, kind="complaint", score=3)),
    "feedback at 1970": (FeedbackEvent, _with(FEEDBACK, occurred_at="1970-01-01T00:00:00Z")),
    "profile customer_id of 200 characters": (
        CustomerProfile,
        _with(PROFILE, customer_id="c" * MAX_ID_LENGTH),
    ),
    "account manager id of 200 characters": (
        CustomerProfile,
        _with(PROFILE, manager={"id": "m" * MAX_ID_LENGTH}),
    ),
    "industry of 200 characters": (CustomerProfile, _with(PROFILE, industry="i" * 200)),
    "email of 254 characters": (
        CustomerProfile,
        _with(PROFILE, manager={"email": "a" * 244 + "@b.example"}),
    ),
}

# (model, record, words the reason must contain: the field and the bound).
OUTSIDE: dict[str, tuple[type[BaseModel], dict[str, Any], tuple[str, ...]]] = {
    "amount 1e1000000": (OrderEvent, _with(ORDER, amount="1e1000000"), ("amount", "1000000000000")),
    "amount Infinity as a bare JSON token": (
        OrderEvent,
        _with(ORDER, amount=float("inf")),  # json.dumps writes Infinity; see _raw
        ("amount",),
    ),
    "amount a step above 10^12": (
        OrderEvent,
        _with(ORDER, amount="1000000000000" + SMALLEST_STEP[1:]),
        ("amount", "1000000000000"),
    ),
    "amount a step below 0": (
        OrderEvent,
        _with(ORDER, amount="-" + SMALLEST_STEP),
        ("amount", "greater than or equal to 0"),
    ),
    "amount NaN": (OrderEvent, _with(ORDER, amount="NaN"), ("amount", "finite")),
    "amount Infinity": (OrderEvent, _with(ORDER, amount="Infinity"), ("amount", "finite")),
    "amount with 19 decimal places": (
        OrderEvent,
        _with(ORDER, amount="1.0" + SMALLEST_STEP[2:]),
        ("amount", "18 decimal places"),
    ),
    "amount 1e-1000000000": (
        OrderEvent,
        _with(ORDER, amount="1e-1000000000"),
        ("amount", "18 decimal places"),
    ),
    "margin below 0": (
        OrderEvent,
        _with(ORDER, margin="-" + SMALLEST_STEP),
        ("margin", "greater than or equal to 0"),
    ),
    "margin above 10^12": (
        OrderEvent,
        _with(ORDER, margin="1000000000001"),
        ("margin", "1000000000000"),
    ),
    "occurred_at just before 1970": (
        OrderEvent,
        _with(ORDER, occurred_at="1969-12-31T23:59:59.999999Z"),
        ("occurred_at", "1970-01-01", "2100-01-01"),
    ),
    "occurred_at at 2100": (
        OrderEvent,
        _with(ORDER, occurred_at="2100-01-01T00:00:00Z"),
        ("occurred_at", "2100-01-01"),
    ),
    "occurred_at in 2100 in UTC though 2099 locally": (
        OrderEvent,
        _with(ORDER, occurred_at="2099-12-31T23:00:00-01:00"),
        ("occurred_at", "2100-01-01"),
    ),
    "occurred_at in year 1": (
        OrderEvent,
        _with(ORDER, occurred_at="0001-01-01T00:00:00+05:00"),
        ("occurred_at", "1970-01-01"),
    ),
    "occurred_at in year 9999": (
        OrderEvent,
        _with(ORDER, occurred_at="9999-12-31T23:59:59-05:00"),
        ("occurred_at", "2100-01-01"),
    ),
    "occurred_at without a zone": (
        OrderEvent,
        _with(ORDER, occurred_at="2026-01-10T10:00:00"),
        ("occurred_at", "timezone"),
    ),
    "event_id of 201 characters": (
        OrderEvent,
        _with(ORDER, event_id="e" * (MAX_ID_LENGTH + 1)),
        ("event_id", "200"),
    ),
    "order_id empty": (OrderEvent, _with(ORDER, order_id=""), ("order_id", "1 character")),
    "customer_id of 10,000 characters": (
        OrderEvent,
        _with(ORDER, customer_id="c" * 10_000),
        ("customer_id", "200"),
    ),
    "csat 0": (FeedbackEvent, _with(FEEDBACK, score=0), ("csat score", "1..5")),
    "csat 6": (FeedbackEvent, _with(FEEDBACK, score=6), ("csat score", "1..5")),
    "nps -1": (FeedbackEvent, _with(FEEDBACK, kind="nps", score=-1), ("score", "0")),
    "nps 11": (FeedbackEvent, _with(FEEDBACK, kind="nps", score=11), ("score", "10")),
    "complaint 0": (
        FeedbackEvent,
        _with(FEEDBACK, kind="complaint", score=0),
        ("complaint score", "1..3"),
    ),
    "complaint 4": (
        FeedbackEvent,
        _with(FEEDBACK, kind="complaint", score=4),
        ("complaint score", "1..3"),
    ),
    "score 10^30": (FeedbackEvent, _with(FEEDBACK, score=10**30), ("score",)),
    "feedback in 2100": (
        FeedbackEvent,
        _with(FEEDBACK, occurred_at="2100-01-01T00:00:00Z"),
        ("occurred_at", "2100-01-01"),
    ),
    "feedback event_id of 201 characters": (
        FeedbackEvent,
        _with(FEEDBACK, event_id="f" * (MAX_ID_LENGTH + 1)),
        ("event_id", "200"),
    ),
    "profile customer_id of 201 characters": (
        CustomerProfile,
        _with(PROFILE, customer_id="c" * (MAX_ID_LENGTH + 1)),
        ("customer_id", "200"),
    ),
    "account manager id of 201 characters": (
        CustomerProfile,
        _with(PROFILE, manager={"id": "m" * (MAX_ID_LENGTH + 1)}),
        ("account_manager.id", "200"),
    ),
    "region of 201 characters": (
        CustomerProfile,
        _with(PROFILE, region="r" * 201),
        ("region", "200"),
    ),
    "email of 255 characters": (
        CustomerProfile,
        _with(PROFILE, manager={"email": "a" * 245 + "@b.example"}),
        ("account_manager.email", "254"),
    ),
}


def _raw(record: dict[str, Any]) -> bytes:
    # allow_nan: json.dumps writes float('inf') as the bare token Infinity, which is what a
    # hostile producer would send; pydantic's JSON parser refuses it as not finite.
    return json.dumps(record, allow_nan=True).encode()


@pytest.mark.parametrize("case", sorted(INSIDE))
def test_value_at_or_just_inside_a_bound_is_accepted(case: str) -> None:
    model, record = INSIDE[case]
    decoded = decode(model, None, _raw(record), ORIGIN, NOW)
    assert decoded.dead_letter is None, decoded.dead_letter
    assert decoded.event is not None


@pytest.mark.parametrize("case", sorted(OUTSIDE))
def test_value_just_outside_a_bound_is_a_dead_letter_naming_field_and_bound(case: str) -> None:
    model, record, words = OUTSIDE[case]
    decoded = decode(model, None, _raw(record), ORIGIN, NOW)
    assert decoded.event is None
    assert decoded.dead_letter is not None
    assert decoded.dead_letter.error_type in {"schema_invalid", "json_invalid"}
    for word in words:
        assert word in decoded.dead_letter.reason, (word, decoded.dead_letter.reason)


def test_out_of_range_values_are_schema_invalid_not_json_invalid() -> None:
    """The runbook tells a producer's bug (schema_invalid) from broken bytes (json_invalid)."""
    decoded = decode(OrderEvent, None, _raw(_with(ORDER, amount="1e1000000")), ORIGIN, NOW)
    assert decoded.dead_letter is not None
    assert decoded.dead_letter.error_type == "schema_invalid"


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("1000000000000", None),
        ("1000000000000.5", "must be at most 1000000000000 (10^12)"),
        ("1e1000000", "must be at most 1000000000000 (10^12)"),
        ("0", None),
        ("-0.01", "must be at least 0"),
        ("NaN", "is not a finite number"),
        ("1.5" + "0" * 40, None),
        ("1." + "0" * 18 + "1", "has more than 18 decimal places"),
        ("1e-1000000000", "has more than 18 decimal places"),
    ],
)
def test_money_problem_agrees_with_the_model_bounds(text: str, problem: str | None) -> None:
    """The CSV reader's check (money_problem) gives the same verdict as the model's margin."""
    assert money_problem(Decimal(text)) == problem
    decoded = decode(OrderEvent, None, _raw(_with(ORDER, margin=text)), ORIGIN, NOW)
    assert (decoded.dead_letter is None) == (problem is None)


def test_amount_1e1000000_as_a_json_number_is_a_dead_letter() -> None:
    raw = _raw(ORDER).replace(b'"amount": "100"', b'"amount": 1e1000000')
    decoded = decode(OrderEvent, None, raw, ORIGIN, NOW)
    assert decoded.dead_letter is not None
    assert decoded.dead_letter.reason.startswith("amount: ")


def test_max_amount_is_ten_to_the_twelfth() -> None:
    assert MAX_AMOUNT == 10**12


def test_a_zero_amount_purchase_is_a_valid_order_event() -> None:
    """A free sample or fully discounted order is a purchase (DESIGN.md, Events), not a
    dead letter."""
    event = OrderEvent.model_validate_json(_raw(_with(ORDER, amount="0", margin="0")))
    assert (event.kind.value, event.amount, event.margin) == ("purchase", Decimal(0), Decimal(0))


def test_a_negative_amount_is_refused_naming_the_amount_field() -> None:
    decoded = decode(OrderEvent, None, _raw(_with(ORDER, amount="-1")), ORIGIN, NOW)
    assert decoded.dead_letter is not None
    assert decoded.dead_letter.reason.startswith("amount: ")
