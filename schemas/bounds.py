"""The documented range of every numeric, time and id field of the input events.

DESIGN.md ("Events", "Bounds"): an event outside these ranges is a dead letter with the
reason, never an overflow later on. The models in `schemas.events` and `schemas.profile` and
the CSV reader (`streams.data.csv_input`) all take their limits from here.

Why these limits make the tiering arithmetic safe: `decimal`'s default context (28
significant digits, exponents up to 999999) traps only InvalidOperation, DivisionByZero and
Overflow. NaN and infinities are rejected, and a sum of n amounts of at most 10^12 is at most
n·10^12, far below 10^999999 for any n that fits in memory; scaling by a policy ratio (e.g.
growth × h1) adds a factor of a few. Rounding beyond 28 digits and underflow are flags, not
traps, so no accepted amount can raise. The cap on decimal places keeps a single amount
exact in that context and rejects absurd exponents such as `1E-1000000000`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime, Field
from pydantic_core import PydanticCustomError

__all__ = [
    "COMPLAINT_SEVERITY_RANGE",
    "CSAT_SCORE_RANGE",
    "EARLIEST_EVENT_TIME",
    "LATEST_EVENT_TIME",
    "MAX_AMOUNT",
    "MAX_DECIMAL_PLACES",
    "MAX_EMAIL_LENGTH",
    "MAX_ID_LENGTH",
    "MAX_TEXT_LENGTH",
    "MONEY_TEXT",
    "NPS_SCORE_RANGE",
    "EventId",
    "EventTime",
    "Money",
    "event_time_problem",
    "money_problem",
]

MAX_AMOUNT = Decimal(10) ** 12
"""Largest amount or margin of one event, in the event's currency (inclusive)."""

MAX_DECIMAL_PLACES = 18
"""Most digits after the decimal point of an amount or margin (18: the finest unit of any
currency in wide use, e.g. wei). With 13 integer digits an amount has at most 31 digits."""

EARLIEST_EVENT_TIME = datetime(1970, 1, 1, tzinfo=UTC)
"""Earliest accepted `occurred_at` (inclusive): the Unix epoch, where epoch boundaries start."""

LATEST_EVENT_TIME = datetime(2100, 1, 1, tzinfo=UTC)
"""First `occurred_at` no longer accepted (exclusive). Leaves room for window and due
arithmetic (instant + a few years) far below datetime's year-9999 limit."""

MAX_ID_LENGTH = 200
"""Most characters of an id (event, order, customer, account manager); at least 1."""

MAX_TEXT_LENGTH = 200
"""Most characters of a short text field of a profile (name, slack handle, industry, size,
region)."""

MAX_EMAIL_LENGTH = 254
"""Most characters of an e-mail address (RFC 5321 path limit minus the angle brackets)."""

CSAT_SCORE_RANGE = (1, 5)
"""Inclusive range of a csat score."""

NPS_SCORE_RANGE = (0, 10)
"""Inclusive range of an nps score."""

COMPLAINT_SEVERITY_RANGE = (1, 3)
"""Inclusive range of a complaint's severity (the score of a complaint; optional)."""


def money_problem(value: Decimal) -> str | None:
    """Why `value` is not an accepted amount/margin, or None when it is.

    Same rules as `Money`, for readers that build events by hand (CSV).
    """
    if not value.is_finite():
        return "is not a finite number"
    if value < 0:
        return "must be at least 0"
    if value > MAX_AMOUNT:
        return f"must be at most {MAX_AMOUNT:f} (10^12)"
    if _decimal_places(value) > MAX_DECIMAL_PLACES:
        return f"has more than {MAX_DECIMAL_PLACES} decimal places"
    return None


def _decimal_places(value: Decimal) -> int:
    """Digits after the point once trailing zeros are dropped (no context: never rounds)."""
    _, digits, exponent = value.as_tuple()
    assert isinstance(exponent, int)  # finite: checked by the caller
    significant = "".join(map(str, digits)).rstrip("0")
    if not significant:
        return 0
    return max(0, -(exponent + len(digits) - len(significant)))


def event_time_problem(value: datetime) -> str | None:
    """Why `value` is not an accepted `occurred_at`, or None when it is."""
    if value.tzinfo is None or value.utcoffset() is None:
        return "has no time zone"
    if not EARLIEST_EVENT_TIME <= value < LATEST_EVENT_TIME:
        return (
            f"must be at or after {EARLIEST_EVENT_TIME.isoformat()} "
            f"and before {LATEST_EVENT_TIME.isoformat()}"
        )
    return None


def _event_time(value: datetime) -> datetime:
    problem = event_time_problem(value)
    if problem is not None:
        raise PydanticCustomError("event_time_range", "{problem}", {"problem": problem})
    return value


MONEY_TEXT = (
    f"at most {MAX_AMOUNT:f} (10^12) in the event's currency, "
    f"at most {MAX_DECIMAL_PLACES} decimal places"
)
"""The bounds of an amount or margin in words, for field descriptions (JSON Schema)."""

Money = Annotated[
    Decimal,
    Field(
        ge=0,
        le=MAX_AMOUNT,
        allow_inf_nan=False,
        decimal_places=MAX_DECIMAL_PLACES,
    ),
]
"""An amount or margin: 0 <= x <= 10^12 (no description here: each field describes itself,
which keeps an optional field's JSON Schema flat).

0 is a real amount, not a missing one: a free sample, a fully discounted order or a
replacement is a purchase (DESIGN.md, Events) and a zero refund changes nothing. Nothing in
`tiering/` divides by an amount, so 0 is safe for every kind."""

EventTime = Annotated[
    AwareDatetime,
    AfterValidator(_event_time),
    Field(
        description=(
            f"RFC 3339 with a time zone, at or after {EARLIEST_EVENT_TIME.isoformat()} "
            f"and before {LATEST_EVENT_TIME.isoformat()}"
        )
    ),
]
"""An event time with a zone inside [EARLIEST_EVENT_TIME, LATEST_EVENT_TIME)."""

EventId = Annotated[str, Field(min_length=1, max_length=MAX_ID_LENGTH)]
"""An id: 1 to MAX_ID_LENGTH characters."""
