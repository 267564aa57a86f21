"""An erase request (a tombstone on `customers`) in the pure pipeline: the customer leaves both
stages and every checkpoint record, no TierChanged names it until new events arrive, and a
new order starts it afresh as a new customer."""

from __future__ import annotations

import zlib
from datetime import UTC, datetime, timedelta

from schemas import OrderEvent
from schemas.tier_changed import Direction, TierChanged
from streams.pipeline.headers import Watermark
from streams.pipeline.local_pipeline import LocalPipeline
from streams.pipeline.partition import MeasurePipeline
from streams.pipeline.records import InputRecord, Tables
from tests.unit.builders import POLICY, purchase
from tests.unit.test_partition_pipeline import TOPICS, DictStore
from tiering.state_records import INLINE_ENTRIES

DAY_SECONDS = 86_400
PARTITIONS = 2
START = datetime(2026, 1, 5, tzinfo=UTC)
DAY = timedelta(days=1)
ERASED = "c-erased"


def _partition(customer_id: str) -> int:
    return zlib.crc32(customer_id.encode()) % PARTITIONS


def _customer_on(partition: int, stem: str) -> str:
    return next(f"{stem}-{n}" for n in range(100) if _partition(f"{stem}-{n}") == partition)


HOME = _partition(ERASED)
NEIGHBOUR = _customer_on(HOME, "c-neighbour")
AWAY = _customer_on(1 - HOME, "c-away")


def _day_one() -> LocalPipeline:
    """Three customers buy on day one (the erased one the most), classified at its end."""
    pipeline = LocalPipeline(POLICY, PARTITIONS, DAY_SECONDS)
    for customer, amount in ((ERASED, "900"), (NEIGHBOUR, "100"), (AWAY, "300")):
        pipeline.feed(purchase(START + timedelta(hours=9), amount, customer=customer))
    _advance(pipeline, START + DAY)
    return pipeline


def _advance(pipeline: LocalPipeline, through: datetime) -> None:
    for partition in range(PARTITIONS):
        pipeline.watermark(partition, through + timedelta(microseconds=1))


def _naming(changes: list[TierChanged], customer: str) -> list[TierChanged]:
    return [change for change in changes if change.customer_id == customer]


def _half_year_later(pipeline: LocalPipeline) -> list[TierChanged]:
    """Day by day for 200 days (recency grows: risk and lifecycle change with no event)."""
    before = len(pipeline.emitted)
    for day in range(2, 200):
        _advance(pipeline, START + day * DAY)
    return pipeline.emitted[before:]


def test_the_history_reclassifies_the_customer_when_it_is_not_erased() -> None:
    # The control of the next test: without the erase, time alone changes the customer.
    pipeline = _day_one()
    assert _naming(pipeline.emitted, ERASED)
    assert _naming(_half_year_later(pipeline), ERASED)


def test_no_tier_changed_names_an_erased_customer_while_time_passes() -> None:
    pipeline = _day_one()
    pipeline.erase(ERASED)
    later = _half_year_later(pipeline)
    assert _naming(later, ERASED) == []
    assert _naming(later, NEIGHBOUR), "the other customers are still classified"


def test_an_erased_customer_has_no_classification_and_no_ranked_record() -> None:
    pipeline = _day_one()
    classified = sum(pipeline.counts(HOME).tiers.values())
    pipeline.erase(ERASED)
    assert pipeline.classification(ERASED) is None
    assert pipeline.ranked(ERASED) is None
    assert sum(pipeline.counts(HOME).tiers.values()) == classified - 1


def test_a_new_order_after_the_erase_classifies_the_customer_afresh_as_initial() -> None:
    pipeline = _day_one()
    pipeline.erase(ERASED)
    _advance(pipeline, START + 3 * DAY)
    before = len(pipeline.emitted)
    pipeline.feed(purchase(START + 3 * DAY + timedelta(hours=9), "40", customer=ERASED))
    _advance(pipeline, START + 4 * DAY)
    [change] = _naming(pipeline.emitted[before:], ERASED)
    assert change.direction is Direction.INITIAL
    assert change.previous is None
    # The state starts empty: one purchase of 40, not the 900 of before the erase.
    assert (change.metrics.frequency, change.metrics.monetary) == (1, 40)


