"""Worker and notifier as real processes on the real broker and Redis, under a given policy.

One small history drives both tests: eleven customers who bought once 250 days before the
first day (so by then they are in lifecycle decline), a customer `c-star` who buys 100 on
day one and 400 on day two, and a complaint from the biggest customer on day two. On day
two c-star's monetary (500) ranks below the top 50 %, while its growth projection
second_half × 365 / 182 ≈ 1,003 would rank second of twelve (top 20 %, and top 15 %): it
becomes a rising star (tiering.rising), under the default policy (a C customer) as under a
four-layer policy. The in-process pipeline (LocalPipeline, the same stage classes) tells
which TierChanged events the worker must publish; the webhook sink and the Redis read model
show what the notifier made of them.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as redis

from schemas import FeedbackEvent, FeedbackKind, OrderEvent
from schemas.tier_changed import TierChanged
from streams.cli.main import main
from streams.kafka.admin import ensure_topics
from streams.notifier.keys import Keys
from streams.notifier.read_model import ReadModel
from streams.notifier.rules import decide
from streams.pipeline.local_pipeline import LocalPipeline
from tests.conftest import Infra
from tests.integration.notifier_harness import (
    SECRET,
    NotifierProcess,
    WebhookSink,
    notifier_env,
    wait_until,
)
from tests.integration.worker_process import (
    DAY,
    Outgoing,
    log_tail,
    produce,
    read_records,
    running_worker,
    watermarks,
    worker_env,
)
from tests.integration.worker_process import (
    order as order_without_margin,
)
from tiering import Policy, default_policy, load_policy

pytestmark = pytest.mark.integration

PARTITIONS = 2
MONDAY = datetime(2026, 1, 5, tzinfo=UTC)
BASE = MONDAY - timedelta(days=250)
STAR = "c-star"
BIGGEST = "c-0"
AMOUNTS = (2000, 1000, 900, 800, 700, 600, 500, 400, 300, 200, 50)

# The four-layer value policy of examples/policies/ (premium / developing / potential /
# marginal, on the margin basis), as deployed.
LAYERS_FILE = Path(__file__).resolve().parents[2] / "examples" / "policies" / "value_layers.yaml"
ABC_FILE = LAYERS_FILE.with_name("abc.yaml")
# Every order's margin: 30 % of its amount, so the margin ranks are the revenue ranks.
MARGIN_RATE = Decimal("0.3")


def order(customer_id: str, order_id: str, occurred_at: datetime, amount: str) -> OrderEvent:
    """A purchase with its margin (the example value policy ranks by margin)."""
    plain = order_without_margin(customer_id, order_id, occurred_at, amount)
    return plain.model_copy(update={"margin": plain.amount * MARGIN_RATE})


def day_one() -> list[OrderEvent]:
    bought = [
        order(f"c-{n}", f"O{n}", BASE + timedelta(hours=9, minutes=n), str(amount))
        for n, amount in enumerate(AMOUNTS)
    ]
    return [*bought, order(STAR, "S1", MONDAY + timedelta(hours=10), "100")]


def day_two() -> list[OrderEvent | FeedbackEvent]:
    complaint = FeedbackEvent(
        event_id="f-1",
        customer_id=BIGGEST,
        occurred_at=MONDAY + timedelta(days=1, hours=8),
        kind=FeedbackKind.COMPLAINT,
    )
    return [complaint, order(STAR, "S2", MONDAY + timedelta(days=1, hours=9), "400")]


def days() -> list[tuple[Sequence[OrderEvent | FeedbackEvent], datetime]]:
    """Each day's events and the end of that day (the boundary its watermark closes)."""
    return [(day_one(), MONDAY + timedelta(days=1)), (day_two(), MONDAY + timedelta(days=2))]


def expected_changes(policy: Policy) -> list[TierChanged]:
    """What the worker's stages publish for the history, run in-process."""
    pipeline = LocalPipeline(policy, PARTITIONS, DAY)
    for events, closing in days():
        for event in events:
            pipeline.feed(event)
        for partition in range(PARTITIONS):
            pipeline.watermark(partition, closing + timedelta(microseconds=1))
    return list(pipeline.emitted)


def history_records(name: str) -> list[Outgoing]:
    """Both days on the input topics, each closed by a watermark on every partition."""
    records: list[Outgoing] = []
    for events, closing in days():
        for event in events:
            topic = "orders" if isinstance(event, OrderEvent) else "feedback"
            key, value = event.customer_id.encode(), event.model_dump_json().encode()
            records.append((f"{name}-{topic}", key, value, [], None))
        records += watermarks(name, closing + timedelta(microseconds=1), PARTITIONS)
    return records


@dataclass
class Flow:
    """What came out of one run: the published changes, the sink, the read model."""

    changes: list[TierChanged]
    sink: WebhookSink
    model: ReadModel
    worker_log: Path

    def alerts_for(self, customer: str) -> list[dict[str, Any]]:
        return [
            item
            for body in self.sink.accepted
            for item in body["alerts"]
            if item["customer_id"] == customer
        ]

    def texts_for(self, customer: str) -> list[str]:
        """The rendered text of every message that carries an alert of `customer`."""
        return [
            body["text"]
            for body in self.sink.accepted
            if any(item["customer_id"] == customer for item in body["alerts"])
        ]


