"""Epochs of stream time: the instants at which classifications are made.

Boundaries are whole multiples of `epoch_seconds` since the Unix epoch (UTC), so every
partition and every worker agrees on them without talking. A partition *closes* boundary E
when its stream time passes E (strictly: an event at exactly E still belongs to the window
ending at E, which is half-open on the left and closed on the right).

A partition closes only the boundaries at which something of its own can change (see
`streams.pipeline.measure_stage`); the clock only says which boundaries stream time has
passed and which one was handled last (`closed_through`: every boundary up to it is either
closed or known to change nothing), so a jump of any length costs nothing per epoch.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

__all__ = ["EpochClock", "boundary_at_or_after", "boundary_at_or_before", "boundary_before"]

_UNIX_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _iso(instant: datetime | None) -> str | None:
    return None if instant is None else instant.isoformat()


def _parse(text: object) -> datetime | None:
    return None if text is None else datetime.fromisoformat(str(text))


def boundary_at_or_before(instant: datetime, epoch_seconds: int) -> datetime:
    """The latest boundary ≤ instant."""
    elapsed = (instant - _UNIX_EPOCH) // timedelta(seconds=epoch_seconds)
    return _UNIX_EPOCH + timedelta(seconds=elapsed * epoch_seconds)


def boundary_before(instant: datetime, epoch_seconds: int) -> datetime:
    """The latest boundary < instant: the last one stream time at `instant` has passed."""
    start = boundary_at_or_before(instant, epoch_seconds)
    return start - timedelta(seconds=epoch_seconds) if start == instant else start


def boundary_at_or_after(instant: datetime, epoch_seconds: int) -> datetime:
    """The earliest boundary ≥ instant: the one whose window holds `instant`."""
    start = boundary_at_or_before(instant, epoch_seconds)
    return start if start == instant else start + timedelta(seconds=epoch_seconds)


@dataclass(frozen=True, slots=True)
class EpochClock:
    """Stream time of one partition and the last boundary it has handled.

    Stream time only moves forward: a late event (older than stream time) is applied to the
    state but does not move the clock. Invariant once started: `closed_through` is the last
    boundary before stream time, or an earlier one while `PartitionMeasurer.advance` is
    closing boundaries.
    """

    epoch_seconds: int
    stream_time: datetime | None = None
    closed_through: datetime | None = None
    started_through: datetime | None = None

    @property
    def step(self) -> timedelta:
        """One epoch."""
        return timedelta(seconds=self.epoch_seconds)

    @property
    def first_boundary(self) -> datetime | None:
        """The first boundary this clock may close (None before the first observation)."""
        if self.started_through is None:
            return None
        return self.started_through + self.step

    @property
    def next_boundary(self) -> datetime | None:
        """The first boundary not yet handled (None before the first observation)."""
        if self.closed_through is None:
            return None
        return self.closed_through + self.step

    def to_json(self) -> dict[str, object]:
        """The clock as JSON-ready data (for the worker's progress checkpoint)."""
        return {
            "epoch_seconds": self.epoch_seconds,
            "stream_time": _iso(self.stream_time),
            "closed_through": _iso(self.closed_through),
            "started_through": _iso(self.started_through),
        }

    @staticmethod
    def from_json(data: dict[str, object]) -> EpochClock:
        """Inverse of `to_json`."""
        epoch_seconds = data["epoch_seconds"]
        assert isinstance(epoch_seconds, int)
        return EpochClock(
            epoch_seconds,
            _parse(data.get("stream_time")),
            _parse(data.get("closed_through")),
            _parse(data.get("started_through")),
        )

    def observe(self, instant: datetime) -> EpochClock:
        """Move stream time to `instant` if later; `closed_through` stays where it is.

        A first observation starts the clock with every boundary before it handled: there is
        no history before it.
        """
        if self.stream_time is not None and instant <= self.stream_time:
            return self
        if self.stream_time is None:
            start = boundary_before(instant, self.epoch_seconds)
            return replace(self, stream_time=instant, closed_through=start, started_through=start)
        return replace(self, stream_time=instant)

    @property
    def passed_through(self) -> datetime | None:
        """The last boundary stream time has passed (None before the first observation)."""
        if self.stream_time is None:
            return None
        return boundary_before(self.stream_time, self.epoch_seconds)

    def closed(self, boundary: datetime) -> EpochClock:
        """The clock once every boundary up to `boundary` is handled."""
        return replace(self, closed_through=boundary)
