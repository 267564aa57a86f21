"""The demo's child processes: `tierstream worker` and `tierstream notifier`.

Each runs in its own session, so a Ctrl-C in the terminal reaches the demo only and the demo
stops them in order; their output goes to a log file, never to the terminal.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

__all__ = ["DEMO_OWNER", "Child", "DemoNames", "notifier_env", "worker_env"]

# Every alert of the demo goes to this manager (its customers have no profiles).
DEMO_OWNER = "demo-owner"


@dataclass(frozen=True)
class DemoNames:
    """Names of one demo run: app id, topics, consumer group and Redis prefix, all fresh."""

    run_id: str

    @property
    def redis_prefix(self) -> str:
        """The run's Redis key prefix; it starts with `tierstream` like every tierstream key,
        so a Redis ACL user limited to `~tierstream*` (as scripts/infra makes) covers it."""
        return f"tierstream-{self.run_id}"

    def topic(self, role: str) -> str:
        """The run's topic for `role` (orders, feedback, customers, tier-changes, dlq)."""
        return f"{self.run_id}-{role}"

    def topic_env(self, partitions: int) -> dict[str, str]:
        """TIERSTREAM_TOPICS__* for the run."""
        return {
            "TIERSTREAM_TOPICS__ORDERS": self.topic("orders"),
            "TIERSTREAM_TOPICS__FEEDBACK": self.topic("feedback"),
            "TIERSTREAM_TOPICS__CUSTOMERS": self.topic("customers"),
            "TIERSTREAM_TOPICS__TIER_CHANGES": self.topic("tier-changes"),
            "TIERSTREAM_TOPICS__DEAD_LETTER": self.topic("dlq"),
            "TIERSTREAM_TOPICS__PARTITIONS": str(partitions),
        }


def worker_env(
    names: DemoNames,
    bootstrap: str,
    data_dir: Path,
    partitions: int,
    *,
    port: int,
    tokens_file: Path,
) -> dict[str, str]:
    """A worker on the run's topics: event-time clock, one-day epochs, in-memory tables, its
    web server on `port` with bearer tokens from `tokens_file`."""
    return {
        "TIERSTREAM_WEB__PORT": str(port),
        "TIERSTREAM_ACCESS__TOKENS_FILE": str(tokens_file),
        "TIERSTREAM_KAFKA_BOOTSTRAP": bootstrap,
        "TIERSTREAM_APP_ID": names.run_id,
        **names.topic_env(partitions),
        "TIERSTREAM_CLOCK": "event",
        "TIERSTREAM_EPOCH_SECONDS": "86400",
        "TIERSTREAM_STORE": "memory://",
        "TIERSTREAM_DATA_DIR": str(data_dir),
    }


def notifier_env(
    names: DemoNames,
    bootstrap: str,
    redis_url: str,
    partitions: int,
    *,
    webhook_url: str,
    secret: str,
    port: int,
    tokens_file: Path,
) -> dict[str, str]:
    """A notifier on the run's topics with a signed webhook and a default owner, its web
    server on `port` with bearer tokens from `tokens_file`."""
    return {
        "TIERSTREAM_ACCESS__TOKENS_FILE": str(tokens_file),
        "TIERSTREAM_KAFKA_BOOTSTRAP": bootstrap,
        "TIERSTREAM_REDIS_URL": redis_url,
        "TIERSTREAM_REDIS__KEY_PREFIX": names.redis_prefix,
        **names.topic_env(partitions),
        "TIERSTREAM_NOTIFIER__GROUP_ID": f"{names.run_id}-notifier",
        "TIERSTREAM_NOTIFIER__DEFAULT_OWNER": DEMO_OWNER,
        "TIERSTREAM_NOTIFIER__WEBHOOK__URL": webhook_url,
        "TIERSTREAM_NOTIFIER__WEBHOOK__SECRET": secret,
        # The demo's sink is plain http on loopback; deployments use https.
        "TIERSTREAM_NOTIFIER__WEBHOOK__ALLOW_PLAIN_HTTP": "true",
        "TIERSTREAM_NOTIFIER__PORT": str(port),
        # Everything goes to one owner here: a looser limit than the default (burst 3,
        # 6/min) shows single alerts as well as digests within a minute.
        "TIERSTREAM_NOTIFIER__BURST": "5",
        "TIERSTREAM_NOTIFIER__RATE_PER_MINUTE": "60",
        "TIERSTREAM_NOTIFIER__DEDUPE_TTL_SECONDS": "3600",
    }


@dataclass
class Child:
    """A `python -m streams.cli COMMAND` subprocess whose output goes to `log_path`."""

    name: str
    command: str
    env: dict[str, str]
    log_path: Path
    process: subprocess.Popen[bytes] | None = None
    stopped_by_us: bool = False
    _log: IO[bytes] | None = field(default=None, repr=False)

    def start(self) -> None:
        """Start the process in its own session (a terminal's Ctrl-C does not reach it)."""
        self._log = self.log_path.open("ab")
        self.process = subprocess.Popen(  # noqa: S603 - our own CLI with a fixed command
            [sys.executable, "-m", "streams.cli", self.command],
            env={**os.environ, **self.env},
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )

    def exit_code(self) -> int | None:
        """None while running, else its exit code."""
        return None if self.process is None else self.process.poll()

    @property
    def pid(self) -> int | None:
        """The process id, once started."""
        return None if self.process is None else self.process.pid

    def stop(self, timeout: float) -> str:
        """SIGTERM, then SIGKILL after `timeout` seconds; says how it ended (with the pid)."""
        self.stopped_by_us = True
        outcome = "not started"
        if self.process is not None:
            if self.process.poll() is not None:
                outcome = f"had exited with code {self.process.returncode}"
            else:
                self.process.send_signal(signal.SIGTERM)
                try:
                    self.process.wait(timeout=timeout)
                    outcome = "stopped"
                except subprocess.TimeoutExpired:
                    self.process.kill()
                    self.process.wait(timeout=10)
                    outcome = f"killed after ignoring SIGTERM for {timeout:.0f} s"
        if self._log is not None:
            self._log.close()
        return outcome if self.process is None else f"{outcome} (pid {self.process.pid})"
