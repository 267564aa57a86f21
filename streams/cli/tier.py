"""`tierstream tier CUSTOMER_ID`: a customer's current classification, from the Redis read model."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys

__all__ = ["HELP", "add_arguments", "run"]

HELP = "show a customer's current classification (from the Redis read model)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """`tier CUSTOMER_ID [--json]`."""
    parser.add_argument("customer_id", metavar="CUSTOMER_ID")
    parser.add_argument("--json", action="store_true", help="print the stored record as JSON")


async def _lookup(customer_id: str) -> object:
    from streams.notifier.keys import Keys, close, connect
    from streams.notifier.read_model import ReadModel
    from streams.settings import load_settings

    settings = load_settings()
    client = connect(settings.redis)
    try:
        return await ReadModel(client, Keys(settings.redis.key_prefix)).get(customer_id)
    finally:
        await close(client)


def run(args: argparse.Namespace) -> int:
    """Print the classification; exit 1 when the read model does not know the customer."""
    from redis.exceptions import RedisError

    from streams.notifier.keys import explain_redis_error
    from streams.notifier.read_model import StoredClassification
    from streams.settings import ConfigError

    try:
        stored = asyncio.run(_lookup(args.customer_id))
    except ConfigError as error:
        print(f"tierstream tier: {error}", file=sys.stderr)
        return 2
    except (RedisError, OSError) as error:
        print(
            f"tierstream tier: cannot read the read model: {explain_redis_error(error)}",
            file=sys.stderr,
        )
        return 2
    if not isinstance(stored, StoredClassification):
        print(
            f"tierstream tier: unknown customer {args.customer_id!r}: the read model has no "
            "classification for it (no TierChanged seen yet, or it was erased)",
            file=sys.stderr,
        )
        return 1
    current = stored.classification
    if args.json:
        record = {
            "customer_id": stored.customer_id,
            "classification": current.model_dump(mode="json"),
            "metrics": stored.metrics.model_dump(mode="json"),
            "reasons": [reason.model_dump(mode="json") for reason in stored.reasons],
            "occurred_at": stored.occurred_at.isoformat(),
            "event_id": stored.event_id,
            "policy_version": stored.policy_version,
            "value_model_version": stored.value_model_version,
        }
        print(json.dumps(record, indent=2))
        return 0
    scores = current.scores
    rows = [
        ("customer", stored.customer_id),
        ("tier", current.tier),
        ("abc class", current.abc_class.value),
        ("rfm", f"R{scores.recency} F{scores.frequency} M{scores.monetary}" if scores else "-"),
        ("segment", current.segment.value if current.segment else "-"),
        ("lifecycle", current.lifecycle.value),
        ("risk", current.risk.value),
        ("recency days", str(stored.metrics.recency_days)),
        ("frequency", str(stored.metrics.frequency)),
        ("monetary", f"{stored.metrics.monetary:,.2f}"),
        ("as of", stored.occurred_at.isoformat()),
        ("policy", stored.policy_version),
    ]
    metrics = stored.metrics
    if metrics.p_alive is not None:
        rows += [
            ("p alive", f"{metrics.p_alive:.3f}"),
            ("predicted clv", f"{metrics.predicted_clv or 0:,.2f}"),
            (
                "next order",
                metrics.expected_next_order_at.isoformat()
                if metrics.expected_next_order_at
                else "-",
            ),
            ("value model", stored.value_model_version or "-"),
        ]
    for name, value in rows:
        print(f"{name:<13} {value}")
    for reason in stored.reasons:
        print(f"  - {reason.text} [{reason.code}]")
    return 0
