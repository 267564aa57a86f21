"""The notifier's HTTP server: `/alerts/stream` (SSE), `/metrics`, `/healthz` and `/readyz`.

`/healthz` (liveness) is 200 while the consume loop goes round, `/readyz` only when, in
addition, nothing is wrong; both answer `{"status", "problems"}`, the problems saying why
(e.g. Redis unreachable), so a Redis outage shows without getting the process restarted.

The SSE endpoint reads the Redis alert streams (XREAD), not the process's own deliveries, so
any replica serves any manager, and a reconnecting client resumes from `Last-Event-ID`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from streams.notifier.health import HealthReport
from streams.notifier.keys import Keys, text

if TYPE_CHECKING:
    import redis.asyncio as redis_async

__all__ = ["build_app"]

# A comment line this often keeps proxies from closing an idle stream.
_KEEPALIVE_MS = 15_000


async def _start_id(client: redis_async.Redis, stream: str) -> str:
    # "$" is only safe for the first XREAD; resolve it so nothing between reads is missed.
    newest: Any = await client.xrevrange(stream, count=1)
    return text(newest[0][0]) if newest else "0-0"


def build_app(
    client: redis_async.Redis,
    keys: Keys,
    registry: CollectorRegistry,
    health: Callable[[], HealthReport],
) -> web.Application:
    """The aiohttp application; `health` says whether the loop is alive and ready, and why not."""

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

    async def alert_stream(request: web.Request) -> web.StreamResponse:
        manager = request.query.get("manager")
        stream = keys.manager_alerts(manager) if manager else keys.alerts
        last_id = request.headers.get("Last-Event-ID") or await _start_id(client, stream)
        response = web.StreamResponse(
            headers={
                "Content-Type": "text/event-stream",
                "Cache-Control": "no-cache",
                "X-Accel-Buffering": "no",
            }
        )
        await response.prepare(request)
        await response.write(b": connected\n\n")
        try:
            while True:
                result: Any = await client.xread({stream: last_id}, count=100, block=_KEEPALIVE_MS)
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

    app = web.Application()
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/alerts/stream", alert_stream)
    return app
