"""The demo's reads over HTTP with bearer tokens, as a user's client makes them.

The demo runs the worker and the notifier with a tokens file (streams.access) holding two
fresh random tokens: an admin token, with which it looks up one customer on the worker
(`GET /customers/{id}`), and a manager token for the demo's alert owner, with which it
follows that manager's alerts on the notifier's SSE stream. The tokens live only in the
demo's memory; the file holds their digests.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from streams.access import digest

__all__ = ["DemoTokens", "Lookup", "follow_alerts", "look_up"]

_RETRY_SECONDS = 0.5


@dataclass(frozen=True)
class DemoTokens:
    """The run's two tokens and the file of their digests the processes read."""

    admin: str
    manager: str
    manager_id: str
    path: Path

    @classmethod
    def create(cls, directory: Path, manager_id: str) -> DemoTokens:
        """Fresh random tokens; writes `directory/tokens.json` (digests only)."""
        tokens = cls(
            secrets.token_urlsafe(24),
            secrets.token_urlsafe(24),
            manager_id,
            directory / "tokens.json",
        )
        entries = [
            {"sha256": digest(tokens.admin), "admin": True},
            {"sha256": digest(tokens.manager), "managers": [manager_id]},
        ]
        tokens.path.write_text(json.dumps({"tokens": entries}), encoding="utf-8")
        return tokens


@dataclass(frozen=True)
class Lookup:
    """One `GET /customers/{id}`: the status with the admin token and without a token."""

    customer_id: str
    status: int
    status_without_token: int
    tier: str | None

    def describe(self) -> str:
        """`c-00042 tier A (HTTP 200 with the admin token, 401 without)`."""
        tier = f"tier {self.tier}" if self.tier else "no tier"
        return (
            f"{self.customer_id} {tier} (HTTP {self.status} with the admin token, "
            f"{self.status_without_token} without)"
        )


async def look_up(base_url: str, customer_id: str, token: str) -> Lookup:
    """Ask the worker for one customer with the token, and once without."""
    url = f"{base_url}/customers/{customer_id}"
    timeout = aiohttp.ClientTimeout(total=10)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        async with session.get(url) as anonymous:
            without = anonymous.status
        async with session.get(url, headers={"Authorization": f"Bearer {token}"}) as answer:
            body = await answer.json() if answer.status == 200 else {}
            tier = body.get("current", {}).get("tier")
            return Lookup(customer_id, answer.status, without, tier)


async def follow_alerts(url: str, token: str, on_alert: Callable[[], None]) -> None:
    """Follow an SSE alert stream until cancelled, calling `on_alert` per alert; reconnects
    (from the last id seen, or from the start of the stream) while the notifier starts."""
    last_id = "0-0"
    headers = {"Authorization": f"Bearer {token}"}
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=5)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        while True:
            with contextlib.suppress(aiohttp.ClientError):
                async with session.get(url, headers={**headers, "Last-Event-ID": last_id}) as r:
                    if r.status == 200:
                        async for raw in r.content:
                            line = raw.decode().rstrip("\n")
                            if line.startswith("id: "):
                                last_id = line[4:]
                            elif line.startswith("event: alert"):
                                on_alert()
            await asyncio.sleep(_RETRY_SECONDS)
