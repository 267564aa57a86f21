"""`tierstream notifier`: consume `tier-changes`, keep the read model, alert account managers.

Configuration is the `TIERSTREAM_NOTIFIER__*` group (channels, retries, rate limit, port);
see docs/notifier.md. SIGTERM/SIGINT stop after the current batch.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys

__all__ = ["HELP", "add_arguments", "run"]

HELP = "consume tier-changes and route alerts to account managers (webhook, e-mail, Redis, SSE)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Notifier options (everything else comes from TIERSTREAM_* variables)."""
    parser.add_argument(
        "--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"]
    )


async def _main() -> None:
    from prometheus_client import CollectorRegistry

    from streams.notifier.service import Notifier
    from streams.settings import load_settings
    from tiering import default_policy, load_policy

    settings = load_settings()
    policy = load_policy(settings.policy) if settings.policy else default_policy()
    if settings.access.tokens_file is None:
        logging.getLogger(__name__).warning(
            "no TIERSTREAM_ACCESS__TOKENS_FILE, so /alerts/stream answers anyone who reaches "
            "the notifier's port"
        )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await Notifier(settings, policy, CollectorRegistry()).run(stop)


def run(args: argparse.Namespace) -> int:
    """Run until signalled; exit 2 on a configuration or policy error."""
    from streams.settings import ConfigError
    from tiering import PolicyError

    logging.basicConfig(
        level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        asyncio.run(_main())
    except (ConfigError, PolicyError) as error:
        print(f"tierstream notifier: {error}", file=sys.stderr)
        return 2
    return 0
