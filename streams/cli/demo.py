"""`tierstream demo`: the main job on a laptop.

Brings up the local Kafka and Redis (`scripts/infra up`, unless TIERSTREAM_KAFKA_BOOTSTRAP
is already set), starts `tierstream worker` and `tierstream notifier` as subprocesses on
fresh topics of their own, replays a generated sample history at a visible pace, and shows
tier changes (from `tier-changes`) and alerts (from a local signed-webhook sink) live until
`--duration` passes or Ctrl-C; then prints a summary and stops everything it started.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

__all__ = ["HELP", "add_arguments", "run"]

HELP = "run the local demo: Kafka + Redis, worker, notifier, sample events, live tier changes"
REPO = Path(__file__).resolve().parents[2]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Demo options."""
    parser.add_argument("--duration", type=float, default=60.0, help="seconds to run (default 60)")
    parser.add_argument(
        "--customers", type=int, default=300, help="customers in the sample (default 300)"
    )
    parser.add_argument("--orders", type=int, default=3000, help="sample orders (default 3000)")
    parser.add_argument(
        "--rate",
        type=float,
        help="events per second (default: spread the sample over 70%% of --duration)",
    )
    parser.add_argument("--partitions", type=int, default=2, help="partitions per topic")
    parser.add_argument("--seed", type=int, default=1, help="seed of the generated history")
    parser.add_argument(
        "--keep-infra", action="store_true", help="leave Kafka and Redis running afterwards"
    )


def _infra_up() -> tuple[dict[str, str], bool]:
    """Addresses from `scripts/infra up`, and whether this call started the set."""
    infra = REPO / "scripts" / "infra"
    status = subprocess.run(  # noqa: S603 - our own script
        [str(infra), "status"], check=False, capture_output=True, text=True
    ).stdout
    already_running = "kafka: running" in status
    subprocess.run([str(infra), "up"], check=True)  # noqa: S603 - our own script
    pairs = (REPO / ".infra" / "env").read_text().splitlines()
    env = dict(line.split("=", 1) for line in pairs if "=" in line)
    return env, not already_running


def run(args: argparse.Namespace) -> int:
    """Start what is missing, run the demo, stop exactly what was started."""
    from streams.demo.session import DemoOptions, run_session

    if args.duration <= 0 or args.customers < 1 or args.orders < 1 or args.partitions < 1:
        print(
            "tierstream demo: duration, customers, orders, partitions must be > 0", file=sys.stderr
        )
        return 2
    bootstrap = os.environ.get("TIERSTREAM_KAFKA_BOOTSTRAP")
    redis_url = os.environ.get("TIERSTREAM_REDIS_URL")
    started_infra = False
    if bootstrap and not redis_url:
        print(
            "tierstream demo: TIERSTREAM_KAFKA_BOOTSTRAP is set but TIERSTREAM_REDIS_URL is not; "
            "set both (source .infra/env) or neither (the demo starts scripts/infra)",
            file=sys.stderr,
        )
        return 2
    if not bootstrap:
        try:
            env, started_infra = _infra_up()
        except (subprocess.CalledProcessError, OSError, KeyError) as error:
            print(f"tierstream demo: scripts/infra up failed ({error})", file=sys.stderr)
            return 1
        bootstrap, redis_url = env["TIERSTREAM_KAFKA_BOOTSTRAP"], env["TIERSTREAM_REDIS_URL"]
    assert redis_url is not None  # both set, or both read from .infra/env
    from streams.kafka.security import client_options
    from streams.settings import ConfigError, load_settings

    try:
        # The SASL/TLS settings the worker and notifier it starts inherit, for its own clients.
        settings = load_settings()
    except ConfigError as error:
        print(f"tierstream demo: {error}", file=sys.stderr)
        return 2
    workdir = Path(tempfile.mkdtemp(prefix="tierstream-demo-"))
    options = DemoOptions(
        bootstrap=bootstrap,
        redis_url=redis_url,
        workdir=workdir,
        duration=args.duration,
        customers=args.customers,
        orders=args.orders,
        rate=args.rate,
        partitions=args.partitions,
        seed=args.seed,
        # Infra that stays up keeps no topics or keys of this run; `down` removes it all.
        cleanup_shared=args.keep_infra or not started_infra,
        kafka_options=client_options(settings.kafka),
        redis_ca_file=settings.redis.ssl_ca_certs,
    )
    try:
        return run_session(options)
    finally:
        if started_infra and not args.keep_infra:
            subprocess.run([str(REPO / "scripts" / "infra"), "down"], check=False)  # noqa: S603
