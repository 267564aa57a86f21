"""CloudEvents headers and control records are recognisable on the wire."""

from __future__ import annotations

from datetime import UTC, datetime

from streams.pipeline.headers import Watermark, cloudevent_headers, control_kind

AT = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)


def test_cloudevent_headers_carry_the_required_context_attributes() -> None:
    headers = dict(cloudevent_headers("io.tierstream.TierChanged.v1", "id-1", AT, "c-1"))
    assert headers["ce_specversion"] == b"1.0"
    assert headers["ce_id"] == b"id-1"
    assert headers["ce_type"] == b"io.tierstream.TierChanged.v1"
    assert headers["ce_subject"] == b"c-1"
    assert headers["content-type"] == b"application/json"
    assert datetime.fromisoformat(headers["ce_time"].decode()) == AT


def test_watermark_records_are_control_records() -> None:
    assert control_kind(Watermark.headers()) == "watermark"


def test_ordinary_events_are_not_control_records() -> None:
    assert control_kind(cloudevent_headers("t", "i", AT)) is None
    assert control_kind(None) is None