def test_a_measurement_published_before_the_erase_is_not_ranked_after_it() -> None:
    pipeline = LocalPipeline(POLICY, PARTITIONS, DAY_SECONDS)
    pipeline.feed(purchase(START + timedelta(hours=9), "900", customer=ERASED))
    pipeline.feed(purchase(START + timedelta(hours=9), "100", customer=AWAY))
    # The erased customer's partition closes day one (its measurement is published); the
    # other partition has not, so the barrier holds the ranking back.
    pipeline.watermark(HOME, START + DAY + timedelta(microseconds=1))
    assert pipeline.emitted == []
    pipeline.erase(ERASED)
    pipeline.watermark(1 - HOME, START + DAY + timedelta(microseconds=1))
    assert [change.customer_id for change in pipeline.emitted] == [AWAY]


def test_an_erase_survives_a_restart_from_the_checkpoint_records() -> None:
    pipeline = _day_one()
    pipeline.erase(ERASED)
    pipeline.restart()
    assert _naming(_half_year_later(pipeline), ERASED) == []


# --- stage 1 of one partition: the table deletions ---------------------------------------


def _order_record(event: OrderEvent, offset: int) -> InputRecord:
    value = event.model_dump_json().encode()
    return InputRecord(TOPICS.orders, HOME, offset, event.customer_id.encode(), value)


def _feedback_mark(instant: datetime, offset: int, topic: str = TOPICS.feedback) -> InputRecord:
    mark = Watermark(stream_time=instant).model_dump_json().encode()
    return InputRecord(topic, HOME, offset, None, mark, tuple(Watermark.headers()))


def _stored_with_held_events() -> DictStore:
    """The erased customer's large state (day records), its measured record, and one of its
    orders held in the merge (the feedback input is behind), beside a neighbour's."""
    store = DictStore()
    pipeline = MeasurePipeline(HOME, POLICY, TOPICS, DAY_SECONDS, store)
    days = INLINE_ENTRIES + 6
    records = [
        _order_record(purchase(START + n * DAY, "10", customer=ERASED), n) for n in range(days)
    ]
    records.append(_order_record(purchase(START, "10", customer=NEIGHBOUR), days))
    records.append(_feedback_mark(START + days * DAY, 0))
    store.commit(pipeline.process(records, START))
    later = START + (days + 5) * DAY
    held = [
        _order_record(purchase(later, "10", customer=ERASED), days + 1),
        _order_record(purchase(later, "10", customer=NEIGHBOUR), days + 2),
    ]
    store.commit(pipeline.process(held, START))
    return store


def _mentions(store: DictStore, customer: str) -> list[tuple[str, bytes]]:
    quoted = f'"{customer}"'.encode()
    return [
        (table, key)
        for table, entries in store.tables.items()
        for key, value in entries.items()
        if key.startswith(customer.encode()) or quoted in value
    ]


def test_the_stored_history_of_the_test_mentions_the_customer_in_every_table() -> None:
    # The control of the next test: state, days, measured and held all hold the customer.
    store = _stored_with_held_events()
    tables = {table for table, _ in _mentions(store, ERASED)}
    assert tables == {Tables.STATES, Tables.DAYS, Tables.MEASURED, Tables.HELD}


def test_stage_one_erase_deletes_every_table_record_of_the_customer() -> None:
    store = _stored_with_held_events()
    pipeline = MeasurePipeline(HOME, POLICY, TOPICS, DAY_SECONDS, store)
    erasure = pipeline.erase(ERASED)
    for table, entries in erasure.writes.items():
        for key in entries:
            store.tables[table].pop(key, None)
    assert _mentions(store, ERASED) == []
    assert _mentions(store, NEIGHBOUR), "the neighbour's records stay"


def test_held_events_of_an_erased_customer_are_never_applied() -> None:
    store = _stored_with_held_events()
    pipeline = MeasurePipeline(HOME, POLICY, TOPICS, DAY_SECONDS, store)
    erasure = pipeline.erase(ERASED)
    for table, entries in erasure.writes.items():
        for key in entries:
            store.tables[table].pop(key, None)
    final = START + 200 * DAY
    marks = [_feedback_mark(final, 1), _feedback_mark(final, 1_000, TOPICS.orders)]
    result = pipeline.process(marks, START)
    measured = [output.key for output in result.outputs if output.topic == TOPICS.measurements]
    assert ERASED.encode() not in measured
    assert NEIGHBOUR.encode() in measured
    assert ERASED.encode() not in result.writes.get(Tables.STATES, {})
