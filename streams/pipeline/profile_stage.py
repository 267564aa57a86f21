"""The `customers` topic in the worker: each customer's latest profile, for the rank stage to
copy the account manager into `TierChanged.account_manager`.

A profile has no event time, so the manager a TierChanged carries is the latest profile this
worker had applied when the change was ranked (docs/internals.md, "Account managers"). It is
never part of the classification or of `event_id`, so replays give the same ids whatever the
profiles.

Records of the compacted topic must be keyed by customer_id: compaction keeps the last record
per key, a tombstone (null value) erases by key, and the table holding the profiles is
co-partitioned with the inputs, so the key also decides the partition. Pure decisions here;
the worker applies them to its `profiles` table. The manager is personal data: nothing here
logs it, and dead-letter reasons never quote it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from schemas.dead_letter import DeadLetter
from schemas.profile import AccountManager, CustomerProfile, ProfileDimensions
from streams.pipeline.decode import KEY_MISMATCH, KEY_MISSING, RecordOrigin, decode, rejected
from tiering import Policy
from tiering.batch import group_of

__all__ = [
    "KEY_MISMATCH",
    "KEY_MISSING",
    "EraseProfile",
    "StoreProfile",
    "group_lookup",
    "manager_lookup",
    "profile_lookup",
    "read_profile_record",
]


@dataclass(frozen=True, slots=True)
class StoreProfile:
    """Keep `profile` (canonical CustomerProfile JSON) under `key` (customer_id bytes)."""

    key: bytes
    profile: bytes


@dataclass(frozen=True, slots=True)
class EraseProfile:
    """A tombstone: forget the profile under `key`."""

    key: bytes


def read_profile_record(
    key: bytes | None, value: bytes | None, origin: RecordOrigin, rejected_at: datetime
) -> StoreProfile | EraseProfile | DeadLetter:
    """What one record of the customers topic does to the profiles table, or why it cannot.

    - null value with a key: erase that customer's profile;
    - null value without a key: dead letter `key_missing` (nothing to erase);
    - a value that is not a valid CustomerProfile: dead letter `json_invalid`/`schema_invalid`;
    - a valid profile whose key is not its customer_id: dead letter `key_mismatch` (the
      record would sit on another partition than the customer's events, and compaction would
      keep it beside the customer's real records).
    """
    if value is None:
        if key is None:
            reason = "tombstone without a key: nothing to erase"
            return rejected(key, value, origin, rejected_at, KEY_MISSING, reason)
        return EraseProfile(key)
    decoded = decode(CustomerProfile, key, value, origin, rejected_at)
    if decoded.event is None:
        assert decoded.dead_letter is not None
        return decoded.dead_letter
    customer_key = decoded.event.customer_id.encode()
    if key != customer_key:
        reason = "record key is not the profile's customer_id; key customer records by it"
        return rejected(key, value, origin, rejected_at, KEY_MISMATCH, reason)
    return StoreProfile(customer_key, decoded.event.model_dump_json().encode())


def manager_lookup(
    get: Callable[[bytes], bytes | None],
) -> Callable[[str], AccountManager | None]:
    """customer_id -> account manager, read from stored profiles through `get` (the table)."""

    def account_manager(customer_id: str) -> AccountManager | None:
        stored = get(customer_id.encode())
        if stored is None:
            return None
        return CustomerProfile.model_validate_json(stored).account_manager

    return account_manager


def profile_lookup(
    get: Callable[[bytes], bytes | None],
) -> Callable[[str], ProfileDimensions | None]:
    """customer_id -> industry/size/region, read from stored profiles through `get`."""

    def dimensions(customer_id: str) -> ProfileDimensions | None:
        stored = get(customer_id.encode())
        if stored is None:
            return None
        return CustomerProfile.model_validate_json(stored).dimensions

    return dimensions


def group_lookup(
    profiles: Callable[[str], ProfileDimensions | None], policy: Policy
) -> Callable[[str], str | None]:
    """customer_id -> its ranking group under `policy.rank_within` (`tiering.batch.group_of`:
    the value of that dimension; None without a profile or without that field)."""

    def group(customer_id: str) -> str | None:
        return group_of(profiles(customer_id), policy)

    return group
