"""Real parts for the notifier's integration tests: an HTTP sink, an SMTP sink, topics, events.

The sinks verify what they receive the way a customer's system would: the webhook sink
checks every signature with `verify_signature` and counts deliveries per event id.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiosmtpd.controller import Controller
from prometheus_client import CollectorRegistry

from schemas import Lifecycle, Risk
from schemas.profile import AccountManager, CustomerProfile
from schemas.tier_changed import TierChanged
from streams.notifier.service import Notifier
from streams.notifier.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify_signature
from streams.notifier.testing import classification, tier_changed
from streams.settings import load_settings
from tests.conftest import Infra
from tiering import default_policy

REPO = Path(__file__).resolve().parents[2]
SECRET = "test-secret"  # noqa: S105 - a test sink's signing key, not a credential
START = datetime(2026, 3, 1, tzinfo=UTC)


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class WebhookSink:
    """Records signed alert POSTs. `fail_every` > 0 answers 503 to every n-th request;
    `fail_first_try` answers 503 to the first request of every idempotency key (so exactly
    half of all requests fail, whatever the interleaving of concurrent senders)."""

    fail_every: int = 0
    fail_first_try: bool = False
    tried: set[str] = field(default_factory=set)
    delay: float = 0.0
    requests: int = 0
    bad_signatures: int = 0
    accepted: list[dict[str, Any]] = field(default_factory=list)
    raw: list[tuple[bytes, dict[str, str]]] = field(default_factory=list)
    server: TestServer | None = None

    async def _handle(self, request: web.Request) -> web.Response:
        self.requests += 1
        body = await request.read()
        headers = dict(request.headers)
        if not verify_signature(
            SECRET,
            body,
            headers.get(TIMESTAMP_HEADER, ""),
            headers.get(SIGNATURE_HEADER, ""),
            now=time.time(),
        ):
            self.bad_signatures += 1
            return web.Response(status=401)
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.fail_every and self.requests % self.fail_every == 0:
            return web.Response(status=503)
        key = headers.get("Idempotency-Key", "")
        if self.fail_first_try and key not in self.tried:
            self.tried.add(key)
            return web.Response(status=503)
        self.raw.append((body, headers))
        self.accepted.append(json.loads(body))
        return web.Response(status=204)

    async def start(self) -> str:
        app = web.Application()
        app.router.add_post("/hook", self._handle)
        self.server = TestServer(app, host="127.0.0.1", port=free_port())
        await self.server.start_server()
        return str(self.server.make_url("/hook"))

    async def close(self) -> None:
        if self.server is not None:
            await self.server.close()

    def deliveries(self) -> Counter[str]:
        """Accepted deliveries per event id (a digest counts once for each of its alerts)."""
        return Counter(item["event_id"] for body in self.accepted for item in body["alerts"])

    def managers(self) -> dict[str, str]:
        """event id -> the manager its message was addressed to."""
        return {
            item["event_id"]: body["manager_id"]
            for body in self.accepted
            for item in body["alerts"]
        }


class _MailHandler:
    def __init__(self) -> None:
        self.messages: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(message_from_bytes(envelope.content, policy=policy.default))
        return "250 OK"


class SmtpSink:
    """A local SMTP server (aiosmtpd) that keeps every message."""

    def __init__(self) -> None:
        self.handler = _MailHandler()
        self.port = free_port()
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port)

    def __enter__(self) -> SmtpSink:
        self.controller.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.controller.stop()

    @property
    def messages(self) -> list[Any]:
        return self.handler.messages


async def create_topics(infra: Infra, name: str, partitions: int = 3) -> tuple[str, str]:
    """Fresh `tier-changes` and compacted `customers` topics for one test."""
    tier_changes, customers = f"{name}-tier-changes", f"{name}-customers"
    admin = AIOKafkaAdminClient(bootstrap_servers=infra.kafka_bootstrap)
    await admin.start()
    try:
        await admin.create_topics(
            [
                NewTopic(tier_changes, partitions, 1),
                NewTopic(customers, 1, 1, topic_configs={"cleanup.policy": "compact"}),
            ]
        )
    finally:
        await admin.close()
    return tier_changes, customers


async def produce(
    infra: Infra,
    topic: str,
    records: list[tuple[str, bytes | None]],
) -> None:
    """Publish (key, value) records; key = customer_id, a None value is a tombstone."""
    producer = AIOKafkaProducer(
        bootstrap_servers=infra.kafka_bootstrap, acks="all", enable_idempotence=True
    )
    await producer.start()
    try:
        for key, value in records:
            await producer.send(topic, value, key=key.encode())
        await producer.flush()
    finally:
        await producer.stop()


def event_records(events: list[TierChanged]) -> list[tuple[str, bytes | None]]:
    """TierChanged events as Kafka records (key customer_id, JSON value)."""
    return [(event.customer_id, event.model_dump_json().encode()) for event in events]


def profile_records(managers: dict[str, AccountManager]) -> list[tuple[str, bytes | None]]:
    """CustomerProfile records for customer -> manager."""
    return [
        (
            customer,
            CustomerProfile(customer_id=customer, account_manager=manager)
            .model_dump_json()
            .encode(),
        )
        for customer, manager in managers.items()
    ]


@dataclass(frozen=True)
class History:
    """Events for some customers, and which of them must alert."""

    events: list[TierChanged]
    alerting: set[str]


def history(customers: list[str], *, hour_offset: int = 0) -> History:
    """Per customer: a first classification (no alert), an upgrade B->A (alert), a segment
    change (no alert), and for every third customer a complaint making it at_risk (alert)."""
    events: list[TierChanged] = []
    alerting: set[str] = set()
    for index, customer in enumerate(customers):
        at = START + timedelta(hours=hour_offset + index)
        first = classification("B")
        upgraded = classification("A")
        events.append(tier_changed(customer, None, first, occurred_at=at))
        upgrade = tier_changed(customer, first, upgraded, occurred_at=at + timedelta(days=1))
        events.append(upgrade)
        alerting.add(upgrade.event_id)
        from schemas import RfmSegment

        champion = classification("A", segment=RfmSegment.CHAMPIONS)
        events.append(
            tier_changed(customer, upgraded, champion, occurred_at=at + timedelta(days=2))
        )
        if index % 3 == 0:
            unhappy = classification(
                "A", risk=Risk.AT_RISK, segment=RfmSegment.CHAMPIONS, lifecycle=Lifecycle.MATURE
            )
            complaint = tier_changed(
                customer, champion, unhappy, occurred_at=at + timedelta(days=3), complaint=True
            )
            events.append(complaint)
            alerting.add(complaint.event_id)
    return History(events, alerting)


def notifier_env(infra: Infra, name: str, topics: tuple[str, str], **extra: str) -> dict[str, str]:
    """Environment of a notifier for one test: its own topics, group and Redis prefix."""
    tier_changes, customers = topics
    env = {
        "TIERSTREAM_KAFKA_BOOTSTRAP": infra.kafka_bootstrap,
        "TIERSTREAM_REDIS_URL": infra.redis_url,
        "TIERSTREAM_REDIS__KEY_PREFIX": name,
        "TIERSTREAM_TOPICS__TIER_CHANGES": tier_changes,
        "TIERSTREAM_TOPICS__CUSTOMERS": customers,
        "TIERSTREAM_TOPICS__PARTITIONS": "3",
        "TIERSTREAM_TOPICS__DEAD_LETTER": f"{name}-dlq",
        "TIERSTREAM_NOTIFIER__GROUP_ID": f"{name}-notifier",
        "TIERSTREAM_NOTIFIER__PORT": str(free_port()),
        "TIERSTREAM_NOTIFIER__BACKOFF_BASE_SECONDS": "0.01",
        "TIERSTREAM_NOTIFIER__BACKOFF_MAX_SECONDS": "0.1",
        # The tests' webhook sinks are plain http on loopback.
        "TIERSTREAM_NOTIFIER__WEBHOOK__ALLOW_PLAIN_HTTP": "true",
    }
    env.update({f"TIERSTREAM_NOTIFIER__{key.upper()}": value for key, value in extra.items()})
    return env


class NotifierProcess:
    """`python -m streams.cli.main notifier` as a subprocess (so it can be killed with SIGKILL)."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self._log = log.open("ab")
        self.port = int(env["TIERSTREAM_NOTIFIER__PORT"])
        self.process = subprocess.Popen(
            [sys.executable, "-m", "streams.cli", "notifier"],
            cwd=REPO,
            env={**os.environ, **env},
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)
        self._log.close()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        if not self._log.closed:
            self._log.close()


