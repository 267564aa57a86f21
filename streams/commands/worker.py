"""`tierstream worker`: run the stream processor (a Faust worker) until stopped."""

from __future__ import annotations

import argparse
import sys

__all__ = ["HELP", "add_arguments", "run"]

HELP = "run the stream worker: orders/feedback in, TierChanged out"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `tierstream worker` (everything else is TIERSTREAM_* configuration)."""
    parser.add_argument(
        "--loglevel", default="warn", choices=["crit", "error", "warn", "info", "debug"]
    )


def run(args: argparse.Namespace) -> int:
    """Build the worker from the environment and run it; bad configuration exits 2."""
    import faust

    from streams.settings import ConfigError, load_settings
    from streams.worker import create_worker
    from tiering import PolicyError, default_policy, load_policy

    try:
        settings = load_settings()
        policy = load_policy(settings.policy) if settings.policy else default_policy()
    except (ConfigError, PolicyError) as error:
        print(f"tierstream worker: {error}", file=sys.stderr)
        return 2
    import asyncio

    from streams.kafka_admin import ensure_topics

    worker = create_worker(settings, policy)
    # Before Faust starts: its producer must see every co-partitioned topic with its full
    # partition count, or explicit-partition sends to internal topics fail.
    asyncio.run(
        ensure_topics(
            settings.kafka.bootstrap,
            worker.topology.co_partitioned,
            settings.topics.partitions,
            settings.topics.replication_factor,
        )
    )
    faust.Worker(worker.app, loglevel=args.loglevel, quiet=True).execute_from_commandline()
    return 0
