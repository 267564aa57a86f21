"""`tierstream worker` on the real broker under a policy with `rank_within: region`.

Profiles with regions (and some customers without one) are published on `customers` and
applied before the history is replayed; the worker's last TierChanged per customer must agree
with the batch fold ranked within regions (`tiering.score_history(..., profiles=...)`) at the
final boundary for at least 99.5 % of the customers (DESIGN.md, "Global ranks across
partitions"). A profile that moves a customer to another region re-ranks it there at the next
boundary, with no event of its own.

Each step waits for proof that the worker has applied the profiles before it: an unparsable
record with the same key (so on the same partition) reaching the dead-letter topic.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path

import pytest

from schemas import Classification, FeedbackEvent, OrderEvent
from schemas.profile import AccountManager, CustomerProfile, ProfileDimensions
from streams.cli.main import main
from streams.data.csv_input import CsvReport, read_feedback, read_orders
from streams.data.history import FEEDBACK_HEADER, ORDER_HEADER, generate_history, write_csv
from streams.pipeline.epochs import boundary_at_or_before
from tests.conftest import Infra
from tests.integration.worker_process import (
    DAY,
    Outgoing,
    input_records,
    latest_change_per_customer,
    log_tail,
    order,
    prepare_topics,
    produce,
    read_records,
    running_worker,
    tier_changes,
    watermarks,
    worker_env,
)
from tests.unit.builders import REGIONS, regional_profiles
from tiering import Policy, default_policy, load_policy, score_history

pytestmark = pytest.mark.integration

PARTITIONS = 2
MANAGER = AccountManager(id="m-1", name="Manager")


def _policy_file(directory: Path) -> Path:
    """The default policy ranked within regions, as a worker's policy file."""
    default = resources.files("tiering").joinpath("default_policy.yaml").read_text("utf-8")
    assert "rank_within" not in default
    path = directory / "by-region.yaml"
    path.write_text(f"{default}\nrank_within: region\n", encoding="utf-8")
    return path


def _profile_records(name: str, profiles: dict[str, ProfileDimensions]) -> list[Outgoing]:
    """Each profile keyed by its customer (so on the customer's partition), then an
    unparsable record on every partition: once both are dead letters, every profile before
    them has been applied."""
    records: list[Outgoing] = [
        (
            f"{name}-customers",
            customer_id.encode(),
            CustomerProfile(
                customer_id=customer_id,
                account_manager=MANAGER,
                industry=dimensions.industry,
                region=dimensions.region,
            )
            .model_dump_json()
            .encode(),
            [],
            None,
        )
        for customer_id, dimensions in sorted(profiles.items())
    ]
    records += [
        (f"{name}-customers", b"marker", b"{not json", [], partition)
        for partition in range(PARTITIONS)
    ]
    return records


def _agrees(streamed: Classification, expected: Classification, policy: Policy) -> bool:
    """Same counted fields (tier, risk, lifecycle, segment), where a streamed tier above the
    batch's is a tier hold (hysteresis: the batch has no history to hold)."""
    held = policy.tier_rank(streamed.tier) < policy.tier_rank(expected.tier)
    return (
        (streamed.tier == expected.tier or held)
        and streamed.risk == expected.risk
        and streamed.lifecycle == expected.lifecycle
        and streamed.segment == expected.segment
    )