async def wait_until(condition: Any, timeout: float, what: str) -> None:
    """Poll `condition()` (sync or async) every 50 ms until true, else fail naming `what`."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        result = condition()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        assert asyncio.get_running_loop().time() < deadline, f"timed out after {timeout}s: {what}"
        await asyncio.sleep(0.05)


@asynccontextmanager
async def running_notifier(env: dict[str, str], monkeypatch: Any) -> AsyncIterator[Notifier]:
    """A notifier in this process (same code as `tierstream notifier`), stopped on exit."""
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    notifier = Notifier(load_settings(), default_policy(), CollectorRegistry())
    stop = asyncio.Event()
    task = asyncio.create_task(notifier.run(stop))
    try:
        await wait_until(lambda: notifier.healthy() or task.done(), 30, "notifier started")
        assert not task.done(), task.exception()
        yield notifier
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)


class OwnRedis:
    """A redis-server of one test on a free loopback port (never the shared one), with an
    append-only file fsynced on every write, so a stop and restart keeps every key."""

    def __init__(self, directory: Path) -> None:
        binary = shutil.which("redis-server")
        assert binary, "redis-server is not installed (scripts/infra installs it)"
        self._binary = binary
        self.port = free_port()
        self._directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    async def start(self) -> None:
        log = (self._directory / "redis.log").open("ab")
        self.process = subprocess.Popen(
            [
                self._binary,
                "--bind",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--dir",
                str(self._directory),
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
                "--save",
                "",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()

        async def answers() -> bool:
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", self.port)
            except OSError:
                return False
            writer.close()
            await writer.wait_closed()
            return True

        await wait_until(answers, 15, "own redis-server listening")

    def stop(self) -> None:
        """SIGTERM (the server writes its append-only file and exits) and wait."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=15)
        self.process = None
