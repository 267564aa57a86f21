"""TierChanged and DeadLetter behave as the contract in DESIGN.md says."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from pydantic import ValidationError

from schemas import (
    AbcClass,
    ChangedField,
    Classification,
    ClassificationMetrics,
    Direction,
    Lifecycle,
    Reason,
    RfmScores,
    RfmSegment,
    Risk,
)
from schemas.dead_letter import DeadLetter
from schemas.tier_changed import TierChanged, tier_changed_event_id

AS_OF = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
GOLD = Classification(
    tier="A",
    abc_class=AbcClass.A,
    scores=RfmScores(recency=5, frequency=5, monetary=5),
    segment=RfmSegment.CHAMPIONS,
    lifecycle=Lifecycle.GROWTH,
    risk=Risk.OK,
)
SILVER = GOLD.model_copy(update={"tier": "B", "abc_class": AbcClass.B})


def _event(**overrides: object) -> TierChanged:
    fields: dict[str, object] = {
        "event_id": tier_changed_event_id("c-1", AS_OF, SILVER, GOLD),
        "customer_id": "c-1",
        "occurred_at": AS_OF,
        "previous": SILVER,
        "current": GOLD,
        "changes": (ChangedField.TIER,),
        "direction": Direction.UPGRADE,
        "reasons": (Reason(code="tier.abc_top_share", text="moved to A: top 4.1 %"),),
        "metrics": ClassificationMetrics(
            recency_days=3, frequency=12, monetary=Decimal("48210.00"), active_customers=12904
        ),
        "policy_version": "default-1",
    }
    fields.update(overrides)
    return TierChanged.model_validate(fields)


def test_event_id_is_the_same_for_the_same_change() -> None:
    assert tier_changed_event_id("c-1", AS_OF, SILVER, GOLD) == tier_changed_event_id(
        "c-1", AS_OF, SILVER, GOLD
    )


def test_event_id_differs_for_another_instant() -> None:
    later = AS_OF + timedelta(seconds=1)
    assert tier_changed_event_id("c-1", AS_OF, SILVER, GOLD) != tier_changed_event_id(
        "c-1", later, SILVER, GOLD
    )


def test_event_id_differs_between_a_first_classification_and_a_change() -> None:
    assert tier_changed_event_id("c-1", AS_OF, None, GOLD) != tier_changed_event_id(
        "c-1", AS_OF, SILVER, GOLD
    )


def test_event_ids_are_the_ones_contract_1_0_published() -> None:
    """Known values: `tier_changed_event_id` of the 1.0 release (commit 252fc88) on these
    inputs. The id hashes customer, instant and both classifications, never the contract
    version, so a minor version bump leaves replayed ids (and the notifier's dedupe) intact."""
    assert tier_changed_event_id("c-1", AS_OF, SILVER, GOLD) == (
        "7ae0d749-77d3-54a2-b778-b0a781f50e94"
    )
    assert tier_changed_event_id("c-1", AS_OF, None, GOLD) == (
        "76af06ea-9a0c-5caa-9705-33b2f18211bb"
    )


def test_an_event_of_contract_1_0_still_validates() -> None:
    older = _event().model_dump(mode="json") | {"contract_version": "1.0"}
    assert TierChanged.model_validate(older).event_id == _event().event_id


def test_tier_changed_round_trips_through_json() -> None:
    event = _event()
    assert TierChanged.model_validate_json(event.model_dump_json()) == event


def test_tier_changed_rejects_a_naive_timestamp() -> None:
    with pytest.raises(ValidationError, match="occurred_at"):
        _event(occurred_at=datetime(2026, 3, 1, 12, 0))  # noqa: DTZ001 - naive on purpose


def test_tier_changed_needs_at_least_one_changed_field() -> None:
    with pytest.raises(ValidationError, match="changes"):
        _event(changes=())


def test_dead_letter_keeps_arbitrary_bytes() -> None:
    raw = b"\xff\xfe not json"
    letter = DeadLetter(
        topic="orders",
        partition=0,
        offset=7,
        key_b64=None,
        value_b64=DeadLetter.encode(raw),
        reason="invalid JSON",
        error_type="json_invalid",
        rejected_at=AS_OF,
    )
    assert DeadLetter.model_validate_json(letter.model_dump_json()).value == raw