@asynccontextmanager
async def flow(
    infra: Infra,
    name: str,
    tmp_path: Path,
    policy_file: Path | None,
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[Flow]:
    """Worker and notifier (subprocesses, `policy_file` or the default), the history in,
    and once the read model holds every customer's last change: the outcome."""
    policy = load_policy(policy_file) if policy_file else default_policy()
    expected = expected_changes(policy)
    last = {change.customer_id: change.event_id for change in expected}
    topics = ("orders", "feedback", "customers", "tier-changes", "dlq")
    await ensure_topics(infra.kafka_bootstrap, [f"{name}-{t}" for t in topics], PARTITIONS, 1)
    chosen = {"TIERSTREAM_POLICY": str(policy_file)} if policy_file else {}
    sink = WebhookSink()
    url = await sink.start()
    env = notifier_env(
        infra,
        name,
        (f"{name}-tier-changes", f"{name}-customers"),
        default_owner="owner",
        webhook__url=url,
        webhook__secret=SECRET,
        burst="100",
        rate_per_minute="6000",
    )
    env.update({"TIERSTREAM_TOPICS__PARTITIONS": str(PARTITIONS), **chosen})
    for variable, value in env.items():  # for `tierstream tier` in this process
        monkeypatch.setenv(variable, value)
    client = redis.from_url(infra.redis_url)
    model = ReadModel(client, Keys(name))
    log = tmp_path / "worker.log"
    notifier = NotifierProcess(env, tmp_path / "notifier.log")
    try:
        with running_worker({**worker_env(infra, name, tmp_path / "data"), **chosen}, log):
            await produce(infra.kafka_bootstrap, history_records(name))
            records = await read_records(
                infra.kafka_bootstrap, f"{name}-tier-changes", expected=len(expected), timeout=180
            )
            changes = [TierChanged.model_validate_json(record.value) for record in records]
            assert len(changes) == len(expected), log_tail(log)

            async def caught_up() -> bool:
                stored = [await model.get(customer) for customer in last]
                return all(s is not None and s.event_id == last[s.customer_id] for s in stored)

            await wait_until(caught_up, 60, "read model holds every customer's last change")
            alerting = {c.event_id for c in expected if decide(c, policy) is not None}
            await wait_until(
                lambda: set(sink.deliveries()) >= alerting, 60, "every alert on the webhook"
            )
            await asyncio.sleep(0.5)  # room for a duplicate to show up, if there were one
            assert sink.deliveries() == dict.fromkeys(alerting, 1)
        assert {c.event_id for c in changes} == {c.event_id for c in expected}
        yield Flow(changes, sink, model, log)
    finally:
        notifier.stop()
        await sink.close()
        await client.aclose()


async def test_a_customer_becoming_a_rising_star_alerts_the_webhook_with_why(
    infra: Infra, unique_name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Under the example ABC policy (the default's tiers, as a deployed file)."""
    async with flow(infra, unique_name, tmp_path, ABC_FILE, monkeypatch) as outcome:
        became = [c for c in outcome.changes if c.customer_id == STAR and c.current.rising_star]
        assert len(became) == 1 and became[0].current.tier == "C", log_tail(outcome.worker_log)
        why = next(r.text for r in became[0].reasons if r.code == "tier.rising_star")

        alerts = outcome.alerts_for(STAR)
        assert [(a["event_id"], a["triggers"]) for a in alerts] == [
            (became[0].event_id, ["rising_star"])
        ]
        assert alerts[0]["tier_label"] == "general"
        assert {"code": "tier.rising_star", "text": why} in alerts[0]["reasons"]
        assert why in outcome.texts_for(STAR)[0]
        assert "customer c-star: rising star" in outcome.texts_for(STAR)[0]


async def test_the_four_layer_policy_names_the_tiers_of_changes_alerts_and_read_model(
    infra: Infra,
    unique_name: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    policy_file = LAYERS_FILE
    policy = load_policy(policy_file)
    names = set(policy.tier_names)
    assert names == {"premium", "developing", "potential", "marginal"}
    async with flow(infra, unique_name, tmp_path, policy_file, monkeypatch) as outcome:
        assert {c.current.tier for c in outcome.changes} == names
        assert {c.policy_version for c in outcome.changes} == {policy.version}

        labels = {tier.name: tier.label for tier in policy.tiers}
        levels = {tier.name: tier.service_level for tier in policy.tiers}
        alerts = [item for body in outcome.sink.accepted for item in body["alerts"]]
        assert all(a["tier_label"] == labels[a["tier"]] for a in alerts)
        assert all(a["service_level"] == levels[a["tier"]] for a in alerts)
        complaint = [a for a in alerts if "complaint" in a["triggers"]]
        assert [(a["customer_id"], a["tier"]) for a in complaint] == [(BIGGEST, "premium")]
        expected = f"Service level for tier premium ({labels['premium']})"
        assert expected in outcome.texts_for(BIGGEST)[-1]
        star = outcome.alerts_for(STAR)
        assert [(a["triggers"], a["tier"]) for a in star] == [(["rising_star"], "potential")]

        last = {c.customer_id: c.current.tier for c in outcome.changes}
        counts = await outcome.model.tier_counts()
        assert counts == {name: list(last.values()).count(name) for name in names}
        assert all(counts[name] > 0 for name in names)
        for customer, tier in last.items():
            stored = await outcome.model.get(customer)
            assert stored is not None and stored.classification.tier == tier
        assert sorted(await outcome.model.tier_members("marginal")) == sorted(
            c for c, tier in last.items() if tier == "marginal"
        )
        assert await asyncio.to_thread(main, ["tier", STAR]) == 0
        assert "tier          potential" in capsys.readouterr().out
