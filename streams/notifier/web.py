"""The notifier's HTTP server: `/alerts/stream` (SSE), `/metrics`, `/healthz` and `/readyz`.

`/healthz` (liveness) is 200 while the consume loop goes round, `/readyz` only when, in
addition, nothing is wrong; both answer `{"status", "problems"}`, the problems saying why
(e.g. Redis unreachable), so a Redis outage shows without getting the process restarted.

The SSE endpoint reads the Redis alert streams (XREAD), not the process's own deliveries, so
any replica serves any manager, and a reconnecting client resumes from `Last-Event-ID`.
It needs a bearer token when tokens are configured (streams.access): a manager token reads
its managers' streams only, an admin token any stream or all alerts. Each open stream holds
one Redis connection in a blocking read, so their number is capped (503 beyond), and a
resume replays at most `sse_replay_max` of the newest alerts.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from streams.access import Access
from streams.notifier.health import HealthReport
from streams.notifier.keys import Keys, text
from streams.settings import AccessSettings, Settings
from streams.worker.endpoints import LIVENESS_PATH, METRICS_PATH, READINESS_PATH

if TYPE_CHECKING:
    import redis.asyncio as redis_async

__all__ = ["ALERTS_PATH", "build_app", "web_address"]

ALERTS_PATH = "/alerts/stream"
# A comment line this often keeps proxies from closing an idle stream.
_KEEPALIVE_MS = 15_000


def _block_ms(client: redis_async.Redis) -> int:
    """How long one XREAD may block: the keep-alive interval, but well inside the client's
    socket read timeout (redis-py 8 defaults to 5 s), or the read fails with TimeoutError
    and the stream of a quiet manager ends."""
    from redis._defaults import DEFAULT_SOCKET_TIMEOUT

    # Not given in the URL or options: the connection's default applies.
    timeout = client.connection_pool.connection_kwargs.get("socket_timeout", DEFAULT_SOCKET_TIMEOUT)
    if timeout is None:
        return _KEEPALIVE_MS
    return max(100, min(_KEEPALIVE_MS, int(float(timeout) * 1000 * 0.8)))


_STREAM_ID = re.compile(r"(\d{1,20})-(\d{1,20})")
_UNAUTHORIZED = "a bearer token is needed: Authorization: Bearer TOKEN"
_FORBIDDEN = "this token does not cover that manager's alerts"
_NAME_MANAGER = "this token covers several managers: name one with ?manager="
_BUSY = "too many open alert streams on this notifier; retry later"


def web_address(settings: Settings) -> tuple[str, int]:
    """Where the notifier's HTTP server listens: TIERSTREAM_NOTIFIER__HOST and __PORT."""
    return settings.notifier.host, settings.notifier.port


def _stream_id(value: str) -> tuple[int, int] | None:
    match = _STREAM_ID.fullmatch(value)
    return None if match is None else (int(match[1]), int(match[2]))


async def _start_id(client: redis_async.Redis, stream: str) -> str:
    # "$" is only safe for the first XREAD; resolve it so nothing between reads is missed.
    newest: Any = await client.xrevrange(stream, count=1)
    return text(newest[0][0]) if newest else "0-0"


async def _replay_floor(client: redis_async.Redis, stream: str, replay_max: int) -> str:
    """The id after which at most `replay_max` entries follow: XREAD from it returns the
    newest `replay_max` entries (the id of the (replay_max + 1)-th newest entry, else 0-0)."""
    entries: Any = await client.xrevrange(stream, count=replay_max + 1)
    return text(entries[-1][0]) if len(entries) > replay_max else "0-0"


def _error(status: int, message: str, **headers: str) -> web.Response:
    return web.json_response({"error": message}, status=status, headers=headers or None)


