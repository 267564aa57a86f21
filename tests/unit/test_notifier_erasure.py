"""The notifier's in-memory side of an erase request: queued alerts of the customer go and
their records count as done; TierChanged records written before the tombstone are known."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, cast

from prometheus_client import CollectorRegistry

from streams.metrics import NotifierMetrics
from streams.notifier.delivery import Deliverer, PendingAlert
from streams.notifier.dispatch import Dispatcher
from streams.notifier.pacing import TokenBucket
from streams.notifier.profiles import ProfileDirectory
from streams.notifier.routing import Recipient, RouteSource
from streams.notifier.rules import Alert, decide
from streams.notifier.testing import classification, tier_changed
from tiering import default_policy

ERASED, KEPT = "c-erased", "c-kept"
PARTITION = ("t-tier-changes", 0)


def _alert(customer: str, day: int) -> Alert:
    event = tier_changed(
        customer,
        classification("B"),
        classification("A"),
        occurred_at=datetime(2026, 3, day, tzinfo=UTC),
    )
    alert = decide(event, default_policy())
    assert alert is not None
    return alert


def _dispatcher_with_queued(customers: list[str]) -> Dispatcher:
    registry = CollectorRegistry()
    dispatcher = Dispatcher(
        cast(Deliverer, None),  # never reached: nothing is flushed
        [],
        NotifierMetrics.create(registry),
        lambda: TokenBucket(1, 1.0),
        10,
    )
    recipient = Recipient("m-1", None, None, None, RouteSource.DEFAULT)
    for offset, customer in enumerate(customers):
        dispatcher.enqueue(
            PendingAlert(_alert(customer, offset + 1), recipient, 0.0, PARTITION, offset)
        )
        dispatcher.offsets.consumed(PARTITION, offset)
    return dispatcher


def test_dropping_an_erased_customer_releases_its_queued_alerts_offsets() -> None:
    dispatcher = _dispatcher_with_queued([ERASED, KEPT, ERASED])
    assert dispatcher.offsets.safe() == {PARTITION: 0}
    assert dispatcher.drop_customer(ERASED) == 2
    # Only the kept customer's record (offset 1) still holds the commit back.
    assert dispatcher.offsets.safe() == {PARTITION: 1}
    assert dispatcher.offsets.held() == 1


def test_dropping_the_only_queued_customer_leaves_the_dispatcher_idle() -> None:
    dispatcher = _dispatcher_with_queued([ERASED])
    dispatcher.drop_customer(ERASED)
    assert dispatcher.idle()
    assert dispatcher.offsets.safe() == {PARTITION: 1}


async def test_records_written_up_to_the_tombstone_count_as_before_the_erase() -> None:
    directory = ProfileDirectory("t-customers", NotifierMetrics.create(CollectorRegistry()))
    await directory.apply(ERASED.encode(), None, timestamp=1_000)
    found: list[Any] = [
        directory.erased_after(ERASED, 999),
        directory.erased_after(ERASED, 1_000),
        directory.erased_after(ERASED, 1_001),
        directory.erased_after(KEPT, 999),
    ]
    assert found == [True, True, False, False]
