"""Turn a raw Kafka record into a validated event, or into a dead letter saying why not.

Never raises for bad input: a worker that meets a malformed record must keep going, and the
record must not be lost (DESIGN.md: bad input goes to `tierstream-dlq` with the original
bytes, its topic/partition/offset and the reason).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Generic, TypeVar

from pydantic import BaseModel, ValidationError

from schemas.dead_letter import DeadLetter

__all__ = ["KEY_MISMATCH", "KEY_MISSING", "Decoded", "RecordOrigin", "decode", "rejected"]

# Dead-letter error types for records whose key is wrong (streams.worker.observe lists every type):
# a key that is not the record's customer_id, and a tombstone with no key to erase.
KEY_MISMATCH = "key_mismatch"
KEY_MISSING = "key_missing"

EventT = TypeVar("EventT", bound=BaseModel)

# Long validation messages are cut so that one bad record cannot make a huge DLQ entry.
_MAX_REASON_CHARS = 1_000


@dataclass(frozen=True, slots=True)
class RecordOrigin:
    """Where a record was read."""

    topic: str
    partition: int
    offset: int


@dataclass(frozen=True, slots=True)
class Decoded(Generic[EventT]):
    """Exactly one of `event` and `dead_letter` is set."""

    event: EventT | None
    dead_letter: DeadLetter | None


def _reason(error: ValidationError) -> tuple[str, str]:
    kinds = {item["type"] for item in error.errors()}
    error_type = "json_invalid" if "json_invalid" in kinds else "schema_invalid"
    # Field paths and messages only: pydantic's input echo could carry customer free text.
    parts = [
        f"{'.'.join(str(part) for part in item['loc']) or '<root>'}: {item['msg']}"
        for item in error.errors()
    ]
    return error_type, "; ".join(parts)[:_MAX_REASON_CHARS]


def decode(
    model: type[EventT],
    key: bytes | None,
    value: bytes | None,
    origin: RecordOrigin,
    rejected_at: datetime,
) -> Decoded[EventT]:
    """Validate `value` as JSON of `model`; on failure return the dead letter to publish."""
    if value is None:
        error_type, reason = "empty_value", "record has no value"
    else:
        try:
            return Decoded(model.model_validate_json(value), None)
        except ValidationError as error:
            error_type, reason = _reason(error)
    return Decoded(None, rejected(key, value, origin, rejected_at, error_type, reason))


def rejected(
    key: bytes | None,
    value: bytes | None,
    origin: RecordOrigin,
    rejected_at: datetime,
    error_type: str,
    reason: str,
) -> DeadLetter:
    """The dead letter of one record: its original bytes, where it came from, and why."""
    return DeadLetter(
        topic=origin.topic,
        partition=origin.partition,
        offset=origin.offset,
        key_b64=DeadLetter.encode(key),
        value_b64=DeadLetter.encode(value),
        reason=reason,
        error_type=error_type,
        rejected_at=rejected_at,
    )
