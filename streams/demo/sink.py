"""A local webhook receiver for the demo's alerts, checking signatures like a customer would.

Every request is verified with `streams.notifier.verify_signature` over the exact bytes
received. A request with a bad signature is refused (401) and counted, so the notifier
retries and finally parks it, as it would against a real receiver.
"""

from __future__ import annotations

import json
import socket
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from streams.notifier.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify_signature

__all__ = ["ReceivedAlert", "WebhookSink", "free_port"]


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass(frozen=True)
class ReceivedAlert:
    """One alert of a received request, as the live view shows it."""

    received_at: float
    verified: bool
    digest_size: int
    customer_id: str
    triggers: tuple[str, ...]
    summary: str


@dataclass
class WebhookSink:
    """Counts signed alert requests and keeps the latest alerts for display."""

    secret: str
    keep: int = 8
    requests: int = 0
    verified: int = 0
    rejected: int = 0
    digests: int = 0
    alerts: int = 0
    event_ids: set[str] = field(default_factory=set)
    latest: deque[ReceivedAlert] = field(default_factory=deque)
    _runner: web.AppRunner | None = None

    @property
    def unique_alerts(self) -> int:
        """Distinct TierChanged ids alerted (webhooks are at least once)."""
        return len(self.event_ids)

    async def _handle(self, request: web.Request) -> web.Response:
        self.requests += 1
        body = await request.read()
        ok = verify_signature(
            self.secret,
            body,
            request.headers.get(TIMESTAMP_HEADER, ""),
            request.headers.get(SIGNATURE_HEADER, ""),
            now=time.time(),
        )
        if not ok:
            self.rejected += 1
            self._remember(ReceivedAlert(time.time(), False, 0, "?", (), "bad signature"))
            return web.Response(status=401)
        self.verified += 1
        try:
            payload: dict[str, Any] = json.loads(body)
            items: list[dict[str, Any]] = list(payload["alerts"])
        except (ValueError, KeyError, TypeError):
            return web.Response(status=400)
        if len(items) > 1:
            self.digests += 1
        self.alerts += len(items)
        for item in items:
            self.event_ids.add(str(item.get("event_id")))
            self._remember(
                ReceivedAlert(
                    received_at=time.time(),
                    verified=True,
                    digest_size=len(items),
                    customer_id=str(item.get("customer_id", "?")),
                    triggers=tuple(str(t) for t in item.get("triggers", ())),
                    summary=str(item.get("summary", "")),
                )
            )
        return web.Response(status=204)

    def _remember(self, alert: ReceivedAlert) -> None:
        self.latest.append(alert)
        while len(self.latest) > self.keep:
            self.latest.popleft()

    async def start(self, port: int | None = None) -> str:
        """Serve on 127.0.0.1 (a free port unless given); returns the URL to post to."""
        app = web.Application()
        app.router.add_post("/alerts", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        port = port or free_port()
        await web.TCPSite(self._runner, "127.0.0.1", port).start()
        return f"http://127.0.0.1:{port}/alerts"

    async def close(self) -> None:
        """Stop serving."""
        if self._runner is not None:
            await self._runner.cleanup()
