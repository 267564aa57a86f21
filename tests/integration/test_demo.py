"""`tierstream demo` end to end: worker, notifier, webhook sink and feed against the real broker.

The demo runs as a subprocess (as `make demo` runs it) on the test infrastructure, which it
must reuse (the addresses are in its environment) and leave running. Its summary must report
tier changes and alerts, every webhook signature verified, and nothing it started may outlive
it: no process and no topic of its run. Its HTTP reads (a customer lookup, the owner's alert
stream) pass bearer tokens, since the demo configures tokens like a deployment.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import pytest

from streams.demo.sink import WebhookSink
from streams.notifier.signing import signature_headers
from tests.conftest import Infra

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]


def _figure(output: str, label: str) -> int:
    match = re.search(rf"^\s*{label}:\s+([\d,]+)", output, re.MULTILINE)
    assert match, f"no '{label}' line in the summary:\n{output}"
    return int(match.group(1).replace(",", ""))


def _processes_with(value: str) -> list[int]:
    """Live processes with `value` in their environment (the one they were started with)."""
    found = []
    marker = f"={value}".encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue  # gone meanwhile, or not ours to read
        if marker in environ:
            found.append(int(entry.name))
    return found


async def _topics(bootstrap: str) -> list[str]:
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        return list(await admin.list_topics())
    finally:
        await admin.close()


def test_demo_shows_tier_changes_and_verified_alerts_and_stops_everything(
    infra: Infra, unique_name: str
) -> None:
    env = {
        **os.environ,
        # Inherited by everything the demo starts, so leftovers can be found afterwards.
        "TIERSTREAM_TEST_MARKER": unique_name,
        "TIERSTREAM_KAFKA_BOOTSTRAP": infra.kafka_bootstrap,
        "TIERSTREAM_REDIS_URL": infra.redis_url,
    }
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "streams.cli", "demo", "--duration", "40"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert time.monotonic() - started < 90, output

    run_id = re.search(r"\brun (demo-[0-9a-f]{8})\b", output)
    assert run_id, output
    assert _figure(output, "TierChanged seen") > 0, output
    assert _figure(output, "alerts received") > 0, output
    signatures = re.search(
        r"verified ([\d,]+) of ([\d,]+) webhook requests, rejected ([\d,]+)", output
    )
    assert signatures, output
    verified, requests, rejected = (int(g.replace(",", "")) for g in signatures.groups())
    assert requests > 0 and verified == requests and rejected == 0, output
    # With tokens on: the owner's SSE stream (its manager token) carried alerts, and the
    # worker answered a customer lookup with the admin token and refused it without.
    assert _figure(output, "alerts on SSE") > 0, output
    assert re.search(
        r"customer lookup:\s+\S+ tier \w+ \(HTTP 200 with the admin token, 401 without\)", output
    ), output
    assert re.search(r"^\s*worker:\s+stopped \(pid \d+\)", output, re.MULTILINE), output
    assert re.search(r"^\s*notifier:\s+stopped \(pid \d+\)", output, re.MULTILINE), output
    # The scan works: it finds this process by a variable it was started with.
    assert os.getpid() in _processes_with(os.environ["PATH"])
    assert _processes_with(unique_name) == []
    assert _processes_with(run_id.group(1)) == []
    leftovers = [t for t in asyncio.run(_topics(infra.kafka_bootstrap)) if run_id.group(1) in t]
    assert leftovers == []


async def test_the_demo_sink_counts_verified_alerts_and_refuses_bad_signatures() -> None:
    right, wrong = "right-key", "wrong-key"
    sink = WebhookSink(secret=right)
    url = await sink.start()
    body = json.dumps(
        {"alerts": [{"event_id": "e1", "customer_id": "c1", "triggers": ["tier_upgrade"]}]}
    ).encode()
    try:
        async with aiohttp.ClientSession() as session:
            for key, status in ((right, 204), (wrong, 401)):
                headers = signature_headers(key, body, time.time(), "e1")
                async with session.post(url, data=body, headers=headers) as response:
                    assert response.status == status
    finally:
        await sink.close()
    assert (sink.requests, sink.verified, sink.rejected) == (2, 1, 1)
    assert sink.alerts == 1 and sink.unique_alerts == 1
    assert [alert.verified for alert in sink.latest] == [True, False]
