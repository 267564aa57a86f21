"""Bad records become dead letters with the reason and the original bytes; good ones events."""

from __future__ import annotations

from datetime import UTC, datetime

from schemas.profile import CustomerProfile
from streams.pipeline.decode import RecordOrigin, decode

ORIGIN = RecordOrigin(topic="customers", partition=2, offset=41)
NOW = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
GOOD = b'{"customer_id": "c-9", "account_manager": {"id": "am-1", "name": "Sam"}}'


def test_valid_record_decodes_to_the_event() -> None:
    decoded = decode(CustomerProfile, b"c-9", GOOD, ORIGIN, NOW)
    assert decoded.dead_letter is None
    assert decoded.event is not None
    assert decoded.event.account_manager.id == "am-1"


def test_malformed_json_is_a_dead_letter_with_the_original_bytes() -> None:
    raw = b'{"customer_id": "c-9", '
    decoded = decode(CustomerProfile, b"c-9", raw, ORIGIN, NOW)
    assert decoded.event is None
    assert decoded.dead_letter is not None
    assert decoded.dead_letter.error_type == "json_invalid"
    assert decoded.dead_letter.value == raw
    assert (decoded.dead_letter.topic, decoded.dead_letter.partition) == ("customers", 2)
    assert decoded.dead_letter.offset == 41


def test_schema_invalid_record_names_the_field() -> None:
    raw = b'{"customer_id": "c-9", "account_manager": {"id": "am-1"}}'
    decoded = decode(CustomerProfile, None, raw, ORIGIN, NOW)
    assert decoded.dead_letter is not None
    assert decoded.dead_letter.error_type == "schema_invalid"
    assert "account_manager.name" in decoded.dead_letter.reason


def test_reason_does_not_echo_the_rejected_values() -> None:
    raw = b'{"customer_id": "c-9", "account_manager": {"id": "am-1", "name": "Sam", "email": "x"}}'
    decoded = decode(CustomerProfile, None, raw, ORIGIN, NOW)
    assert decoded.dead_letter is not None
    assert "Sam" not in decoded.dead_letter.reason


def test_record_without_a_value_is_a_dead_letter() -> None:
    decoded = decode(CustomerProfile, b"c-9", None, ORIGIN, NOW)
    assert decoded.dead_letter is not None
    assert decoded.dead_letter.error_type == "empty_value"
