"""Benchmark: alerts per second one notifier delivers to a local signed-webhook sink.

    set -a; . .infra/env; set +a          # TIERSTREAM_KAFKA_BOOTSTRAP, TIERSTREAM_REDIS_URL
    .venv/bin/python bench/notifier.py 2000                 # N alert-worthy TierChanged events
    .venv/bin/python bench/notifier.py 2000 --managers 5 --rate-limited

Publishes N upgrades (one per customer, spread over `--managers` account managers) to fresh
topics, then starts one notifier (in this process, the same code `tierstream notifier`
runs, with read model, Redis streams and the webhook channel) and times from its start
until the sink has verified and received every alert. The sink shares the event loop and
the machine's cores, so the figure is a floor, not a ceiling. Without `--rate-limited` the
per-manager limit is lifted and every alert is its own POST; with it, the default limit
digests bursts. Prints figures only, no verdict.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


async def _bench(alerts: int, managers: int, rate_limited: bool) -> None:
    from prometheus_client import CollectorRegistry

    from schemas.profile import AccountManager
    from streams.notifier.service import Notifier
    from streams.notifier.testing import classification, tier_changed
    from streams.settings import load_settings
    from tests.conftest import Infra
    from tests.integration.notifier_harness import (
        SECRET,
        WebhookSink,
        create_topics,
        event_records,
        free_port,
        notifier_env,
        produce,
        wait_until,
    )
    from tiering import default_policy

    infra = Infra(os.environ["TIERSTREAM_KAFKA_BOOTSTRAP"], os.environ["TIERSTREAM_REDIS_URL"])
    name = f"bench-{uuid.uuid4().hex[:8]}"
    topics = await create_topics(infra, name)
    at = datetime(2026, 3, 1, tzinfo=UTC)
    before, after = classification("B"), classification("A")
    events = [
        tier_changed(
            f"c-{n}",
            before,
            after,
            occurred_at=at + timedelta(seconds=n),
            account_manager=AccountManager(id=f"m-{n % managers}", name="manager"),
        )
        for n in range(alerts)
    ]
    await produce(infra, topics[0], event_records(events))
    sink = WebhookSink()
    url = await sink.start()
    limits = {} if rate_limited else {"burst": str(alerts), "rate_per_minute": "1000000"}
    env = notifier_env(
        infra,
        name,
        topics,
        webhook__url=url,
        webhook__secret=SECRET,
        port=str(free_port()),
        **limits,
    )
    os.environ.update(env)
    notifier = Notifier(load_settings(), default_policy(), CollectorRegistry())
    stop = asyncio.Event()
    started = time.perf_counter()
    task = asyncio.create_task(notifier.run(stop))
    try:
        await wait_until(lambda: len(sink.accepted) >= 1, 120, "the first alert delivered")
        first = time.perf_counter()
        await wait_until(lambda: len(sink.deliveries()) >= alerts, 600, "every alert delivered")
        elapsed = time.perf_counter() - started
        steady = time.perf_counter() - first
    finally:
        stop.set()
        await task
        await sink.close()
    limit = "on" if rate_limited else "off"
    print(f"alerts            {alerts:,} to {managers} managers (rate limit {limit})")
    print(f"webhook requests  {len(sink.accepted):,} (bad signatures {sink.bad_signatures})")
    print(f"wall time         {elapsed:.2f} s (from notifier start, Kafka + Redis + webhook)")
    print(f"throughput        {alerts / elapsed:,.0f} alerts/s including start-up")
    print(f"steady state      {alerts / steady:,.0f} alerts/s (first to last delivery)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("alerts", type=int, help="number of alert-worthy TierChanged events")
    parser.add_argument("--managers", type=int, default=20)
    parser.add_argument("--rate-limited", action="store_true", help="keep the default rate limit")
    args = parser.parse_args()
    if "TIERSTREAM_KAFKA_BOOTSTRAP" not in os.environ:
        sys.exit("bench/notifier.py: source .infra/env first (scripts/infra up)")
    asyncio.run(_bench(args.alerts, args.managers, args.rate_limited))


if __name__ == "__main__":
    main()
