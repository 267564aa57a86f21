"""`tierstream alerts parked|replay`: see and resend alerts whose delivery failed for good."""

from __future__ import annotations

import argparse
import asyncio
import sys

__all__ = ["HELP", "add_arguments", "run"]

HELP = "list parked (undeliverable) alerts, or resend them"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """`alerts parked` and `alerts replay`."""
    actions = parser.add_subparsers(dest="alerts_action", required=True, metavar="ACTION")
    actions.add_parser("parked", help="list parked deliveries with their errors")
    actions.add_parser("replay", help="resend every parked delivery on its channel")


async def _run(action: str) -> int:
    from prometheus_client import CollectorRegistry

    from streams.metrics import NotifierMetrics
    from streams.notifier.delivery import Deliverer, SystemClock
    from streams.notifier.keys import Keys, close, connect
    from streams.notifier.pacing import Backoff
    from streams.notifier.routing import Recipient, RouteSource
    from streams.notifier.service import build_channels
    from streams.settings import load_settings

    settings = load_settings()
    config = settings.notifier
    client = connect(settings.redis)
    clock = SystemClock()
    deliverer = Deliverer(
        client,
        Keys(settings.redis.key_prefix),
        NotifierMetrics.create(CollectorRegistry()),
        Backoff(config.backoff_base_seconds, config.backoff_max_seconds, config.max_attempts),
        config.dedupe_ttl_seconds,
        clock,
    )
    try:
        if action == "parked":
            entries = await deliverer.parked()
            for entry in entries:
                print(
                    f"{entry.entry_id}  {entry.channel:<8} {len(entry.event_ids)} alert(s)  "
                    f"attempts {entry.attempts}  parked {entry.parked_at}  {entry.error}"
                )
            print(f"{len(entries)} parked deliveries", file=sys.stderr)
            return 0
        channels = build_channels(settings, clock)
        try:
            fallback = (
                Recipient(
                    config.default_owner,
                    None,
                    config.default_owner_email,
                    None,
                    RouteSource.DEFAULT,
                )
                if config.default_owner
                else None
            )
            resent, failing = await deliverer.replay(channels, fallback)
        finally:
            for channel in channels:
                await channel.close()
        print(f"resent {resent}, still failing {failing}", file=sys.stderr)
        return 0 if failing == 0 else 1
    finally:
        await close(client)


def run(args: argparse.Namespace) -> int:
    """Exit 0 when everything is listed or resent, 1 when some deliveries still fail."""
    from redis.exceptions import RedisError

    from streams.notifier.keys import explain_redis_error
    from streams.settings import ConfigError

    try:
        return asyncio.run(_run(args.alerts_action))
    except ConfigError as error:
        print(f"tierstream alerts: {error}", file=sys.stderr)
        return 2
    except (RedisError, OSError) as error:
        print(f"tierstream alerts: {explain_redis_error(error)}", file=sys.stderr)
        return 2