def test_the_last_tier_change_per_customer_agrees_with_the_batch_ranked_within_regions(
    infra: Infra, unique_name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    generated = generate_history(300, 3_000, seed=31, span_days=400)
    orders_csv = write_csv(tmp_path / "orders.csv", ORDER_HEADER, generated.orders)
    feedback_csv = write_csv(tmp_path / "feedback.csv", FEEDBACK_HEADER, generated.feedback)
    orders: list[OrderEvent] = list(read_orders(orders_csv, CsvReport(orders_csv)))
    feedback: list[FeedbackEvent] = list(read_feedback(feedback_csv, CsvReport(feedback_csv)))
    final = boundary_at_or_before(max(e.occurred_at for e in orders), DAY) + timedelta(days=1)
    profiles = regional_profiles({e.customer_id for e in [*orders, *feedback]})
    assert {dimensions.region for dimensions in profiles.values()} == {*REGIONS, None}
    policy_path = _policy_file(tmp_path)
    policy = load_policy(policy_path)
    assert policy.rank_within == "region"
    batch = score_history(orders, feedback, policy, final, profiles=profiles)
    expected = {e.customer_id: e.classification for e in batch.evaluations}
    # Ranking within regions must move more tiers than the tolerance, or agreement would
    # prove nothing about it.
    everyone = score_history(orders, feedback, default_policy(), final)
    moved = sum(expected[e.customer_id].tier != e.classification.tier for e in everyone.evaluations)
    assert moved > 0.005 * len(expected)

    env = worker_env(infra, unique_name, tmp_path / "data", TIERSTREAM_POLICY=str(policy_path))
    prepare_topics(infra, unique_name, PARTITIONS)
    log = tmp_path / "worker.log"
    with running_worker(env, log):
        asyncio.run(produce(infra.kafka_bootstrap, _profile_records(unique_name, profiles)))
        dead = asyncio.run(
            read_records(
                infra.kafka_bootstrap, f"{unique_name}-dlq", expected=PARTITIONS, timeout=120
            )
        )
        assert len(dead) == PARTITIONS, log_tail(log)
        for variable, value in env.items():
            monkeypatch.setenv(variable, value)
        replay = ["replay", str(orders_csv), "--feedback", str(feedback_csv)]
        watermark = final + timedelta(microseconds=1)
        assert main([*replay, "--watermark", watermark.isoformat()]) == 0
        changes = latest_change_per_customer(
            infra, unique_name, PARTITIONS, final, len(expected), log, 600
        )

    latest = {customer: change.current for customer, change in changes.items()}
    assert latest.keys() == expected.keys(), log_tail(log)
    disagreements = [
        (customer, latest[customer], wanted)
        for customer, wanted in expected.items()
        if not _agrees(latest[customer], wanted, policy)
    ]
    agreement = 1 - len(disagreements) / len(expected)
    print(f"rank_within=region agreement {agreement:.4f} over {len(expected)} customers")
    assert agreement >= 0.995, disagreements[:5]


def _profile(name: str, customer_id: str, region: str) -> list[Outgoing]:
    """A profile in `region`, then an unparsable record with the same key (its marker)."""
    profile = CustomerProfile(customer_id=customer_id, account_manager=MANAGER, region=region)
    key = customer_id.encode()
    return [
        (f"{name}-customers", key, profile.model_dump_json().encode(), [], None),
        (f"{name}-customers", key, b"{not json", [], None),
    ]


def test_a_profile_moving_a_customer_to_another_region_reranks_it_at_the_next_boundary(
    infra: Infra, unique_name: str, tmp_path: Path
) -> None:
    """'mover' (100) is ranked C in emea beside 'big' (1,000); its profile then moves it to
    apac, where only 'small' (10) buys: A from the next boundary, with no order of its own."""
    monday = datetime(2026, 1, 5, tzinfo=UTC)
    policy_path = _policy_file(tmp_path)
    env = worker_env(infra, unique_name, tmp_path / "data", TIERSTREAM_POLICY=str(policy_path))
    prepare_topics(infra, unique_name, PARTITIONS)
    log = tmp_path / "worker.log"
    day_one = [
        order(customer, f"O-{customer}", monday + timedelta(hours=9), amount)
        for customer, amount in (("big", "1000"), ("mover", "100"), ("small", "10"))
    ]
    regions = {"big": "emea", "mover": "emea", "small": "apac"}
    with running_worker(env, log):
        profiles = [r for c, region in regions.items() for r in _profile(unique_name, c, region)]
        asyncio.run(produce(infra.kafka_bootstrap, profiles))
        dead = asyncio.run(
            read_records(infra.kafka_bootstrap, f"{unique_name}-dlq", expected=3, timeout=120)
        )
        assert len(dead) == 3, log_tail(log)
        orders = input_records(unique_name, day_one)
        first_close = monday + timedelta(days=1)
        marks = watermarks(unique_name, first_close + timedelta(microseconds=1), PARTITIONS)
        asyncio.run(produce(infra.kafka_bootstrap, [*orders, *marks]))
        initial = tier_changes(infra, unique_name, 3, 120)
        assert len(initial) == 3, log_tail(log)

        asyncio.run(produce(infra.kafka_bootstrap, _profile(unique_name, "mover", "apac")))
        dead = asyncio.run(
            read_records(infra.kafka_bootstrap, f"{unique_name}-dlq", expected=4, timeout=120)
        )
        assert len(dead) == 4, log_tail(log)
        second_close = monday + timedelta(days=2)
        marks = watermarks(unique_name, second_close + timedelta(microseconds=1), PARTITIONS)
        asyncio.run(produce(infra.kafka_bootstrap, marks))
        received = tier_changes(infra, unique_name, 4, 120)

    moves = [(c.occurred_at, c.current.tier) for c in received if c.customer_id == "mover"]
    assert moves == [(first_close, "C"), (second_close, "A")], log_tail(log)
