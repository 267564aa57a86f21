"""No input stops the worker: random and hostile raw records through decode → apply → rank.

The records go through the path the worker runs (`streams.pipeline.decode.decode`, then the
in-process pipeline with the worker's stage classes), mixing plausible events with extreme
amounts, dates from year 1 to 9999, naive times, huge and empty ids, unicode, duplicates,
out-of-order times, invalid JSON and wrong types. Property: every record is either applied or
a dead letter with a reason; nothing raises, not even when every epoch is closed and ranked
afterwards, nor across a restart from the checkpoint records.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from schemas import FeedbackEvent, OrderEvent
from schemas.bounds import LATEST_EVENT_TIME, MAX_ID_LENGTH
from schemas.profile import CustomerProfile
from streams.pipeline.decode import RecordOrigin, decode
from streams.pipeline.local_pipeline import LocalPipeline
from tests.unit.builders import POLICY

PARTITIONS = 2
# One epoch per year. EpochClock raises OverflowError when stream time jumps more than 10,000
# epochs, which events inside the bounds do with daily or minute epochs (1970 then 2099):
# a separate, known limit of the clock, not of decoding. A yearly epoch keeps 1970..2100
# inside it so that this test reaches every accepted extreme.
EPOCH_SECONDS = 365 * 24 * 3600
NOW = datetime(2026, 11, 23, tzinfo=UTC)

_WRONG_TYPES: list[Any] = [None, True, 0, -1, 1.5, [], ["a"], {}, {"a": 1}]

_ids = st.one_of(
    st.sampled_from(
        ["c1", "c2", "", " ", "é" * MAX_ID_LENGTH, "x" * 10_000, "\u0000", "🙂", "\ud800"]
    ),
    st.text(max_size=MAX_ID_LENGTH + 5),
    st.sampled_from(_WRONG_TYPES),
)
_amounts = st.one_of(
    st.sampled_from(
        [
            "1e1000000",
            "-1e1000000",
            "1e-1000000000",
            "1E+999999",
            "-0",
            "0",
            "NaN",
            "-Infinity",
            "sNaN",
            "1000000000000",
            "1000000000000.000000000000000001",
            "0.000000000000000001",
            "1." + "0" * 5_000,
            "9" * 5_000,
            "١٢",
            " 5 ",
            "1_000",
            "12,50€",
            1e308,
            10**12,
            10**40,
        ]
    ),
    st.decimals(allow_nan=True, allow_infinity=True).map(str),
    st.integers(min_value=-(10**15), max_value=10**15),
    st.floats(),
    st.sampled_from(_WRONG_TYPES),
)
_offsets = st.sampled_from(
    [UTC, timezone(timedelta(hours=5)), timezone(timedelta(hours=-23, minutes=-59))]
)
_times = st.one_of(
    st.sampled_from(
        [
            "1970-01-01T00:00:00Z",
            "2099-12-31T23:59:59.999999Z",
            "2099-12-31T23:00:00-01:00",
            "0001-01-01T00:00:00+05:00",
            "0001-01-01T00:00:00Z",
            "9999-12-31T23:59:59-05:00",
            "9999-12-31T23:59:59.999999Z",
            "2026-01-10T10:00:00",
            "2026-02-30T10:00:00Z",
            "yesterday-ish",
            "",
        ]
    ),
    st.datetimes(timezones=st.one_of(st.none(), _offsets)).map(datetime.isoformat),
    st.sampled_from([0, -1e10, 1e20, 1_700_000_000, *_WRONG_TYPES]),
)
_scores = st.one_of(
    st.integers(min_value=-2, max_value=12),
    st.sampled_from([10**30, -(10**30), 2.5, "3", "three", *_WRONG_TYPES]),
)


# Plausible values, including the accepted extremes, so that many records are applied and
# customers build histories worth ranking; each record then has some fields made hostile.
_customers = st.sampled_from(["c1", "c2", "c3", "c4", "é" * MAX_ID_LENGTH])
_plausible_times = st.one_of(
    st.datetimes(
        min_value=datetime(2024, 1, 1),  # noqa: DTZ001 - the zone comes from `timezones`
        max_value=datetime(2027, 1, 1),  # noqa: DTZ001
        timezones=_offsets,
    ).map(datetime.isoformat),
    st.sampled_from(["1970-01-01T00:00:00Z", "2099-12-31T23:59:59.999999Z"]),
)
_plausible_amounts = st.one_of(
    st.decimals(min_value="0.01", max_value=10**12, places=2).map(str),
    st.sampled_from(["1000000000000", "0.000000000000000001", "1E+11", 10**12, 0.5]),
)


@st.composite
def _hostile(
    draw: st.DrawFn, fields: dict[str, Any], hostile: dict[str, st.SearchStrategy[Any]]
) -> dict[str, Any]:
    """`fields` with some of them (often none) replaced by a hostile value or left out."""
    names = st.lists(st.sampled_from(sorted(hostile)), min_size=1, max_size=3)
    for name in draw(st.one_of(st.just([]), names)):
        if draw(st.booleans()):
            fields[name] = draw(hostile[name])
        else:
            fields.pop(name, None)
    return fields


@st.composite
def _order(draw: st.DrawFn) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "event_id": f"e{draw(st.integers(min_value=0, max_value=60))}",
        "order_id": draw(st.sampled_from(["o1", "o2", "o3", "o4", "o5", "o6"])),
        "customer_id": draw(_customers),
        "occurred_at": draw(_plausible_times),
        "amount": draw(_plausible_amounts),
        "kind": draw(st.sampled_from(["purchase", "purchase", "refund", "cancel"])),
    }
    if draw(st.booleans()):
        fields["margin"] = draw(_plausible_amounts)
    hostile = {
        "event_id": _ids,
        "order_id": _ids,
        "customer_id": _ids,
        "occurred_at": _times,
        "amount": _amounts,
        "margin": _amounts,
        "kind": st.sampled_from(["gift", "", 1, None]),
        "currency": st.sampled_from(["USD", "eur", "EURO", None]),
        "extra": st.just("field"),
    }
    return draw(_hostile(fields, hostile))


@st.composite
def _feedback(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from(["csat", "nps", "complaint", "praise"]))
    score = {"csat": (1, 5), "nps": (0, 10), "complaint": (1, 3)}.get(kind)
    fields: dict[str, Any] = {
        "event_id": f"f{draw(st.integers(min_value=0, max_value=60))}",
        "customer_id": draw(_customers),
        "occurred_at": draw(_plausible_times),
        "kind": kind,
    }
    if score is not None:
        fields["score"] = draw(st.integers(min_value=score[0], max_value=score[1]))
    hostile = {
        "event_id": _ids,
        "customer_id": _ids,
        "occurred_at": _times,
        "kind": st.sampled_from(["rant", "", 3, None]),
        "score": _scores,
    }
    return draw(_hostile(fields, hostile))


def _encoded(record: dict[str, Any]) -> bytes:
    # allow_nan: a float('inf') or NaN drawn above goes out as the bare token a hostile
    # producer would write; a lone surrogate goes out as its \\u escape.
    return json.dumps(record, allow_nan=True).encode()


_junk = st.one_of(
    st.binary(max_size=64),
    st.sampled_from(
        [
            b"",
            b"{",
            b"null",
            b"[]",
            b'"x"',
            b"\xff\xfe",
            b'{"amount": 1e1000000}',
            b'{"event_id": "e", "order_id": "o", "customer_id": "\xc3\x28", "amount": "1",'
            b' "occurred_at": "2026-01-01T00:00:00Z"}',
        ]
    ),
    st.text(max_size=64).map(str.encode),
)


def _mostly(records: st.SearchStrategy[bytes]) -> st.SearchStrategy[bytes]:
    """Three records in four are JSON objects worth decoding field by field, one is junk."""
    return st.sampled_from([records, records, records, _junk]).flatmap(lambda chosen: chosen)


_order_values = _mostly(_order().map(_encoded))
_feedback_values = _mostly(_feedback().map(_encoded))

_records = st.lists(
    st.one_of(
        st.tuples(st.just("orders"), _order_values),
        st.tuples(st.just("feedback"), _feedback_values),
    ),
    min_size=1,
    max_size=40,
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    records=_records,
    repeats=st.lists(st.integers(min_value=0, max_value=39), max_size=5),
    restart_at=st.integers(min_value=0, max_value=45),
)
def test_every_record_is_applied_or_dead_lettered_and_ranking_never_raises(
    records: list[tuple[str, bytes]], repeats: list[int], restart_at: int
) -> None:
    # Duplicates: some records arrive again, later, as a redelivery would bring them.
    records = records + [records[index] for index in repeats if index < len(records)]
    pipeline = LocalPipeline(POLICY, PARTITIONS, EPOCH_SECONDS)
    applied = dead = 0
    for offset, (topic, value) in enumerate(records):
        if offset == restart_at:
            pipeline.restart()
        model: type[OrderEvent] | type[FeedbackEvent] = (
            OrderEvent if topic == "orders" else FeedbackEvent
        )
        decoded = decode(model, None, value, RecordOrigin(topic, 0, offset), NOW)
        if decoded.event is not None:
            pipeline.feed(decoded.event)
            applied += 1
        else:
            assert decoded.dead_letter is not None
            assert decoded.dead_letter.reason
            assert decoded.dead_letter.value == value
            dead += 1
    assert applied + dead == len(records)
    # Shown by --hypothesis-show-statistics: how much reached the pipeline.
    event(f"applied {'none' if applied == 0 else 'some' if applied < 5 else '5 or more'}")
    # Far ahead: past the last accepted event time, so every epoch closes and is ranked.
    for partition in range(PARTITIONS):
        pipeline.watermark(partition, LATEST_EVENT_TIME + timedelta(seconds=EPOCH_SECONDS))
    for change in pipeline.emitted:
        change.model_dump_json()
    event(f"TierChanged {'none' if not pipeline.emitted else 'some'}")


@settings(max_examples=150, deadline=None)
@given(
    value=st.one_of(
        st.fixed_dictionaries(
            {
                "customer_id": _ids,
                "account_manager": st.one_of(
                    _ids,
                    st.dictionaries(
                        st.sampled_from(["id", "name", "email", "slack"]), _ids, max_size=4
                    ),
                ),
            },
            optional={"industry": _ids, "region": _ids, "size": _ids},
        ).map(_encoded),
        st.binary(max_size=64),
    )
)
def test_any_profile_record_decodes_or_is_a_dead_letter_with_a_reason(value: bytes) -> None:
    decoded = decode(CustomerProfile, b"c1", value, RecordOrigin("customers", 0, 0), NOW)
    assert (decoded.event is None) != (decoded.dead_letter is None)
    if decoded.dead_letter is not None:
        assert decoded.dead_letter.reason
