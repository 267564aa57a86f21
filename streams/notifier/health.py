"""The notifier's health, and waiting out a Redis outage instead of crashing.

- Liveness: still starting, or the consume loop went round within `health_window_seconds`
  (default 60 s). A loop that waits for Redis on purpose still goes round (it beats while
  it waits), so a Redis outage does not get the process restarted: a restart cannot bring
  Redis back.
- Readiness: live, started, and no open problem. Each problem is one short sentence per
  component (`redis`, `profiles`), with no customer data, shown by `/healthz` and `/readyz`.

`RedisGuard.call` retries a Redis operation until it succeeds, so an outage delays alerts
and loses none: the offsets of records waiting on it are not committed meanwhile.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, TypeVar

from streams.notifier.exceptions import NotifierError

if TYPE_CHECKING:
    from streams.notifier.delivery import Clock

__all__ = ["Health", "HealthReport", "RedisGuard", "Stopping"]

T = TypeVar("T")

log = logging.getLogger(__name__)

# Waits between Redis retries: 0.1 s doubling up to 2 s, so a recovered Redis is used again
# within about 2 s and a long outage costs one connection attempt every 2 s.
_FIRST_WAIT = 0.1
_MAX_WAIT = 2.0


class Stopping(NotifierError):
    """The process is stopping while an operation still waits for Redis (not an error)."""


@dataclass(frozen=True, slots=True)
class HealthReport:
    """What `/healthz` and `/readyz` answer."""

    live: bool
    ready: bool
    problems: dict[str, str] = field(default_factory=dict)

    def body(self) -> dict[str, object]:
        """The JSON body: a status word and the open problems."""
        status = "ok" if self.ready else "degraded" if self.live else "stalled"
        return {"status": status, "problems": dict(self.problems)}


class Health:
    """Heartbeat of the consume loop plus the open problems by component."""

    def __init__(self, monotonic: Callable[[], float], window_seconds: float) -> None:
        self._monotonic = monotonic
        self._window = window_seconds
        self._last_beat = -math.inf
        self._problems: dict[str, str] = {"startup": "starting: reading the customers topic"}

    def beat(self) -> None:
        """The consume loop is making progress (or waiting on purpose)."""
        self._last_beat = self._monotonic()

    def live(self) -> bool:
        """Whether the loop beat within the window, or has not started yet: a slow start
        (topics, a long profile load) must not get the process restarted; only a loop that
        ran and then stalled asks for that."""
        return self._last_beat == -math.inf or self.running()

    def running(self) -> bool:
        """Whether the loop has started and beat within the window."""
        return self._monotonic() - self._last_beat < self._window

    def problem(self, component: str, reason: str) -> None:
        """Open (or replace) the problem of `component`; `reason` holds no customer data."""
        self._problems[component] = reason

    def resolved(self, component: str) -> None:
        """Close the problem of `component`, if any."""
        self._problems.pop(component, None)

    def has_problem(self, component: str) -> bool:
        """Whether `component` has an open problem."""
        return component in self._problems

    def report(self) -> HealthReport:
        """Liveness, readiness and the problems, now."""
        live = self.live()
        return HealthReport(live, live and not self._problems, dict(self._problems))


class RedisGuard:
    """Runs Redis operations, retrying through an outage and reporting it in `Health`."""

    def __init__(
        self,
        health: Health,
        clock: Clock,
        is_stopping: Callable[[], bool] = lambda: False,
        on_outage: Callable[[bool], None] | None = None,
    ) -> None:
        self._health = health
        self._clock = clock
        self._is_stopping = is_stopping
        self._on_outage = on_outage

    async def call(self, operation: Callable[[], Awaitable[T]], *, beat: bool = False) -> T:
        """`await operation()` until it does not raise a Redis or connection error.

        `beat`: the caller is the consume loop, which is alive while it waits. Raises
        `Stopping` when the process stops during the outage.
        """
        from redis.exceptions import RedisError

        from streams.notifier.keys import explain_redis_error

        wait = _FIRST_WAIT
        while True:
            try:
                result = await operation()
            except (RedisError, OSError) as error:
                if not self._health.has_problem("redis"):
                    since = datetime.now(UTC).isoformat(timespec="seconds")
                    # A refused password or certificate does not heal by waiting: say which
                    # setting to fix (a rotated password may still be fixed on the server).
                    why = type(error).__name__
                    if _is_configuration(error):
                        why = f"{why}: {explain_redis_error(error)}"
                    self._health.problem(
                        "redis",
                        f"Redis unreachable since {since} ({why}); alerts "
                        "wait and are sent once it answers",
                    )
                    log.warning("Redis unreachable (%s); waiting for it", why)
                    if self._on_outage is not None:
                        self._on_outage(True)
                if self._is_stopping():
                    raise Stopping("stopping while Redis is unreachable") from error
                if beat:
                    self._health.beat()
                await self._clock.sleep(wait)
                wait = min(_MAX_WAIT, wait * 2)
                continue
            if self._health.has_problem("redis"):
                log.info("Redis answers again")
                self._health.resolved("redis")
                if self._on_outage is not None:
                    self._on_outage(False)
            return result


def _is_configuration(error: BaseException) -> bool:
    """Whether a Redis error means wrong credentials, rights or CA rather than an outage."""
    from redis.exceptions import AuthenticationError, NoPermissionError

    if isinstance(error, AuthenticationError | NoPermissionError):
        return True
    return "certificate verify failed" in str(error).lower()
