"""The notifier's probes: alive while it starts (a slow profile load must not get it killed),
ready only once its consumer loop runs, neither when the loop stalled for 60 s."""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry

from streams.notifier.service import Notifier
from streams.settings import Settings, TopicSettings
from tiering import default_policy


@dataclass
class ManualClock:
    """Monotonic seconds that move only when the test says so."""

    now: float = 1_000.0

    def time(self) -> float:
        return self.now

    def monotonic(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds


def _notifier(clock: ManualClock) -> Notifier:
    settings = Settings(topics=TopicSettings(tier_changes="t-tc", customers="t-c"))
    return Notifier(settings, default_policy(), CollectorRegistry(), clock)


def test_a_starting_notifier_is_alive_but_not_ready() -> None:
    clock = ManualClock()
    notifier = _notifier(clock)
    clock.now += 3_600  # an hour of loading profiles: still starting, not stalled
    report = notifier.health_report()
    assert report.live
    assert not report.ready


def test_a_notifier_whose_loop_runs_is_alive_and_ready() -> None:
    clock = ManualClock()
    notifier = _notifier(clock)
    notifier.health.beat()  # what one round of the consumer loop records
    notifier.health.resolved("startup")
    clock.now += 59
    report = notifier.health_report()
    assert report.live and report.ready


def test_a_notifier_whose_loop_stalled_for_60_seconds_is_neither() -> None:
    clock = ManualClock()
    notifier = _notifier(clock)
    notifier.health.beat()
    notifier.health.resolved("startup")
    clock.now += 60
    report = notifier.health_report()
    assert not report.live
    assert not report.ready
