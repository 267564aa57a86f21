"""Kafka record headers: CloudEvents binary-mode attributes and tierstream control records.

CloudEvents Kafka protocol binding, binary content mode: the value stays the plain JSON
event (consumers that ignore headers lose nothing) and the context attributes travel as
`ce_*` headers, which generic CloudEvents tooling understands.

Control records share the input topics with events (so they are ordered with them) and are
recognised by the `tierstream-control` header; `watermark` moves a partition's stream time
(`tierstream replay` sends one per partition at the end so the last epoch closes).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from pydantic import AwareDatetime, BaseModel, ConfigDict

__all__ = [
    "CE_SOURCE",
    "CONTROL_HEADER",
    "Watermark",
    "cloudevent_headers",
    "control_kind",
]

CE_SOURCE = "urn:tierstream"
CONTROL_HEADER = "tierstream-control"

Headers = Sequence[tuple[str, bytes]]


def cloudevent_headers(
    event_type: str, event_id: str, time: datetime, subject: str | None = None
) -> list[tuple[str, bytes]]:
    """`ce_*` headers (CloudEvents 1.0, Kafka binding, binary mode) for a JSON event."""
    headers = [
        ("ce_specversion", b"1.0"),
        ("ce_id", event_id.encode()),
        ("ce_source", CE_SOURCE.encode()),
        ("ce_type", event_type.encode()),
        ("ce_time", time.isoformat().encode()),
        ("content-type", b"application/json"),
    ]
    if subject is not None:
        headers.append(("ce_subject", subject.encode()))
    return headers


class Watermark(BaseModel):
    """Control record: the stream time of the partition is at least `stream_time`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    stream_time: AwareDatetime

    @staticmethod
    def headers() -> list[tuple[str, bytes]]:
        """Headers that mark a record as a watermark."""
        return [(CONTROL_HEADER, b"watermark")]


def control_kind(headers: Headers | None) -> str | None:
    """The control kind of a record (e.g. 'watermark'), or None for an ordinary event."""
    for name, value in headers or ():
        if name == CONTROL_HEADER:
            return value.decode("utf-8", errors="replace")
    return None
