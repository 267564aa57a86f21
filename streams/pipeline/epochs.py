"""Epochs of stream time: the instants at which classifications are made.

Boundaries are whole multiples of `epoch_seconds` since the Unix epoch (UTC), so every
partition and every worker agrees on them without talking. A partition *closes* boundary E
when its stream time passes E (strictly: an event at exactly E still belongs to the window
ending at E, which is half-open on the left and closed on the right).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

__all__ = ["EpochClock", "boundary_at_or_before"]

_UNIX_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _iso(instant: datetime | None) -> str | None:
    return None if instant is None else instant.isoformat()


def _parse(text: object) -> datetime | None:
    return None if text is None else datetime.fromisoformat(str(text))


def boundary_at_or_before(instant: datetime, epoch_seconds: int) -> datetime:
    """The latest boundary ≤ instant."""
    elapsed = int((instant - _UNIX_EPOCH).total_seconds() // epoch_seconds)
    return _UNIX_EPOCH + timedelta(seconds=elapsed * epoch_seconds)


@dataclass(frozen=True, slots=True)
class EpochClock:
    """Stream time of one partition and the last boundary it closed.

    Stream time only moves forward: a late event (older than stream time) is applied to the
    state but does not move the clock.
    """

    epoch_seconds: int
    stream_time: datetime | None = None
    closed_through: datetime | None = None
    started_through: datetime | None = None

    @property
    def first_boundary(self) -> datetime | None:
        """The first boundary this clock closes (None before the first observation)."""
        if self.started_through is None:
            return None
        return self.started_through + timedelta(seconds=self.epoch_seconds)

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

    def advance(
        self, instant: datetime, max_boundaries: int = 10_000
    ) -> tuple[EpochClock, list[datetime]]:
        """Move stream time to `instant` if later; return the new clock and the boundaries closed.

        Every boundary strictly between the last closed one and the new stream time is closed,
        in order, so that all partitions publish a summary for the same boundaries. A first
        observation closes nothing: there is no history before it.
        """
        if self.stream_time is not None and instant <= self.stream_time:
            return self, []
        if self.stream_time is None:
            start = boundary_at_or_before(instant, self.epoch_seconds)
            if start == instant:
                start -= timedelta(seconds=self.epoch_seconds)
            return replace(
                self, stream_time=instant, closed_through=start, started_through=start
            ), []
        step = timedelta(seconds=self.epoch_seconds)
        assert self.closed_through is not None
        closed: list[datetime] = []
        boundary = self.closed_through + step
        while boundary < instant:
            closed.append(boundary)
            if len(closed) > max_boundaries:
                raise OverflowError(
                    f"stream time jumped more than {max_boundaries} epochs; raise epoch_seconds"
                )
            boundary += step
        last_closed = closed[-1] if closed else self.closed_through
        return replace(self, stream_time=instant, closed_through=last_closed), closed
