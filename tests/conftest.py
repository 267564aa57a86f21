"""Shared fixtures: the real Kafka broker and Redis server for integration tests.

They come from the environment (`TIERSTREAM_KAFKA_BOOTSTRAP`, `TIERSTREAM_REDIS_URL`, as
`scripts/test` exports them), else from a running `scripts/infra` (`.infra/env`), else the
session starts `scripts/infra up` itself and stops it at the end. A missing broker fails the
run; integration tests never skip.
"""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
INFRA = REPO / "scripts" / "infra"


@dataclass(frozen=True)
class Infra:
    """Addresses of the running broker and Redis."""

    kafka_bootstrap: str
    redis_url: str


def _read_env_file(path: Path) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)
    return {name.strip(): value.strip() for name, value in pairs}


@pytest.fixture(scope="session")
def infra() -> Iterator[Infra]:
    """The real infrastructure, started by this session only if nothing is running."""
    bootstrap = os.environ.get("TIERSTREAM_KAFKA_BOOTSTRAP")
    redis_url = os.environ.get("TIERSTREAM_REDIS_URL")
    if bootstrap and redis_url:
        yield Infra(bootstrap, redis_url)
        return
    # `up` is idempotent: it reuses a running set, or starts one and waits until it answers.
    was_running = (REPO / ".infra" / "env").exists()
    subprocess.run([str(INFRA), "up"], check=True, timeout=600)
    values = _read_env_file(REPO / ".infra" / "env")
    try:
        yield Infra(values["TIERSTREAM_KAFKA_BOOTSTRAP"], values["TIERSTREAM_REDIS_URL"])
    finally:
        if not was_running:
            subprocess.run([str(INFRA), "down"], check=False, timeout=120)


@pytest.fixture
def unique_name() -> str:
    """A fresh name for a topic, group or app id, so tests never share state."""
    return f"t-{uuid.uuid4().hex[:12]}"
