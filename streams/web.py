"""The worker's HTTP endpoints on Faust's web server: metrics, liveness, readiness.

Faust's own web server (aiohttp, `web_enabled=True`) is used rather than a server started
as an app task: Faust starts it with the producer, before the consumer and table recovery,
while app tasks start only after recovery has completed. So `/healthz` answers during a long
recovery (a liveness probe does not kill a worker that is rebuilding its tables) and
`/readyz` can say 503 until it is done. Faust's table and router views are turned off (see
`streams.worker`): they would serve customer state to anyone who can reach the port.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from streams.endpoints import LIVENESS_PATH, METRICS_PATH, READINESS_PATH

__all__ = ["install_endpoints"]


def install_endpoints(app: Any, registry: CollectorRegistry, ready: Callable[[], bool]) -> None:
    """Add `/metrics` (the registry in Prometheus text format), `/healthz` (200 whenever the
    event loop answers) and `/readyz` (200 when `ready()`, else 503) to a Faust app."""
    from faust import web

    class Metrics(web.View):
        async def get(self, request: web.Request) -> web.Response:
            return self.bytes(
                generate_latest(registry), headers={"Content-Type": CONTENT_TYPE_LATEST}
            )

    class Liveness(web.View):
        async def get(self, request: web.Request) -> web.Response:
            # Answering at all proves the process and its event loop are alive.
            return self.json({"status": "alive"})

    class Readiness(web.View):
        async def get(self, request: web.Request) -> web.Response:
            if ready():
                return self.json({"status": "ready"})
            return self.json({"status": "starting"}, status=503)

    app.page(METRICS_PATH, name="tierstream-metrics")(Metrics)
    app.page(LIVENESS_PATH, name="tierstream-healthz")(Liveness)
    app.page(READINESS_PATH, name="tierstream-readyz")(Readiness)
