"""A Kafka broker of one test's own, which the test may stop and start again.

The shared broker of the session (scripts/infra) must stay up for every other test; a test
that restarts the broker gets this one instead: the same jars (the classpath `scripts/infra
up` resolved into the cache), the same single-node KRaft settings, fixed loopback ports and a
data directory that survive a restart, so clients reconnect to the same address and find
their topics, offsets and transactions again.
"""

from __future__ import annotations

import base64
import os
import re
import signal
import socket
import subprocess
import sys
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _cluster_id() -> str:
    """A KRaft cluster id: a UUID in URL-safe base64 without padding, as StorageTool makes."""
    return base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()


def _classpath() -> str:
    pom = (REPO / "scripts" / "kafka" / "pom.xml").read_text()
    match = re.search(r"<kafka.version>(.+?)</kafka.version>", pom)
    assert match, "no kafka.version in scripts/kafka/pom.xml"
    cache = Path(os.environ.get("TIERSTREAM_CACHE", Path.home() / ".cache" / "tierstream"))
    classpath_file = cache / f"kafka-{match.group(1)}.classpath"
    assert classpath_file.exists(), f"{classpath_file} missing: run scripts/infra up first"
    return classpath_file.read_text().strip()


class OwnBroker:
    """One single-node KRaft broker in `directory`; `stop` and `start` keep its data."""

    def __init__(self, directory: Path) -> None:
        self._directory = directory
        self._classpath = _classpath()
        port, controller = _free_port(), _free_port()
        self.bootstrap = f"127.0.0.1:{port}"
        self._config = directory / "server.properties"
        self._log = directory / "kafka.log"
        directory.mkdir(parents=True, exist_ok=True)
        self._config.write_text(
            "\n".join(
                [
                    "process.roles=broker,controller",
                    "node.id=1",
                    f"controller.quorum.voters=1@127.0.0.1:{controller}",
                    f"listeners=PLAINTEXT://{self.bootstrap},CONTROLLER://127.0.0.1:{controller}",
                    f"advertised.listeners=PLAINTEXT://{self.bootstrap}",
                    "controller.listener.names=CONTROLLER",
                    "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
                    "inter.broker.listener.name=PLAINTEXT",
                    f"log.dirs={directory / 'logs'}",
                    "num.partitions=1",
                    "offsets.topic.replication.factor=1",
                    "offsets.topic.num.partitions=4",
                    "transaction.state.log.replication.factor=1",
                    "transaction.state.log.min.isr=1",
                    "transaction.state.log.num.partitions=4",
                    "group.initial.rebalance.delay.ms=0",
                    "auto.create.topics.enable=true",
                ]
            )
            + "\n"
        )
        with self._log.open("ab") as log:
            subprocess.run(
                [
                    "java",
                    "-cp",
                    self._classpath,
                    "kafka.tools.StorageTool",
                    "format",
                    "-t",
                    _cluster_id(),
                    "-c",
                    str(self._config),
                ],
                check=True,
                stdout=log,
                stderr=subprocess.STDOUT,
                timeout=120,
            )
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start the broker and wait (bounded) for a produce/consume round trip."""
        with self._log.open("ab") as log:
            self._process = subprocess.Popen(
                [
                    "java",
                    "-Xms256m",
                    "-Xmx512m",
                    "-XX:+UseSerialGC",
                    "-Djava.awt.headless=true",
                    "-cp",
                    self._classpath,
                    "kafka.Kafka",
                    str(self._config),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        ready = subprocess.run(
            [sys.executable, str(REPO / "scripts" / "infra_wait.py"), "kafka", self.bootstrap],
            timeout=150,
            check=False,
        )
        assert ready.returncode == 0, self.log_tail()

    def stop(self) -> None:
        """A controlled shutdown (SIGTERM, as a rolling restart does); SIGKILL after 60 s."""
        process = self._process
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=30)
        self._process = None

    def log_tail(self, characters: int = 2000) -> str:
        return self._log.read_text(errors="replace")[-characters:] if self._log.exists() else ""
