"""What the worker's agents keep across a revocation: nothing taken before it.

After a revocation the consumer goes back to the committed offsets and delivers every
uncommitted record again, so an event, or a measurement held for its boundary's marker,
taken before the revocation must not be processed after it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from streams.worker.revocation_fence import RevocationFence
from streams.worker.stage_two import PendingMeasurements


@dataclass
class _Stream:
    """The part of a Faust noack stream `track_taken` uses: processors run as an event is
    taken, with `current_event` set to it."""

    current_event: Any = None
    processors: list[Any] = field(default_factory=list)

    def add_processor(self, processor: Any) -> None:
        self.processors.append(processor)

    def take(self, event: Any) -> Any:
        self.current_event = event
        for processor in self.processors:
            processor(b"value")
        return event


def test_an_event_taken_in_the_current_generation_is_processed() -> None:
    fence = RevocationFence(None)
    stream = _Stream()
    taken_now = fence.track_taken(stream)
    assert taken_now(stream.take(object()))


def test_an_event_taken_before_a_revocation_is_not_processed_after_it() -> None:
    fence = RevocationFence(None)
    stream = _Stream()
    taken_now = fence.track_taken(stream)
    event = stream.take(object())
    fence.generation += 1  # what the partitions-revoked handler does
    assert not taken_now(event)


def test_pending_measurements_are_taken_with_their_boundary_marker() -> None:
    pending = PendingMeasurements()
    pending.add(0, 2, ("m1", "e1"))
    pending.add(0, 2, ("m2", "e2"))
    pending.add(0, 3, ("other", "e3"))
    assert pending.take(0, 2) == [("m1", "e1"), ("m2", "e2")]
    assert pending.take(0, 2) == []


def test_measurements_held_before_a_revocation_do_not_join_a_redelivered_marker() -> None:
    pending = PendingMeasurements()
    # Taken before the revocation: a measurement of the boundary after the one whose
    # ranking the revocation aborted.
    pending.add(0, 2, ("next boundary", "e9"))
    # Delivered again after it: the aborted boundary's measurement, then its marker.
    pending.add(1, 2, ("aborted boundary", "e5"))
    assert pending.take(1, 2) == [("aborted boundary", "e5")]


def test_a_marker_after_a_revocation_takes_nothing_held_before_it() -> None:
    pending = PendingMeasurements()
    pending.add(0, 2, ("next boundary", "e9"))
    assert pending.take(1, 2) == []
