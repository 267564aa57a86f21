"""`/alerts/stream` against the real Redis: tokens, manager scope, the client cap, replay depth.

The notifier's aiohttp application (streams.notifier.web.build_app) runs in the test's loop
on a real Redis connection with a fresh key prefix; alerts are appended to the Redis streams
the way the notifier's publish script writes them (field `alert`, JSON).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from prometheus_client import CollectorRegistry

from streams.access import Access, digest
from streams.notifier.health import HealthReport
from streams.notifier.keys import Keys, connect, text
from streams.notifier.web import ALERTS_PATH, build_app
from streams.settings import AccessSettings, RedisSettings
from tests.conftest import Infra

pytestmark = pytest.mark.integration

# Test tokens, not credentials.
ADMIN = "admin-token"
M1 = "m1-token"
M2 = "m2-token"
BOTH = "m1-m2-token"
MAX_CLIENTS = 2
REPLAY_MAX = 3


class Alerts:
    """A running alert-stream app and its Redis streams."""

    def __init__(self, server: TestServer, redis: Any, keys: Keys) -> None:
        self.server, self.redis, self.keys = server, redis, keys

    def url(self, manager: str | None = None) -> str:
        query = "" if manager is None else f"?manager={manager}"
        return str(self.server.make_url(ALERTS_PATH)) + query

    async def add(self, manager: str, number: int) -> str:
        """One alert for `manager`, in its stream and in the all-alerts stream; its id there."""
        body = {"alert": json.dumps({"manager": manager, "number": number})}
        await self.redis.xadd(self.keys.alerts, body)
        return text(await self.redis.xadd(self.keys.manager_alerts(manager), body))


@pytest.fixture
async def alerts(infra: Infra, unique_name: str, tmp_path: Path) -> AsyncIterator[Alerts]:
    tokens = tmp_path / "tokens.json"
    entries = [
        {"sha256": digest(ADMIN), "admin": True},
        {"sha256": digest(M1), "managers": ["m-1"]},
        {"sha256": digest(M2), "managers": ["m-2"]},
        {"sha256": digest(BOTH), "managers": ["m-1", "m-2"]},
    ]
    tokens.write_text(json.dumps({"tokens": entries}), encoding="utf-8")
    redis = connect(RedisSettings(url=infra.redis_url, key_prefix=unique_name))
    keys = Keys(unique_name)
    app = build_app(
        redis,
        keys,
        CollectorRegistry(),
        lambda: HealthReport(live=True, ready=True),
        Access.from_file(tokens),
        AccessSettings(sse_max_clients=MAX_CLIENTS, sse_replay_max=REPLAY_MAX),
    )
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        yield Alerts(server, redis, keys)
    finally:
        await server.close()
        found = [key async for key in redis.scan_iter(match=f"{unique_name}:*")]
        if found:
            await redis.delete(*found)
        await redis.aclose()


def _bearer(token: str, **headers: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", **headers}


async def _frames(response: aiohttp.ClientResponse, count: int) -> list[dict[str, Any]]:
    """The next `count` alert frames (id and data), skipping comments; 10 s at most."""
    return await asyncio.wait_for(_read_frames(response, count), timeout=10)


async def _read_frames(response: aiohttp.ClientResponse, count: int) -> list[dict[str, Any]]:
    frames: list[dict[str, Any]] = []
    current: dict[str, Any] = {}
    while len(frames) < count:
        line = (await response.content.readline()).decode().rstrip("\n")
        if line.startswith("id: "):
            current["id"] = line[4:]
        elif line.startswith("data: "):
            current["data"] = json.loads(line[6:])
        elif not line and "data" in current:
            frames.append(current)
            current = {}
    return frames


async def test_a_request_without_a_token_is_refused_with_401(alerts: Alerts) -> None:
    async with aiohttp.ClientSession() as session, session.get(alerts.url()) as response:
        assert response.status == 401
        assert response.headers["WWW-Authenticate"] == "Bearer"


async def test_an_unknown_token_is_refused_with_401(alerts: Alerts) -> None:
    async with (
        aiohttp.ClientSession() as session,
        session.get(alerts.url("m-1"), headers=_bearer("guessed")) as response,
    ):
        assert response.status == 401


async def test_a_manager_token_may_not_read_another_managers_stream(alerts: Alerts) -> None:
    async with (
        aiohttp.ClientSession() as session,
        session.get(alerts.url("m-2"), headers=_bearer(M1)) as response,
    ):
        assert response.status == 403


async def test_a_manager_token_may_not_read_the_all_alerts_stream(alerts: Alerts) -> None:
    # BOTH covers two managers but is no admin: without ?manager= it must name one.
    async with (
        aiohttp.ClientSession() as session,
        session.get(alerts.url(), headers=_bearer(BOTH)) as response,
    ):
        assert response.status == 400


async def test_a_manager_token_reads_only_its_managers_alerts(alerts: Alerts) -> None:
    await alerts.add("m-2", 1)
    own = await alerts.add("m-1", 2)
    await alerts.add("m-2", 3)
    headers = _bearer(M1, **{"Last-Event-ID": "0-0"})
    async with (
        aiohttp.ClientSession() as session,
        session.get(alerts.url(), headers=headers) as response,
    ):
        assert response.status == 200
        (first,) = await _frames(response, 1)
        assert first == {"id": own, "data": {"manager": "m-1", "number": 2}}
        later = await alerts.add("m-1", 4)
        (second,) = await _frames(response, 1)
        assert second["id"] == later


async def test_a_stream_idle_longer_than_the_redis_read_timeout_still_delivers(
    alerts: Alerts,
) -> None:
    """redis-py 8 gives up on a reply after 5 s (its default socket timeout): an XREAD that
    blocks longer would end the stream of a quiet manager with a TimeoutError."""
    async with (
        aiohttp.ClientSession() as session,
        session.get(alerts.url(), headers=_bearer(M1)) as response,
    ):
        assert response.status == 200
        await asyncio.sleep(7)
        later = await alerts.add("m-1", 1)
        (frame,) = await _frames(response, 1)
        assert frame["id"] == later


async def test_an_admin_token_reads_every_managers_alerts(alerts: Alerts) -> None:
    for number, manager in enumerate(("m-1", "m-2", "m-3")):
        await alerts.add(manager, number)
    headers = _bearer(ADMIN, **{"Last-Event-ID": "0-0"})
    async with (
        aiohttp.ClientSession() as session,
        session.get(alerts.url(), headers=headers) as response,
    ):
        assert response.status == 200
        frames = await _frames(response, 3)
        assert [frame["data"]["manager"] for frame in frames] == ["m-1", "m-2", "m-3"]


async def test_streams_beyond_the_cap_are_refused_with_503_until_one_closes(
    alerts: Alerts,
) -> None:
    async with aiohttp.ClientSession() as session:
        held = []
        for _ in range(MAX_CLIENTS):
            response = await session.get(alerts.url("m-1"), headers=_bearer(M1))
            assert response.status == 200
            # The server counts a stream once it answered; its first line proves that.
            assert await response.content.readline() == b": connected\n"
            held.append(response)
        async with session.get(alerts.url("m-2"), headers=_bearer(M2)) as refused:
            assert refused.status == 503
            assert refused.headers["Retry-After"] == "30"
        held.pop().close()
        # The closed stream's slot frees once the server notices the disconnect.
        for _ in range(200):
            async with session.get(alerts.url("m-2"), headers=_bearer(M2)) as again:
                if again.status == 200:
                    break
            await _pause()
        assert again.status == 200
        for response in held:
            response.close()


async def _pause() -> None:
    await asyncio.sleep(0.05)


async def test_a_resume_from_far_back_replays_only_the_newest_alerts(alerts: Alerts) -> None:
    ids = [await alerts.add("m-1", number) for number in range(10)]
    headers = _bearer(M1, **{"Last-Event-ID": "0-0"})
    async with (
        aiohttp.ClientSession() as session,
        session.get(alerts.url(), headers=headers) as response,
    ):
        replayed = await _frames(response, REPLAY_MAX)
        assert [frame["id"] for frame in replayed] == ids[-REPLAY_MAX:]
        # Nothing older follows: the next frame is the next new alert.
        newest = await alerts.add("m-1", 10)
        (following,) = await _frames(response, 1)
        assert following["id"] == newest


async def test_a_resume_within_the_limit_replays_everything_after_the_id(alerts: Alerts) -> None:
    ids = [await alerts.add("m-1", number) for number in range(5)]
    headers = _bearer(M1, **{"Last-Event-ID": ids[2]})
    async with (
        aiohttp.ClientSession() as session,
        session.get(alerts.url(), headers=headers) as response,
    ):
        frames = await _frames(response, 2)
        assert [frame["id"] for frame in frames] == ids[3:]


async def test_a_last_event_id_that_is_no_stream_id_is_refused_with_400(alerts: Alerts) -> None:
    headers = _bearer(M1, **{"Last-Event-ID": "0-0; FLUSHALL"})
    async with (
        aiohttp.ClientSession() as session,
        session.get(alerts.url(), headers=headers) as response,
    ):
        assert response.status == 400


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/metrics"])
async def test_probes_and_metrics_need_no_token(alerts: Alerts, path: str) -> None:
    async with (
        aiohttp.ClientSession() as session,
        session.get(str(alerts.server.make_url(path))) as response,
    ):
        assert response.status == 200
