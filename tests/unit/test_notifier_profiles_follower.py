"""The profiles follower is supervised: an error restarts it (counted, shown in readiness),
the record that failed is applied again, and no tombstone key can kill it.

The consumer is a scripted stand-in with aiokafka's three calls the follower uses
(`getmany`, `seek`), so a failure can be placed exactly; the real topic is exercised by the
integration tests.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from prometheus_client import CollectorRegistry

from schemas.profile import AccountManager, CustomerProfile
from streams.metrics import NotifierMetrics
from streams.notifier.health import HealthReport
from streams.notifier.profiles import ProfileDirectory
from streams.notifier.service import Notifier
from streams.settings import Settings, TopicSettings
from tiering import default_policy

TP = ("t-customers", 0)


@dataclass(frozen=True)
class _Record:
    key: bytes | None
    value: bytes | None
    offset: int
    timestamp: int = 0


class _ScriptedConsumer:
    """Hands out the records from the current position; raises on the listed polls."""

    def __init__(self, records: list[tuple[bytes | None, bytes | None]], fail_polls: set[int]):
        self.records = [_Record(key, value, n) for n, (key, value) in enumerate(records)]
        self.position = 0
        self.polls = 0
        self.fail_polls = fail_polls

    async def getmany(self, timeout_ms: int) -> dict[Any, list[_Record]]:
        self.polls += 1
        await asyncio.sleep(0)
        if self.polls in self.fail_polls:
            raise ConnectionError("broker connection lost")
        batch = self.records[self.position :]
        self.position = len(self.records)
        return {TP: batch} if batch else {}

    def seek(self, tp: Any, offset: int) -> None:
        assert tp == TP
        self.position = offset


class _FastClock:
    """Sleeps yield only, and record what readiness said at each wait."""

    def __init__(self) -> None:
        self.reports: list[HealthReport] = []
        self.report: Callable[[], HealthReport] | None = None

    def time(self) -> float:
        return 0.0

    def monotonic(self) -> float:
        return 0.0

    async def sleep(self, seconds: float) -> None:
        if self.report is not None:
            self.reports.append(self.report())
        await asyncio.sleep(0)


def _profile(customer: str) -> tuple[bytes, bytes]:
    manager = AccountManager(id="m-1", name="Ada")
    value = CustomerProfile(customer_id=customer, account_manager=manager).model_dump_json()
    return customer.encode(), value.encode()


def _notifier() -> tuple[Notifier, _FastClock]:
    clock = _FastClock()
    settings = Settings(topics=TopicSettings(tier_changes="t-tier-changes", customers=TP[0]))
    notifier = Notifier(settings, default_policy(), CollectorRegistry(), clock=clock)
    clock.report = notifier.health_report
    return notifier, clock


async def _until(condition: Callable[[], bool]) -> None:
    async with asyncio.timeout(5):
        while not condition():
            await asyncio.sleep(0.001)


async def _follow(
    notifier: Notifier, consumer: _ScriptedConsumer, done: Callable[[], bool]
) -> None:
    task = asyncio.create_task(notifier.follow_profiles(consumer))  # type: ignore[arg-type]
    try:
        await _until(lambda: done() or task.done())
        assert not task.done(), "the follower ended instead of restarting"
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


def _restarts(notifier: Notifier) -> float:
    value = notifier.registry.get_sample_value(
        "tierstream_notifier_task_restarts_total", {"task": "profiles"}
    )
    assert value is not None
    return value


async def test_the_follower_restarts_after_an_error_counts_it_and_readiness_says_so() -> None:
    notifier, clock = _notifier()
    notifier.health.resolved("startup")
    notifier.health.beat()
    consumer = _ScriptedConsumer([_profile("c-1")], fail_polls={1})
    await _follow(notifier, consumer, lambda: "c-1" in notifier.profiles.managers)
    await _until(lambda: not notifier.health.has_problem("profiles"))
    assert _restarts(notifier) == 1
    (during,) = clock.reports
    assert not during.ready
    assert "restarting after ConnectionError" in during.problems["profiles"]
    assert notifier.health_report().ready


async def test_an_erase_that_fails_is_applied_again_after_the_restart() -> None:
    notifier, _ = _notifier()
    erased: list[str] = []
    failures = [RuntimeError("read model write failed")]

    async def erase(customer: str) -> None:
        if failures:
            raise failures.pop()
        erased.append(customer)

    notifier.profiles = ProfileDirectory(TP[0], notifier.metrics, on_erase=erase)
    records = [_profile("c-1"), (b"c-1", None), _profile("c-2")]
    consumer = _ScriptedConsumer(records, fail_polls=set())
    await _follow(notifier, consumer, lambda: "c-2" in notifier.profiles.managers)
    assert erased == ["c-1"]
    assert "c-1" not in notifier.profiles.managers
    assert _restarts(notifier) == 1


async def test_a_tombstone_whose_key_is_not_utf8_counts_invalid_and_erases_nothing() -> None:
    registry = CollectorRegistry()
    erased: list[str] = []

    async def erase(customer: str) -> None:
        erased.append(customer)

    on_erase: Callable[[str], Awaitable[object]] = erase
    directory = ProfileDirectory(TP[0], NotifierMetrics.create(registry), on_erase=on_erase)
    await directory.apply(b"\xff\xfe", None)
    await directory.apply(None, None)
    invalid = registry.get_sample_value(
        "tierstream_notifier_records_total", {"topic": TP[0], "outcome": "invalid"}
    )
    assert invalid == 2
    assert erased == []
