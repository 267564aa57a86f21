"""Redis key names of the notifier and the read model, all under one configurable prefix."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import redis.asyncio as redis_async

    from streams.settings import RedisSettings

__all__ = ["Keys", "connect", "explain_redis_error", "text"]


@dataclass(frozen=True, slots=True)
class Keys:
    """`{prefix}:…` names; the prefix keeps deployments (and tests) sharing a Redis apart."""

    prefix: str = "tierstream"

    def customer(self, customer_id: str) -> str:
        """Hash: the latest classification of one customer (read model)."""
        return f"{self.prefix}:customer:{customer_id}"

    def tier(self, tier: str) -> str:
        """Sorted set: customers currently in `tier`, scored by trailing-window monetary."""
        return f"{self.prefix}:tier:{tier}"

    @property
    def tier_counts(self) -> str:
        """Hash: tier -> number of customers in it."""
        return f"{self.prefix}:tier-counts"

    def sent(self, channel: str, event_id: str) -> str:
        """String with a TTL: this alert went out (or was parked) on this channel."""
        return f"{self.prefix}:sent:{channel}:{event_id}"

    @property
    def alerts(self) -> str:
        """Stream: every alert."""
        return f"{self.prefix}:alerts"

    def manager_alerts(self, manager_id: str) -> str:
        """Stream: the alerts of one account manager."""
        return f"{self.prefix}:alerts:{manager_id}"

    @property
    def parked(self) -> str:
        """Stream: deliveries that failed for good, with the error; `tierstream alerts replay`."""
        return f"{self.prefix}:parked"


def text(value: object) -> str:
    """A Redis reply value as text (replies are bytes unless the client decodes them)."""
    if isinstance(value, bytes):
        return value.decode()
    return str(value)


def connect(settings: RedisSettings) -> redis_async.Redis:
    """A client for the configured Redis (TLS CA honoured)."""
    import redis.asyncio as redis_async

    options: dict[str, object] = {}
    if settings.ssl_ca_certs is not None:
        options["ssl_ca_certs"] = str(settings.ssl_ca_certs)
    return redis_async.from_url(settings.url.get_secret_value(), **options)


async def close(client: redis_async.Redis) -> None:
    """Close `client`; over TLS, also let its sockets' close run before the caller's loop ends.

    Closing a TLS connection ends with the raw socket transport's close scheduled on the loop
    (`call_soon`). A command whose `asyncio.run` returns right after closes the loop before it
    runs, and the socket stays open ("unclosed transport" when collected; seen after Redis
    refused a password). The 0.25 s wait is aiohttp's advice before closing a loop with SSL
    connections; a plain connection closes at once and needs none.
    """
    import asyncio

    from redis.asyncio.connection import SSLConnection

    await client.aclose()
    if issubclass(client.connection_pool.connection_class, SSLConnection):
        await asyncio.sleep(0.25)


def explain_redis_error(error: BaseException) -> str:
    """What a Redis client error says about the configuration, naming the setting to fix.
    Never quotes TIERSTREAM_REDIS_URL: it may hold the password."""
    from redis.exceptions import AuthenticationError, NoPermissionError

    message = str(error)
    if isinstance(error, AuthenticationError) or "WRONGPASS" in message:
        return (
            "Redis refused the user and password in TIERSTREAM_REDIS_URL "
            "(rediss://USER:PASSWORD@HOST:PORT/DB)"
        )
    if isinstance(error, NoPermissionError):
        return (
            "the Redis ACL user of TIERSTREAM_REDIS_URL lacks a permission: its key pattern "
            "must cover TIERSTREAM_REDIS__KEY_PREFIX and it needs the commands tierstream uses"
        )
    if "certificate verify failed" in message.lower():
        return "the Redis TLS certificate is not trusted: check TIERSTREAM_REDIS__SSL_CA_CERTS"
    return f"cannot reach Redis at TIERSTREAM_REDIS_URL ({type(error).__name__}: {message})"
