"""A customer's state stored as a small header record plus one record per day of entries.

Serialised whole, the state of a customer with many purchases inside its window is one large
value re-encoded after every event: the generated 200,000-order history has a customer with
24,694 purchases in a year, a 1.4 MB record (above Kafka's default 1 MiB limit) that took
0.13 s to encode. Split by the UTC day of each entry, an event rewrites the header and the
record of its own day (plus the days pruning touched), whatever the size of the state.

States of at most `INLINE_ENTRIES` entries stay whole in the header: one record, as before.
The layout is a function of the state alone (its entry count), so the writer knows the layout
of the previous state without reading anything back.

Header: the state's fields (`state_to_dict`) with `d` = [first day, last day] of its day
records when split, null when inline. Day record: the `p`, `a` and `nf` rows of that day.
"""

from __future__ import annotations

import bisect
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from tiering.exceptions import TieringError
from tiering.state import (
    CustomerState,
    entry_count,
    entry_rows,
    state_from_dict,
    state_to_dict,
)

__all__ = [
    "INLINE_ENTRIES",
    "StateWrite",
    "state_from_records",
    "state_write",
    "stored_days",
]

INLINE_ENTRIES = 64
_DAY = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class StateWrite:
    """What to store after an event: the header, and day records to write (None: delete)."""

    header: bytes
    days: Mapping[date, bytes | None]


def _is_split(state: CustomerState | None) -> bool:
    return state is not None and entry_count(state) > INLINE_ENTRIES


def _start_of(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=UTC)


def _day_of(instant: datetime) -> date:
    return instant.astimezone(UTC).date()


def _entries_on(state: CustomerState, day: date) -> tuple[Any, Any, Any]:
    """The state's purchases, adjustments and negative feedback on one UTC day (bisection)."""
    start, end = _start_of(day), _start_of(day + _DAY)

    def on_day(entries: tuple[Any, ...]) -> tuple[Any, ...]:
        low = bisect.bisect_left(entries, start, key=lambda entry: entry.occurred_at)
        high = bisect.bisect_left(entries, end, key=lambda entry: entry.occurred_at)
        return entries[low:high]

    return on_day(state.purchases), on_day(state.adjustments), on_day(state.negative_feedback)


def _day_record(state: CustomerState, day: date) -> bytes | None:
    purchases, adjustments, negative = _entries_on(state, day)
    if not (purchases or adjustments or negative):
        return None
    rows = entry_rows(purchases, adjustments, negative)
    return json.dumps(rows, separators=(",", ":")).encode()


def _all_days(state: CustomerState) -> set[date]:
    return {_day_of(entry.occurred_at) for entries in _kinds(state) for entry in entries}


def _pruned_days(before: CustomerState, after: CustomerState) -> set[date]:
    """Days of the entries `before` held that `after` no longer does.

    Pruning drops a time-ordered prefix of each entry kind and an event adds at most one entry
    after the horizon, so the dropped entries are those before the first one kept.
    """
    days: set[date] = set()
    for held, kept in zip(_kinds(before), _kinds(after), strict=True):
        dropped = len(held) if not kept else bisect.bisect_left(held, kept[0])
        days.update(_day_of(entry.occurred_at) for entry in held[:dropped])
    return days


def _header(state: CustomerState, split: bool) -> bytes:
    fields = state_to_dict(state, with_entries=not split)
    days = None
    if split:
        firsts = [s[0].occurred_at for s in _kinds(state) if s]
        lasts = [s[-1].occurred_at for s in _kinds(state) if s]
        days = [_day_of(min(firsts)).isoformat(), _day_of(max(lasts)).isoformat()]
    fields["d"] = days
    return json.dumps(fields, separators=(",", ":")).encode()


def _kinds(state: CustomerState) -> tuple[tuple[Any, ...], ...]:
    return (state.purchases, state.adjustments, state.negative_feedback)


def state_write(
    before: CustomerState | None, after: CustomerState, touched: datetime
) -> StateWrite:
    """The records that turn the stored `before` into `after`, an event at `touched` applied.

    Inline to inline writes the header only; inline to split writes every day once; split to
    inline deletes every day of `before`; split to split rewrites the event's day and deletes
    or rewrites the days pruning removed entries from.
    """
    split = _is_split(after)
    header = _header(after, split)
    if not split:
        stale = _all_days(before) if before is not None and _is_split(before) else set()
        return StateWrite(header, dict.fromkeys(stale))
    if before is None or not _is_split(before):
        return StateWrite(header, {day: _day_record(after, day) for day in _all_days(after)})
    touched_days = _pruned_days(before, after) | {_day_of(touched)}
    return StateWrite(header, {day: _day_record(after, day) for day in touched_days})


def state_from_records(header: bytes, day_record: Callable[[date], bytes | None]) -> CustomerState:
    """Rebuild a state from its header and a lookup of its day records (None: no record)."""
    fields: dict[str, Any] = json.loads(header)
    days = fields.pop("d", None)
    if days is not None:
        first, last = date.fromisoformat(days[0]), date.fromisoformat(days[1])
        if last < first:
            raise TieringError(f"state header day range {days!r} is reversed")
        day = first
        while day <= last:
            raw = day_record(day)
            if raw is not None:
                rows = json.loads(raw)
                for kind in ("p", "a", "nf"):
                    fields[kind].extend(rows[kind])
            day += _DAY
    return state_from_dict(fields)


def stored_days(header: bytes) -> list[date]:
    """Every day that may hold a day record of the state stored under `header`: the days of
    its header's range (none when the state is inline). What an erase deletes; a day of the
    range without entries has no record, and deleting an absent key writes nothing."""
    days = json.loads(header).get("d")
    if days is None:
        return []
    day, last = date.fromisoformat(days[0]), date.fromisoformat(days[1])
    result = []
    while day <= last:
        result.append(day)
        day += _DAY
    return result