class _AlertStreams:
    """`GET /alerts/stream`: which stream a token may read, from where, and how many at once."""

    def __init__(
        self, client: redis_async.Redis, keys: Keys, access: Access, limits: AccessSettings
    ) -> None:
        self._client = client
        self._keys = keys
        self._access = access
        self._limits = limits
        self._open = 0

    def stream_of(self, request: web.Request) -> str | web.Response:
        """The Redis stream the request may read, or the error answer."""
        grant = self._access.grant_for(request.headers.get("Authorization"))
        if grant is None:
            return _error(401, _UNAUTHORIZED, **{"WWW-Authenticate": "Bearer"})
        manager = request.query.get("manager")
        if manager is None and not grant.admin:
            if len(grant.managers) != 1:
                return _error(400, _NAME_MANAGER)
            (manager,) = grant.managers
        if manager is None:
            return self._keys.alerts
        if not grant.may_read(manager):
            return _error(403, _FORBIDDEN)
        return self._keys.manager_alerts(manager)

    async def resume_id(self, stream: str, last_event_id: str | None) -> str | None:
        """Where to read from: after Last-Event-ID, but no further back than the replay
        limit; the newest entry without one; None for an id that is not a stream id."""
        if last_event_id is None:
            return await _start_id(self._client, stream)
        wanted = _stream_id(last_event_id)
        if wanted is None:
            return None
        floor = await _replay_floor(self._client, stream, self._limits.sse_replay_max)
        floor_id = _stream_id(floor)
        assert floor_id is not None  # Redis ids always parse
        return last_event_id if wanted >= floor_id else floor

    async def handle(self, request: web.Request) -> web.StreamResponse:
        stream = self.stream_of(request)
        if isinstance(stream, web.Response):
            return stream
        if self._open >= self._limits.sse_max_clients:
            return _error(503, _BUSY, **{"Retry-After": "30"})
        # Counted before the first await, so concurrent requests cannot pass the cap together.
        self._open += 1
        try:
            last_id = await self.resume_id(stream, request.headers.get("Last-Event-ID"))
            if last_id is None:
                return _error(400, "Last-Event-ID is not an alert id (MILLISECONDS-SEQUENCE)")
            return await _serve(request, self._client, stream, last_id)
        finally:
            self._open -= 1


def build_app(
    client: redis_async.Redis,
    keys: Keys,
    registry: CollectorRegistry,
    health: Callable[[], HealthReport],
    access: Access,
    limits: AccessSettings,
) -> web.Application:
    """The aiohttp application; `health` says whether the process should keep running (the
    liveness probe), whether it consumes and delivers (the readiness probe), and why not."""

    async def metrics(_: web.Request) -> web.Response:
        return web.Response(
            body=generate_latest(registry), headers={"Content-Type": CONTENT_TYPE_LATEST}
        )

    async def healthz(_: web.Request) -> web.Response:
        report = health()
        return web.json_response(report.body(), status=200 if report.live else 503)

    async def readyz(_: web.Request) -> web.Response:
        report = health()
        return web.json_response(report.body(), status=200 if report.ready else 503)

    app = web.Application()
    app.router.add_get(METRICS_PATH, metrics)
    app.router.add_get(LIVENESS_PATH, healthz)
    app.router.add_get(READINESS_PATH, readyz)
    app.router.add_get(ALERTS_PATH, _AlertStreams(client, keys, access, limits).handle)
    return app


async def _serve(
    request: web.Request, client: redis_async.Redis, stream: str, last_id: str
) -> web.StreamResponse:
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream",
            "Cache-Control": "no-cache",
            "X-Accel-Buffering": "no",
        }
    )
    await response.prepare(request)
    await response.write(b": connected\n\n")
    block_ms = _block_ms(client)
    try:
        while True:
            result: Any = await client.xread({stream: last_id}, count=100, block=block_ms)
            if not result:
                await response.write(b": keep-alive\n\n")
                continue
            for _, entries in result:
                for entry_id, fields in entries:
                    last_id = text(entry_id)
                    data = json.loads(fields[b"alert"])
                    frame = f"id: {last_id}\nevent: alert\ndata: {json.dumps(data)}\n\n"
                    await response.write(frame.encode())
    except (ConnectionResetError, ConnectionError):
        pass
    return response
