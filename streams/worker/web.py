"""The worker's HTTP endpoints on Faust's web server: metrics, liveness, readiness, customers.

Faust's own web server (aiohttp, `web_enabled=True`) is used rather than a server started
as an app task: Faust starts it with the producer, before the consumer and table recovery,
while app tasks start only after recovery has completed. So `/healthz` answers during a long
recovery (a liveness probe does not kill a worker that is rebuilding its tables) and
`/readyz` can say 503 until it is done. Faust's generic table and router views are turned
off (see `streams.worker.app`): they would serve every table's raw state to anyone who can reach
the port. `GET /customers/{customer_id}` serves one customer's classification instead,
answered by the worker that owns the customer's partition (Faust's table routing).
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from schemas.profile import AccountManager
from streams.access import Access
from streams.settings import WebSettings
from streams.worker.customer_lookup import customer_answer
from streams.worker.endpoints import CUSTOMER_PATH, LIVENESS_PATH, METRICS_PATH, READINESS_PATH

__all__ = [
    "FORBIDDEN",
    "NOT_READY",
    "UNAUTHORIZED",
    "advertised_host",
    "install_customer_lookup",
    "install_endpoints",
]

UNAUTHORIZED = "a bearer token is needed: Authorization: Bearer TOKEN"
FORBIDDEN = "this token does not cover this customer's account manager"
NOT_READY = "the worker is not ready (partition assignment or table recovery); retry shortly"


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


def install_customer_lookup(
    app: Any,
    ranked: Any,
    ready: Callable[[], bool],
    access: Access,
    manager_of: Callable[[str], AccountManager | None],
) -> None:
    """Add `GET /customers/{customer_id}`: the customer's classification from the `ranked`
    table (streams.worker.customer_lookup), on whichever worker receives the request.

    With tokens configured (streams.access) the request needs a bearer token (401 without
    or with an unknown one); a manager token may read only customers whose account manager
    (`manager_of`, the owner's `profiles` table) is one of its managers (403 otherwise, also
    for a customer that does not exist, so a 403/404 difference reveals nothing). Both the
    receiving worker and the owner check: Faust forwards the request's headers.

    `app.table_route` forwards the request to the worker whose active partition of the
    table's changelog holds the customer (the key's partition by the producer's default
    partitioner, the same as for the inputs, which are keyed by customer id) and relays its
    answer; the owner answers from its local table. 503 while this worker (or the owner) is
    not ready or a rebalance is moving partitions: the routing map and the local tables are
    then in flux.
    """
    from faust import web

    class Customer(web.View):
        async def get(self, request: web.Request, customer_id: str) -> web.Response:
            if access.grant_for(request.headers.get("Authorization")) is None:
                return self.json(
                    {"error": UNAUTHORIZED}, status=401, headers={"WWW-Authenticate": "Bearer"}
                )
            if not ready() or app.rebalancing:
                return self.json({"error": NOT_READY}, status=503)
            response: web.Response = await self.from_owner(request, customer_id=customer_id)
            return response

        # `app` is Any here (Faust's AppT is generic over its untyped internals), so mypy
        # sees an untyped decorator; table_route keeps the view's signature.
        @app.table_route(table=ranked, match_info="customer_id")  # type: ignore[untyped-decorator]
        async def from_owner(self, request: web.Request, customer_id: str) -> web.Response:
            grant = access.grant_for(request.headers.get("Authorization"))
            if grant is None:
                return self.json({"error": UNAUTHORIZED}, status=401)
            if not grant.admin:
                manager = manager_of(customer_id)
                if not grant.may_read(None if manager is None else manager.id):
                    return self.json({"error": FORBIDDEN}, status=403)
            answer = customer_answer(customer_id, ranked.get(customer_id.encode()))
            return self.json(answer.body, status=answer.status)

    app.page(CUSTOMER_PATH, name="tierstream-customer")(Customer)


def advertised_host(settings: WebSettings) -> str:
    """The host other workers reach this worker's web server at, as it goes in a URL:
    `advertised_host` when set; else `host`, unless that is a wildcard (empty, 0.0.0.0, ::),
    then the address this machine's hostname resolves to locally (the pod's IP in
    Kubernetes, the container's in Docker: both put it in /etc/hosts)."""
    host = settings.advertised_host or settings.host
    if not settings.advertised_host and _is_wildcard(host):
        host = socket.gethostbyname(socket.gethostname())
    # An IPv6 address goes in brackets in a URL.
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def _is_wildcard(host: str) -> bool:
    try:
        return not host or ipaddress.ip_address(host).is_unspecified
    except ValueError:  # a host name
        return False
