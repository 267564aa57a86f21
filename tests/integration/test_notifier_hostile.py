"""Hostile TierChanged records and profiles through the notifier itself, on real Redis and
real sinks: every alert ends delivered or parked with a reason on every channel, and the
notifier never raises.

Each example goes through `Notifier.handle` (decode, read model, routing, Redis streams,
queue) and the dispatcher's sends to a Slack-format webhook sink and an SMTP sink. The
asyncio parts run on one event loop in a thread, shared by the examples, because hypothesis
drives synchronous test functions.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

import pytest
from aiokafka import TopicPartition
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry
from pydantic import ValidationError

from schemas.profile import AccountManager
from schemas.tier_changed import TierChanged
from streams.notifier.escape import header_token
from streams.notifier.service import Notifier
from streams.notifier.testing import classification, tier_changed
from streams.settings import load_settings
from tests.conftest import Infra
from tests.integration.notifier_harness import SECRET, SmtpSink, WebhookSink, notifier_env
from tiering import default_policy

pytestmark = pytest.mark.integration

T = TypeVar("T")
BASE = tier_changed("c-1", classification("B"), classification("A"))
TP = TopicPartition("t", 0)

_NASTY = [
    "\n",
    "\x85",
    "\u2028",
    "\x00",
    "\u202e",
    "<!channel>",
    "<@U0123ABC>",
    "<https://evil.example|x>",
    "&",
    "Subject: x\r\nBcc: evil@example.com",
    "🙂",
    ",",
    ":",
    " ",
]
hostile = st.one_of(
    st.lists(st.sampled_from([*_NASTY, "a", "0"]), min_size=1, max_size=6).map("".join),
    st.text(min_size=1, max_size=40),
)
addresses = st.one_of(
    st.none(),
    st.sampled_from(["ada@example.com", "a,b@example.com", "x<y>@example.com", "\x1e@x.org"]),
)


@dataclass(frozen=True)
class _Record:
    """What the notifier reads of an aiokafka ConsumerRecord."""

    key: bytes | None
    value: bytes
    offset: int
    timestamp: int  # milliseconds since the epoch, as Kafka stamps it


class _Loop:
    """An event loop in a thread, for async work inside synchronous hypothesis examples."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()

    def run(self, coroutine: Coroutine[Any, Any, T], timeout: float = 30) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=10)
        self.loop.close()


@dataclass
class _World:
    loop: _Loop
    webhook: WebhookSink
    smtp: SmtpSink
    env: dict[str, str]


@pytest.fixture
def world(infra: Infra, unique_name: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[_World]:
    loop = _Loop()
    webhook = WebhookSink()
    url = loop.run(webhook.start())
    with SmtpSink() as smtp:
        env = notifier_env(
            infra,
            unique_name,
            ("t-tier-changes", "t-customers"),
            webhook__url=url,
            webhook__secret=SECRET,
            webhook__format="slack",
            email__host="127.0.0.1",
            email__port=str(smtp.port),
            max_attempts="1",
            burst="1000",
            rate_per_minute="60000",
        )
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        try:
            yield _World(loop, webhook, smtp, env)
        finally:
            loop.run(webhook.close())
            loop.close()


def _event(customer: str, event_id: str, reason: str) -> TierChanged:
    raw: dict[str, Any] = BASE.model_dump(mode="json")
    raw.update(customer_id=customer, event_id=event_id)
    raw["reasons"] = [{"code": "tier.abc_rank", "text": reason}]
    try:
        return TierChanged.model_validate_json(json.dumps(raw))
    except ValidationError:
        assume(False)
        raise


def _manager(manager_id: str, name: str, slack: str | None, email: str | None) -> AccountManager:
    try:
        return AccountManager.model_validate(
            {"id": manager_id, "name": name, "slack": slack, "email": email}
        )
    except ValidationError:
        assume(False)
        raise


async def _through_the_notifier(
    event: TierChanged, manager: AccountManager, prefix: str
) -> tuple[set[str], dict[str, str]]:
    """Handle one record and wait for its sends; (channels that sent it, channel -> error of
    its parked entry)."""
    settings = load_settings()
    notifier = Notifier(
        settings.model_copy(
            update={"redis": settings.redis.model_copy(update={"key_prefix": prefix})}
        ),
        default_policy(),
        CollectorRegistry(),
    )
    try:
        notifier.profiles.managers[event.customer_id] = manager
        record = _Record(
            event.customer_id.encode(), event.model_dump_json().encode(), 0, int(time.time() * 1000)
        )
        await notifier.handle(TP, record)  # type: ignore[arg-type]
        notifier.dispatcher.flush(notifier.clock.monotonic())
        async with asyncio.timeout(20):
            while not notifier.dispatcher.idle():
                await asyncio.sleep(0.005)
        assert notifier.dispatcher.failure is None
        sent = {
            channel
            for channel, outcome in (("webhook", "sent"), ("email", "sent"))
            if notifier.registry.get_sample_value(
                "tierstream_alerts_total", {"channel": channel, "outcome": outcome}
            )
        }
        parked = {
            entry.channel: entry.error
            for entry in await notifier.deliverer.parked()
            if event.event_id in entry.event_ids
        }
        return sent, parked
    finally:
        for channel in notifier.channels:
            await channel.close()
        await notifier.redis.aclose()


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.function_scoped_fixture],
)
@given(
    customer=hostile,
    event_id=hostile,
    reason=hostile,
    manager_id=hostile,
    name=hostile,
    slack=st.one_of(st.none(), hostile),
    email=addresses,
)
def test_hostile_records_and_profiles_end_delivered_or_parked_on_every_channel(
    world: _World,
    customer: str,
    event_id: str,
    reason: str,
    manager_id: str,
    name: str,
    slack: str | None,
    email: str | None,
) -> None:
    event = _event(customer, event_id, reason)
    manager = _manager(manager_id, name, slack, email)
    # A fresh key prefix per example: marks of an earlier example must not dedupe this one.
    prefix = f"{world.env['TIERSTREAM_REDIS__KEY_PREFIX']}-{uuid.uuid4().hex[:8]}"
    sent, parked = world.loop.run(_through_the_notifier(event, manager, prefix))

    key = header_token(event.event_id)
    assert "webhook" in sent and not parked.get("webhook")
    requests = [headers for _, headers in world.webhook.raw if headers["Idempotency-Key"] == key]
    assert requests
    slack_text = json.loads(world.webhook.raw[-1][0])["text"]
    assert "<!" not in slack_text
    if manager.email is None:
        assert "email" not in sent and "email" not in parked  # skipped: nobody to mail
    elif "email" in parked:
        assert "not one plain ASCII address" in parked["email"]
    else:
        assert "email" in sent
        mailed = [m for m in world.smtp.messages if m["X-Tierstream-Idempotency-Key"] == key]
        assert mailed and mailed[-1]["To"] == manager.email
