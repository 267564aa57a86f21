"""One demo run: topics, sink, worker and notifier, the paced feed, the live view, the end.

Everything the run creates is named after a fresh run id (app id, topics, consumer group,
Redis key prefix), so runs never collide with each other or with tests on the same broker.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import signal
import sys
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.live import Live

from streams.demo.board import Board
from streams.demo.feed import Event, final_watermark, load_sample, paced_replay
from streams.demo.processes import DEMO_OWNER, Child, DemoNames, notifier_env, worker_env
from streams.demo.reads import DemoTokens, follow_alerts, look_up
from streams.demo.sink import WebhookSink, free_port

__all__ = ["DemoOptions", "run_session"]

EPOCH_SECONDS = 86_400
STOP_TIMEOUT = 20.0
PLAIN_EVERY = 5.0


@dataclass(frozen=True)
class DemoOptions:
    """What `tierstream demo` was asked for, and where the infrastructure is."""

    bootstrap: str
    redis_url: str
    workdir: Path
    duration: float
    customers: int
    orders: int
    rate: float | None
    partitions: int
    seed: int
    cleanup_shared: bool
    # The demo's own clients connect as the processes it starts do (they inherit the
    # TIERSTREAM_KAFKA__* and TIERSTREAM_REDIS__* variables): SASL/TLS options of
    # streams.kafka.security.client_options and the CA of a rediss:// URL.
    kafka_options: Mapping[str, Any] = field(default_factory=dict)
    redis_ca_file: Path | None = None


def run_session(options: DemoOptions) -> int:
    """Run the demo; 0 on success, 1 when a process died or nothing came out."""
    return asyncio.run(_Session(options).run())


class _Session:
    def __init__(self, options: DemoOptions) -> None:
        self.options = options
        self.names = DemoNames(f"demo-{uuid.uuid4().hex[:8]}")
        self.console = Console()
        self.stop = asyncio.Event()
        self.interrupted = False
        self.sink = WebhookSink(secret=secrets.token_hex(16))
        self.children: list[Child] = []
        self.tokens = DemoTokens.create(options.workdir, DEMO_OWNER)
        self.worker_port = free_port()
        self.notifier_port = free_port()

    def _interrupt(self) -> None:
        self.interrupted = True
        self.stop.set()

    async def run(self) -> int:
        options, names = self.options, self.names
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, self._interrupt)
        sample = load_sample(options.workdir, options.customers, options.orders, options.seed)
        rate = options.rate or max(len(sample.events) / (0.7 * options.duration), 20.0)
        board = Board(names.run_id, options.duration, len(sample.events), self.sink)
        board.skipped_rows = sample.skipped_rows
        self.console.print(
            f"tierstream demo: run {names.run_id}, {len(sample.events):,} events of "
            f"{options.customers:,} customers at {rate:,.0f}/s; Kafka {options.bootstrap}; "
            f"logs in {options.workdir}",
            soft_wrap=True,
        )
        from streams.kafka.admin import ensure_topics

        roles = ("orders", "feedback", "tier-changes", "dlq")
        topics = [names.topic(role) for role in roles]
        await ensure_topics(
            options.bootstrap, topics, options.partitions, 1, client_options=options.kafka_options
        )
        url = await self.sink.start()
        failure: str | None = None
        tasks: list[asyncio.Task[object]] = []
        try:
            self._start_children(url)
            alerts_url = f"http://127.0.0.1:{self.notifier_port}/alerts/stream?manager={DEMO_OWNER}"
            tasks = [
                asyncio.create_task(self._feed(sample.events, rate, board)),
                asyncio.create_task(self._consume(board)),
                asyncio.create_task(
                    follow_alerts(alerts_url, self.tokens.manager, board.on_sse_alert)
                ),
            ]
            failure = await self._show(board, tasks)
            if failure is None:
                await self._look_up(board)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            outcomes = await asyncio.gather(
                *(asyncio.to_thread(child.stop, STOP_TIMEOUT) for child in self.children)
            )
            await self.sink.close()
            if options.cleanup_shared:
                await _cleanup(options, names)
        return self._report(board, failure, dict(zip(self._child_names(), outcomes, strict=True)))

    def _child_names(self) -> list[str]:
        return [child.name for child in self.children]

    def _start_children(self, url: str) -> None:
        options, names = self.options, self.names
        data_dir = options.workdir / "data"
        data_dir.mkdir(exist_ok=True)
        self.children = [
            Child(
                "worker",
                "worker",
                worker_env(
                    names,
                    options.bootstrap,
                    data_dir,
                    options.partitions,
                    port=self.worker_port,
                    tokens_file=self.tokens.path,
                ),
                options.workdir / "worker.log",
            ),
            Child(
                "notifier",
                "notifier",
                notifier_env(
                    names,
                    options.bootstrap,
                    options.redis_url,
                    options.partitions,
                    webhook_url=url,
                    secret=self.sink.secret,
                    port=self.notifier_port,
                    tokens_file=self.tokens.path,
                ),
                options.workdir / "notifier.log",
            ),
        ]
        for child in self.children:
            child.start()

    async def _feed(self, sample: list[Event], rate: float, board: Board) -> None:
        await paced_replay(
            sample,
            self.options.bootstrap,
            (self.names.topic("orders"), self.names.topic("feedback")),
            partitions=self.options.partitions,
            rate=rate,
            final=final_watermark(sample, EPOCH_SECONDS),
            on_progress=board.on_progress,
            client_options=self.options.kafka_options,
        )
        board.replay_done = True

    async def _consume(self, board: Board) -> None:
        from aiokafka import AIOKafkaConsumer
        from pydantic import ValidationError

        from schemas.tier_changed import TierChanged

        consumer = AIOKafkaConsumer(
            self.names.topic("tier-changes"),
            bootstrap_servers=self.options.bootstrap,
            auto_offset_reset="earliest",
            isolation_level="read_committed",
            enable_auto_commit=False,
            **self.options.kafka_options,
        )
        await consumer.start()
        try:
            while True:
                for batch in (await consumer.getmany(timeout_ms=500)).values():
                    for record in batch:
                        with contextlib.suppress(ValidationError):
                            board.on_tier_changed(TierChanged.model_validate_json(record.value))
        finally:
            await consumer.stop()

    async def _look_up(self, board: Board) -> None:
        """Ask the worker for the latest changed customer, with the admin token and without."""
        customer = board.last_customer()
        if customer is None:
            return
        base = f"http://127.0.0.1:{self.worker_port}"
        try:
            board.lookup = (await look_up(base, customer, self.tokens.admin)).describe()
        except Exception as error:  # a failed lookup is reported, it does not end the demo
            board.lookup = f"failed: {type(error).__name__}"

    def _check_children(self, board: Board) -> str | None:
        for child in self.children:
            code = child.exit_code()
            board.processes[child.name] = "running" if code is None else f"exited ({code})"
            if code is not None:
                return f"the {child.name} exited with code {code}; see its log: {child.log_path}"
        return None

    async def _show(self, board: Board, tasks: list[asyncio.Task[object]]) -> str | None:
        """Refresh the view until the duration passes, Ctrl-C, or a process dies."""
        deadline = board.started + self.options.duration
        live = self.console.is_terminal
        last_plain = 0.0
        view = Live(board.render(), console=self.console, auto_refresh=False) if live else None
        with view or contextlib.nullcontext():
            while not self.stop.is_set() and time.monotonic() < deadline:
                failure = self._check_children(board) or _task_failure(tasks)
                if failure:
                    return failure
                if view is not None:
                    view.update(board.render(), refresh=True)
                elif time.monotonic() - last_plain >= PLAIN_EVERY:
                    last_plain = time.monotonic()
                    print(board.plain_line(), flush=True)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.stop.wait(), timeout=0.25)
            if view is not None:
                view.update(board.render(), refresh=True)
        return self._check_children(board)

    def _report(self, board: Board, failure: str | None, outcomes: dict[str, str]) -> int:
        console = self.console
        if not console.is_terminal:
            print(board.plain_line(), flush=True)
        ending = "failed" if failure else "interrupted" if self.interrupted else "done"
        console.print(f"\n[bold]tierstream demo {ending}[/] (run {self.names.run_id})")
        for line in board.summary_lines():
            console.print("  " + line, highlight=False, soft_wrap=True)
        for name, outcome in outcomes.items():
            console.print(f"  {name + ':':<20}{outcome}", highlight=False, soft_wrap=True)
        console.print(f"  {'logs:':<20}{self.options.workdir}", highlight=False, soft_wrap=True)
        if failure:
            console.print(
                f"[bold red]tierstream demo failed[/]: {failure}", highlight=False, soft_wrap=True
            )
            return 1
        if board.tier_changes == 0 and not self.interrupted:
            worker_log = self.options.workdir / "worker.log"
            console.print(
                f"[bold red]tierstream demo failed[/]: no TierChanged within "
                f"{self.options.duration:.0f} s; see the worker log: {worker_log}",
                highlight=False,
                soft_wrap=True,
            )
            return 1
        return 0


def _task_failure(tasks: list[asyncio.Task[object]]) -> str | None:
    for task in tasks:
        if task.done() and not task.cancelled() and task.exception() is not None:
            return f"the demo's own Kafka client failed: {task.exception()!r}"
    return None


async def _cleanup(options: DemoOptions, names: DemoNames) -> None:
    """Delete the run's topics and Redis keys from infrastructure that stays up."""
    from aiokafka.admin import AIOKafkaAdminClient
    from pydantic import SecretStr

    from streams.notifier.keys import close, connect
    from streams.settings import RedisSettings

    try:
        admin = AIOKafkaAdminClient(bootstrap_servers=options.bootstrap, **options.kafka_options)
        await admin.start()
        try:
            ours = [t for t in await admin.list_topics() if t.startswith(f"{names.run_id}-")]
            if ours:
                await asyncio.wait_for(admin.delete_topics(ours), timeout=30)
        finally:
            await admin.close()
        client = connect(
            RedisSettings(url=SecretStr(options.redis_url), ssl_ca_certs=options.redis_ca_file)
        )
        try:
            keys = [
                key async for key in client.scan_iter(match=f"{names.redis_prefix}:*", count=500)
            ]
            for start in range(0, len(keys), 500):
                await client.delete(*keys[start : start + 500])
        finally:
            await close(client)
    except Exception as error:  # tidying up must not hide the demo's result
        print(f"tierstream demo: could not remove the run's topics/keys: {error}", file=sys.stderr)
