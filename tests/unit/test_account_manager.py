"""TierChanged.account_manager: the manager of the customer's latest profile known when the
change is ranked, read from the customers topic's records; never part of the event id."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from schemas.dead_letter import DeadLetter
from schemas.profile import AccountManager, CustomerProfile
from streams.pipeline.decode import RecordOrigin
from streams.pipeline.local_pipeline import LocalPipeline
from streams.pipeline.profile_stage import (
    EraseProfile,
    StoreProfile,
    manager_lookup,
    read_profile_record,
)
from tests.unit.builders import POLICY, purchase

DAY_SECONDS = 86_400
START = datetime(2026, 3, 2, 9, tzinfo=UTC)
ORIGIN = RecordOrigin("customers", 0, 7)
ANNA = AccountManager(id="m-1", name="Anna", email="anna@example.com")
BORIS = AccountManager(id="m-2", name="Boris")


def _run(managers: dict[str, AccountManager], days: int = 3) -> LocalPipeline:
    """Two customers buying every day for `days` days, then a watermark past the last day."""
    pipeline = LocalPipeline(POLICY, 1, DAY_SECONDS, managers.get)
    for day in range(days):
        pipeline.feed(purchase(START + timedelta(days=day), "100", customer="c1"))
        pipeline.feed(purchase(START + timedelta(days=day, hours=1), "900", customer="c2"))
    pipeline.watermark(0, START + timedelta(days=days + 1))
    return pipeline


def _profile(customer_id: str, manager: AccountManager) -> bytes:
    return (
        CustomerProfile(customer_id=customer_id, account_manager=manager).model_dump_json().encode()
    )


# --- the rank stage -------------------------------------------------------------------------


def test_a_tier_change_carries_the_manager_the_lookup_gives() -> None:
    pipeline = _run({"c1": ANNA})
    changes = [change for change in pipeline.emitted if change.customer_id == "c1"]
    assert changes
    assert all(change.account_manager == ANNA for change in changes)


def test_a_customer_without_a_profile_gets_no_manager() -> None:
    pipeline = _run({"c1": ANNA})
    changes = [change for change in pipeline.emitted if change.customer_id == "c2"]
    assert changes
    assert all(change.account_manager is None for change in changes)


def test_a_manager_handed_over_between_boundaries_is_on_the_changes_ranked_after_it() -> None:
    managers = {"c1": ANNA}
    pipeline = LocalPipeline(POLICY, 1, DAY_SECONDS, managers.get)
    pipeline.feed(purchase(START, "100", customer="c1"))
    pipeline.feed(purchase(START + timedelta(hours=1), "900", customer="c2"))
    pipeline.watermark(0, START + timedelta(days=1))
    ranked_before = len(pipeline.emitted)
    managers["c1"] = BORIS
    # c1 overtakes c2: its tier changes at the next boundary.
    pipeline.feed(purchase(START + timedelta(days=1), "5000", customer="c1"))
    pipeline.watermark(0, START + timedelta(days=2))

    before = [c for c in pipeline.emitted[:ranked_before] if c.customer_id == "c1"]
    after = [c for c in pipeline.emitted[ranked_before:] if c.customer_id == "c1"]
    assert [c.account_manager for c in before] == [ANNA]
    assert after
    assert [c.account_manager for c in after] == [BORIS] * len(after)


def test_a_ranker_restored_from_its_checkpoint_still_fills_the_manager() -> None:
    managers = {"c1": ANNA}
    pipeline = LocalPipeline(POLICY, 1, DAY_SECONDS, managers.get)
    pipeline.feed(purchase(START, "100", customer="c1"))
    pipeline.feed(purchase(START + timedelta(hours=1), "900", customer="c2"))
    pipeline.watermark(0, START + timedelta(days=1))
    ranked_before = len(pipeline.emitted)
    pipeline.restart()
    pipeline.feed(purchase(START + timedelta(days=1), "5000", customer="c1"))
    pipeline.watermark(0, START + timedelta(days=2))

    after = [c for c in pipeline.emitted[ranked_before:] if c.customer_id == "c1"]
    assert after
    assert all(change.account_manager == ANNA for change in after)


def test_event_ids_and_classifications_do_not_depend_on_the_managers() -> None:
    with_managers = _run({"c1": ANNA, "c2": BORIS})
    without = _run({})

    def content(pipeline: LocalPipeline) -> list[tuple[object, ...]]:
        return [(c.event_id, c.previous, c.current, c.changes) for c in pipeline.emitted]

    assert content(with_managers) == content(without)
    assert any(change.account_manager is not None for change in with_managers.emitted)


# --- records of the customers topic ---------------------------------------------------------


def test_a_valid_profile_keyed_by_its_customer_is_stored_under_that_key() -> None:
    change = read_profile_record(b"c1", _profile("c1", ANNA), ORIGIN, START)
    assert isinstance(change, StoreProfile)
    assert change.key == b"c1"
    assert CustomerProfile.model_validate_json(change.profile).account_manager == ANNA


def test_a_tombstone_erases_the_profile_under_its_key() -> None:
    assert read_profile_record(b"c1", None, ORIGIN, START) == EraseProfile(b"c1")


def test_a_tombstone_without_a_key_is_dead_lettered_as_key_missing() -> None:
    change = read_profile_record(None, None, ORIGIN, START)
    assert isinstance(change, DeadLetter)
    assert change.error_type == "key_missing"
    assert (change.topic, change.partition, change.offset) == ("customers", 0, 7)


def test_an_invalid_profile_is_dead_lettered_with_its_bytes_and_the_field_at_fault() -> None:
    value = b'{"customer_id": "c1"}'
    change = read_profile_record(b"c1", value, ORIGIN, START)
    assert isinstance(change, DeadLetter)
    assert change.error_type == "schema_invalid"
    assert change.value == value
    assert "account_manager" in change.reason


def test_a_profile_keyed_by_another_id_is_dead_lettered_as_key_mismatch() -> None:
    change = read_profile_record(b"someone-else", _profile("c1", ANNA), ORIGIN, START)
    assert isinstance(change, DeadLetter)
    assert change.error_type == "key_mismatch"


def test_a_dead_letter_reason_never_quotes_the_managers_details() -> None:
    value = _profile("c1", ANNA).replace(b"anna@example.com", b"anna at example")
    change = read_profile_record(b"c1", value, ORIGIN, START)
    assert isinstance(change, DeadLetter)
    assert "anna" not in change.reason.lower()


def test_the_lookup_answers_the_manager_of_the_stored_profile_and_none_without_one() -> None:
    table = {b"c1": _profile("c1", ANNA)}
    lookup = manager_lookup(table.get)
    assert lookup("c1") == ANNA
    assert lookup("c2") is None
