"""`tierstream worker` on the real broker: the TierChanged stream, bad input, stream time.

The worker runs as a subprocess on fresh topics. Its `tier-changes` must hold, per customer,
the same events (same deterministic ids, in order) as the in-process pipeline on the same
events, which the unit tests prove equal to the batch scorer at the final boundary.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from schemas import FeedbackEvent, OrderEvent, Risk
from schemas.dead_letter import DeadLetter
from streams.cli.main import main
from streams.data.csv_input import CsvReport, read_orders
from streams.data.history import FEEDBACK_HEADER, ORDER_HEADER, generate_history, write_csv
from streams.pipeline.epochs import boundary_at_or_before
from streams.pipeline.local_pipeline import LocalPipeline
from tests.conftest import Infra
from tests.integration.worker_process import (
    DAY,
    Outgoing,
    difference,
    expected_history,
    latest_change_per_customer,
    log_tail,
    order,
    per_customer,
    prepare_topics,
    produce,
    read_records,
    running_worker,
    scored_by_batch,
    tier_changes,
    watermarks,
    with_own_port,
    worker_env,
)
from tiering import default_policy
from tiering.value import model_version, parse_model

pytestmark = pytest.mark.integration

PARTITIONS = 2


def _as_record(topic: str, event: OrderEvent | FeedbackEvent) -> Outgoing:
    return (topic, event.customer_id.encode(), event.model_dump_json().encode(), [], None)


def _history(
    tmp_path: Path, customers: int, orders_count: int, partitions: int, seed: int = 8
) -> tuple[Path, Path, datetime, LocalPipeline]:
    """A generated history as CSV files, its final watermark, and what the stages emit on it."""
    history = expected_history(
        tmp_path, customers, orders_count, partitions, seed=seed, span_days=500
    )
    return history.orders, history.feedback, history.watermark, history.expected


def _replay(
    monkeypatch: pytest.MonkeyPatch,
    env: dict[str, str],
    orders: Path,
    feedback: Path,
    watermark: datetime,
) -> None:
    for variable, value in env.items():
        monkeypatch.setenv(variable, value)
    replay = ["replay", str(orders), "--feedback", str(feedback)]
    assert main([*replay, "--watermark", watermark.isoformat()]) == 0


@pytest.mark.parametrize("guarantee", ["at_least_once", "exactly_once"])
def test_worker_emits_the_deterministic_tier_changed_sequence(
    infra: Infra, unique_name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, guarantee: str
) -> None:
    orders, feedback, watermark, expected = _history(tmp_path, 150, 1_500, PARTITIONS)
    env = worker_env(infra, unique_name, tmp_path / "data", guarantee=guarantee)
    prepare_topics(infra, unique_name, PARTITIONS)
    _replay(monkeypatch, env, orders, feedback, watermark)
    log = tmp_path / "worker.log"
    with running_worker(env, log):
        received = tier_changes(infra, unique_name, len(expected.emitted), 240)

    assert len(received) == len(expected.emitted), difference(
        received, expected.emitted
    ) + log_tail(log)
    assert per_customer(received) == per_customer(expected.emitted)


def test_a_worker_killed_with_sigkill_resumes_without_losing_or_repeating_a_tier_change(
    infra: Infra, unique_name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    orders, feedback, watermark, expected = _history(tmp_path, 300, 4_000, PARTITIONS, seed=5)
    env = worker_env(infra, unique_name, tmp_path / "data", TIERSTREAM_STORE="rocksdb://")
    prepare_topics(infra, unique_name, PARTITIONS)
    _replay(monkeypatch, env, orders, feedback, watermark)
    log = tmp_path / "worker.log"
    with running_worker(env, log) as worker:
        partial = tier_changes(infra, unique_name, len(expected.emitted) // 4, 180, linger=0.0)
        worker.kill()
        worker.wait(timeout=30)
    assert 0 < len(partial) < len(expected.emitted), "the kill must land mid-stream"
    with running_worker(env, log):
        received = tier_changes(infra, unique_name, len(expected.emitted), 240)

    assert len(received) == len(expected.emitted), difference(
        received, expected.emitted
    ) + log_tail(log)
    assert per_customer(received) == per_customer(expected.emitted)


def test_two_workers_split_the_partitions_and_emit_what_one_does(
    infra: Infra, unique_name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    partitions = 4
    orders, feedback, watermark, expected = _history(tmp_path, 200, 2_500, partitions, seed=6)
    env = worker_env(infra, unique_name, tmp_path / "data", partitions=partitions)
    prepare_topics(infra, unique_name, partitions)
    _replay(monkeypatch, env, orders, feedback, watermark)
    first_log, second_log = tmp_path / "first.log", tmp_path / "second.log"
    second_env = with_own_port({**env, "TIERSTREAM_DATA_DIR": str(tmp_path / "data-2")})
    with (
        running_worker(env, first_log) as first,
        running_worker(second_env, second_log) as second,
    ):
        received = tier_changes(infra, unique_name, len(expected.emitted), 240)
        # Both took part: a worker that exits at start-up (a taken web port, say) would
        # leave the other to do everything, and the sequence alone would not tell.
        assert (first.poll(), second.poll()) == (None, None), log_tail(second_log)

    assert len(received) == len(expected.emitted), (
        difference(received, expected.emitted) + log_tail(first_log) + log_tail(second_log)
    )
    assert per_customer(received) == per_customer(expected.emitted)


def test_the_last_tier_change_per_customer_agrees_with_tierstream_score(
    infra: Infra, unique_name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    generated = generate_history(3_000, 9_000, seed=9, span_days=400)
    orders = write_csv(tmp_path / "orders.csv", ORDER_HEADER, generated.orders)
    feedback = write_csv(tmp_path / "feedback.csv", FEEDBACK_HEADER, generated.feedback)
    last_event = max(event.occurred_at for event in read_orders(orders, CsvReport(orders)))
    final = boundary_at_or_before(last_event, DAY) + timedelta(days=1)
    env = worker_env(infra, unique_name, tmp_path / "data")
    prepare_topics(infra, unique_name, PARTITIONS)
    _replay(monkeypatch, env, orders, feedback, final + timedelta(microseconds=1))
    batch = scored_by_batch(orders, feedback, final, tmp_path / "scored.csv")
    log = tmp_path / "worker.log"
    with running_worker(env, log):
        changes = latest_change_per_customer(
            infra, unique_name, PARTITIONS, final, len(batch), log, 900
        )
    latest = {customer: change.current for customer, change in changes.items()}
    assert latest.keys() == batch.keys(), log_tail(log)

    active = [Decimal(row["monetary"]) for row in batch.values() if int(row["frequency"]) > 0]
    policy = default_policy()

    def near_a_cut(row: dict[str, str]) -> bool:
        if int(row["frequency"]) == 0:
            return False
        above = sum(1 for value in active if value > Decimal(row["monetary"])) / len(active)
        margin = policy.hysteresis.margin
        return any(abs(above - cut) <= margin for cut in (policy.abc.a_cut, policy.abc.b_cut))

    disagreements, held, wrong_tier_away_from_cuts = [], 0, []
    for customer, row in batch.items():
        streamed = latest[customer]
        tier_held = policy.tier_rank(streamed.tier) < policy.tier_rank(row["tier"])
        held += tier_held
        same = (
            (streamed.tier == row["tier"] or tier_held)
            and streamed.risk.value == row["risk"]
            and streamed.lifecycle.value == row["lifecycle"]
            and (streamed.segment.value if streamed.segment else "") == row["rfm_segment"]
        )
        if not same:
            disagreements.append((customer, streamed, row))
        if not near_a_cut(row) and streamed.tier != row["tier"] and not tier_held:
            wrong_tier_away_from_cuts.append((customer, streamed.tier, row["tier"]))

    assert len(disagreements) <= 0.005 * len(batch), disagreements[:5]
    assert wrong_tier_away_from_cuts == []
    assert held < 0.05 * len(batch)


def test_malformed_and_invalid_events_go_to_the_dead_letter_topic_and_the_rest_flows_on(
    infra: Infra, unique_name: str, tmp_path: Path
) -> None:
    start = datetime(2026, 1, 5, 9, tzinfo=UTC)
    orders_topic = f"{unique_name}-orders"
    good = [
        order(f"C{n}", f"O{n}", start + timedelta(hours=n), str(10 * (n + 1))) for n in range(6)
    ]
    not_json = b'{"event_id": "x", "amount": '
    negative_amount = good[0].model_dump_json().replace('"10"', '"-5"').encode()
    records: list[Outgoing] = [
        _as_record(orders_topic, good[0]),
        (orders_topic, b"C0", not_json, [], None),
        *(_as_record(orders_topic, event) for event in good[1:3]),
        (orders_topic, b"C1", negative_amount, [], None),
        *(_as_record(orders_topic, event) for event in good[3:]),
        *watermarks(unique_name, start + timedelta(days=2), PARTITIONS),
    ]
    env = worker_env(infra, unique_name, tmp_path / "data")
    prepare_topics(infra, unique_name, PARTITIONS)
    asyncio.run(produce(infra.kafka_bootstrap, records))
    log = tmp_path / "worker.log"
    with running_worker(env, log):
        changes = tier_changes(infra, unique_name, len(good), 120)
        dead = asyncio.run(
            read_records(infra.kafka_bootstrap, f"{unique_name}-dlq", expected=2, timeout=30)
        )

    letters = sorted(
        (DeadLetter.model_validate_json(record.value) for record in dead),
        key=lambda letter: letter.error_type,
    )
    assert [letter.error_type for letter in letters] == ["json_invalid", "schema_invalid"]
    assert letters[0].value == not_json
    assert letters[1].value == negative_amount
    assert "amount" in letters[1].reason
    assert all(letter.topic == orders_topic and letter.offset >= 0 for letter in letters)
    assert sorted(change.customer_id for change in changes) == [e.customer_id for e in good], (
        log_tail(log)
    )


def _silent_after_day_five(start: datetime) -> list[OrderEvent]:
    """SILENT buys on days 0 and 5, then nothing; BUSY buys every third day to day 57 and
    keeps stream time moving. In event-time order."""
    silent = [
        order("SILENT", "S1", start, "500"),
        order("SILENT", "S2", start + timedelta(days=5), "500"),
    ]
    busy = [
        order("BUSY", f"B{day}", start + timedelta(days=day, hours=1), "20")
        for day in range(0, 60, 3)
    ]
    return sorted([*silent, *busy], key=lambda event: event.occurred_at)


def test_a_silent_customer_becomes_at_risk_by_stream_time_alone(
    infra: Infra, unique_name: str, tmp_path: Path
) -> None:
    start = datetime(2025, 6, 2, 10, tzinfo=UTC)
    events = _silent_after_day_five(start)
    orders_topic = f"{unique_name}-orders"
    prepare_topics(infra, unique_name, PARTITIONS)
    asyncio.run(
        produce(
            infra.kafka_bootstrap,
            [
                *(_as_record(orders_topic, event) for event in events),
                *watermarks(unique_name, start + timedelta(days=61), PARTITIONS),
            ],
        )
    )
    env = worker_env(infra, unique_name, tmp_path / "data")
    log = tmp_path / "worker.log"
    with running_worker(env, log):
        changes = tier_changes(infra, unique_name, 3, 120)

    silent_changes = [change for change in changes if change.customer_id == "SILENT"]
    assert silent_changes, log_tail(log)
    assert silent_changes[0].current.risk is Risk.OK
    became_at_risk = [c for c in silent_changes if c.current.risk is Risk.AT_RISK]
    assert became_at_risk, [c.current for c in silent_changes]
    # recency > max(30 days, 2 × 5-day gap): the first boundary after day 5 + 31 days.
    assert became_at_risk[0].occurred_at == boundary_at_or_before(
        start + timedelta(days=36), DAY
    ) + timedelta(days=1)


# The published CDNOW value model (DESIGN.md, "Customer value"), in weeks.
_CDNOW_MODEL = (
    '{"bg_nbd": {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426},'
    ' "gamma_gamma": {"p": 6.25, "q": 3.74, "v": 15.44}, "time_unit": "week",'
    ' "calibration_end": "1997-09-30", "customers": 2357,'
    ' "log_likelihood": {"bg_nbd": -9582.4, "gamma_gamma": -4053.0}}'
)


def test_a_silent_customer_p_alive_falls_in_its_tier_changed_metrics(
    infra: Infra, unique_name: str, tmp_path: Path
) -> None:
    start = datetime(2025, 6, 2, 10, tzinfo=UTC)
    events = _silent_after_day_five(start)
    prepare_topics(infra, unique_name, PARTITIONS)
    asyncio.run(
        produce(
            infra.kafka_bootstrap,
            [
                *(_as_record(f"{unique_name}-orders", event) for event in events),
                *watermarks(unique_name, start + timedelta(days=61), PARTITIONS),
            ],
        )
    )
    model = tmp_path / "model.json"
    model.write_text(_CDNOW_MODEL, encoding="utf-8")
    env = worker_env(infra, unique_name, tmp_path / "data", TIERSTREAM_CLV_MODEL=str(model))
    log = tmp_path / "worker.log"
    with running_worker(env, log):
        changes = tier_changes(infra, unique_name, 3, 120)

    silent_changes = [change for change in changes if change.customer_id == "SILENT"]
    at_risk = [c for c in silent_changes if c.current.risk is Risk.AT_RISK]
    assert silent_changes and at_risk, log_tail(log)
    first, later = silent_changes[0].metrics, at_risk[0].metrics
    assert first.p_alive is not None and later.p_alive is not None, log_tail(log)
    assert later.p_alive < first.p_alive
    assert {c.value_model_version for c in silent_changes} == {
        model_version(parse_model(_CDNOW_MODEL))
    }


def test_the_wall_clock_moves_stream_time_when_no_event_arrives(
    infra: Infra, unique_name: str, tmp_path: Path
) -> None:
    now = datetime.now(UTC)
    # Overdue (recency > 30 days) a few seconds from now, by the wall clock alone.
    # Far enough ahead that the worker has started (and classified the customer ok) first.
    last_purchase = now - timedelta(days=31) + timedelta(seconds=40)
    events = [
        order("SILENT", "S1", last_purchase - timedelta(days=10), "300"),
        order("SILENT", "S2", last_purchase, "300"),
    ]
    orders_topic = f"{unique_name}-orders"
    prepare_topics(infra, unique_name, PARTITIONS)
    asyncio.run(
        produce(infra.kafka_bootstrap, [_as_record(orders_topic, event) for event in events])
    )
    env = worker_env(
        infra,
        unique_name,
        tmp_path / "data",
        clock="wall",
        epoch_seconds=1,
        TIERSTREAM_CLOCK_LATENESS_SECONDS="0",
        TIERSTREAM_CLOCK_TICK_SECONDS="0.5",
    )
    log = tmp_path / "worker.log"
    with running_worker(env, log):
        changes = tier_changes(infra, unique_name, 2, 180)

    assert [change.current.risk for change in changes] == [Risk.OK, Risk.AT_RISK], log_tail(log)
    assert changes[1].occurred_at > last_purchase + timedelta(days=31)
