"""`tierstream worker`: run the stream processor (a Faust worker) until stopped."""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from streams.settings import Settings

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

    from streams.settings import ConfigError, load_settings, with_policy_value_model
    from streams.worker.app import create_worker
    from tiering import PolicyError, default_policy, load_policy

    try:
        settings = load_settings()
        policy = load_policy(settings.policy) if settings.policy else default_policy()
        settings = with_policy_value_model(settings, policy)
    except (ConfigError, PolicyError) as error:
        print(f"tierstream worker: {error}", file=sys.stderr)
        return 2
    if settings.access.tokens_file is None:
        print(
            "tierstream worker: no TIERSTREAM_ACCESS__TOKENS_FILE, so GET /customers/{id} "
            "answers anyone who reaches the web port",
            file=sys.stderr,
        )
    import asyncio

    from aiokafka.errors import KafkaConnectionError

    from streams.kafka.admin import ensure_topics
    from streams.kafka.security import client_options, explain_connection_failure

    worker = create_worker(settings, policy)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    # Before Faust starts: its producer must see every co-partitioned topic with its full
    # partition count, or explicit-partition sends to internal topics fail. The customers
    # topic first, as a compacted topic (the latest profile per customer is what it holds).
    # The first connection: a broker that refuses it (a wrong password, an untrusted
    # certificate) stops the worker here with the setting to fix, not in Faust's retries.
    try:
        asyncio.run(
            ensure_topics(
                settings.kafka.bootstrap,
                [settings.topics.customers],
                settings.topics.partitions,
                settings.topics.replication_factor,
                config={"cleanup.policy": "compact"},
                client_options=client_options(settings.kafka),
            )
        )
    except KafkaConnectionError:
        reason = asyncio.run(explain_connection_failure(settings.kafka))
        print(f"tierstream worker: cannot connect to Kafka: {reason}", file=sys.stderr)
        return 1
    if policy.metrics_dimensions:
        from streams.worker.dimensions import DimensionCardinalityError, check_dimension_values

        # Before anything runs: a dimension with too many values would make a series per
        # value (streams/worker/dimensions.py says what is counted, and what happens later).
        try:
            asyncio.run(
                check_dimension_values(
                    settings.kafka.bootstrap,
                    settings.topics.customers,
                    settings.topics.partitions,
                    policy.metrics_dimensions,
                    client_options(settings.kafka),
                )
            )
        except DimensionCardinalityError as error:
            print(f"tierstream worker: {error}", file=sys.stderr)
            return 2
    asyncio.run(
        ensure_topics(
            settings.kafka.bootstrap,
            worker.topology.co_partitioned,
            settings.topics.partitions,
            settings.topics.replication_factor,
            client_options=client_options(settings.kafka),
        )
    )
    # Changelogs too: Faust checks each table's changelog has as many partitions as its
    # source topic, and a just-created topic can briefly show fewer in the metadata.
    asyncio.run(
        ensure_topics(
            settings.kafka.bootstrap,
            [table.changelog_topic.get_topic_name() for table in worker.app.tables.values()],
            settings.topics.partitions,
            settings.topics.replication_factor,
            config={"cleanup.policy": "compact"},
            client_options=client_options(settings.kafka),
        )
    )
    _discard_local_tables_after_a_crash(settings, worker.app.conf.tabledir)
    try:
        faust_worker = faust.Worker(worker.app, loglevel=args.loglevel, quiet=True)
        # Faust's terminal spinner sets the root logger to DEBUG to see every record, so
        # every aiokafka debug call builds a log record: a twentieth of the worker's time.
        faust_worker.spinner = None
        faust_worker.execute_from_commandline()
    finally:
        _clean_shutdown_marker(settings).touch()
    return 0


def _clean_shutdown_marker(settings: Settings) -> Path:
    return settings.data_dir / f".{settings.app_id}-clean-shutdown"


def _discard_local_tables_after_a_crash(settings: Settings, tabledir: Path) -> None:
    """Under exactly_once, RocksDB holds table writes of transactions that a crash aborted
    (Faust writes the local store at once, the changelog in the transaction). After an
    unclean exit the local copy may be ahead of the committed changelog, so it is dropped
    and the tables are rebuilt from their changelogs, which hold committed data only."""
    marker = _clean_shutdown_marker(settings)
    clean = marker.exists()
    marker.unlink(missing_ok=True)
    if clean or settings.processing_guarantee != "exactly_once":
        return
    if settings.store.startswith("rocksdb") and tabledir.exists():
        print(
            "tierstream worker: unclean shutdown; rebuilding tables from changelogs",
            file=sys.stderr,
        )
        shutil.rmtree(tabledir)
