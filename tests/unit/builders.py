"""Small builders that keep the tiering tests readable."""

from __future__ import annotations

import itertools
import zlib
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from schemas import FeedbackEvent, FeedbackKind, OrderEvent, OrderKind
from schemas.profile import ProfileDimensions
from tiering import CustomerState, Policy, apply, default_policy

# All tests evaluate at the end of 2026-01-31 unless they say otherwise.
AS_OF = datetime(2026, 1, 31, 23, 59, 59, 999999, tzinfo=UTC)
POLICY: Policy = default_policy()
_ids = itertools.count()


def days_before(days: float, as_of: datetime = AS_OF) -> datetime:
    """The instant `days` days before as_of."""
    return as_of - timedelta(days=days)


def purchase(
    at: datetime,
    amount: str = "100",
    *,
    customer: str = "c1",
    order_id: str | None = None,
    margin: str | None = None,
) -> OrderEvent:
    """A purchase event."""
    number = next(_ids)
    return OrderEvent(
        event_id=f"e{number}",
        order_id=order_id or f"o{number}",
        customer_id=customer,
        occurred_at=at,
        amount=Decimal(amount),
        margin=None if margin is None else Decimal(margin),
    )


def refund(
    at: datetime,
    amount: str,
    *,
    order_id: str = "o-any",
    customer: str = "c1",
    kind: str = "refund",
) -> OrderEvent:
    """A refund (or cancel) event."""
    return OrderEvent(
        event_id=f"e{next(_ids)}",
        order_id=order_id,
        customer_id=customer,
        occurred_at=at,
        amount=Decimal(amount),
        kind=OrderKind(kind),
    )


def feedback(
    at: datetime, kind: str, score: int | None = None, *, customer: str = "c1"
) -> FeedbackEvent:
    """A feedback event."""
    return FeedbackEvent(
        event_id=f"e{next(_ids)}",
        customer_id=customer,
        occurred_at=at,
        kind=FeedbackKind(kind),
        score=score,
    )


def state_of(
    events: Iterable[OrderEvent | FeedbackEvent], policy: Policy = POLICY
) -> CustomerState:
    """The state after applying events in the given order."""
    state: CustomerState | None = None
    for event in events:
        state = apply(state, event, policy).state
    assert state is not None
    return state


REGIONS = ("emea", "amer", "apac")


def regional_profiles(customer_ids: Iterable[str]) -> dict[str, ProfileDimensions]:
    """A stable profile per customer (by a hash of its id): eight in ten in one of REGIONS,
    one in ten with a profile but no region, one in ten with no profile at all."""
    profiles = {}
    for customer_id in customer_ids:
        bucket = zlib.crc32(customer_id.encode()) % 10
        if bucket == 0:
            continue  # no profile: ranked with the customers without a region
        region = None if bucket == 1 else REGIONS[bucket % len(REGIONS)]
        profiles[customer_id] = ProfileDimensions(industry="retail", region=region)
    return profiles
