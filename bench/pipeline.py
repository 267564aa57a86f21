"""Benchmark the worker's domain and stage logic in-process, without Kafka or Faust.

    .venv/bin/python bench/pipeline.py 20000 --customers 2000

The same generated history as bench/stream.py (seed 11, 500 days, read through the CSV reader
as `tierstream replay` does, in event-time order) is encoded to the JSON bytes the worker
receives. Two figures, each in records/s over the same records, side by side:

- decode: `streams.pipeline.decode.decode` of every record (JSON -> pydantic event), as the worker's
  stage 1 does before anything else;
- LocalPipeline: the already-decoded events fed to `streams.pipeline.local_pipeline.LocalPipeline`
  (apply to state, close epochs at day boundaries, rank summaries, barrier, rank), then the
  final watermark to every partition;

and their serial combination, 1 / (1/decode + 1/pipeline), the ceiling of a worker whose only
cost is this logic. Compare with the worker's figure from bench/stream.py to see what the
Kafka/Faust glue costs. Figures only, no verdict.

`--policies` also feeds the same events through LocalPipeline under the example value-layer
policy (examples/policies/value_layers.yaml) and under the default policy with
`rank_within: region` (five regions assigned by customer id, one customer in ten without a
profile), each printed with its ratio to the default policy's run.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import zlib
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

# bench/stream.py's final watermark: closes every boundary up to 2026-07-01.
FINAL = datetime(2026, 7, 1, 0, 0, 0, 1, tzinfo=UTC)
DAY_SECONDS = 86_400


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("events", type=int, help="generated order rows")
    parser.add_argument("--customers", type=int, help="default: events / 10")
    parser.add_argument("--partitions", type=int, default=2)
    parser.add_argument(
        "--policies", action="store_true", help="also run the value layers and rank_within"
    )
    args = parser.parse_args()
    customers = args.customers or max(args.events // 10, 10)

    from schemas import FeedbackEvent, OrderEvent
    from schemas.profile import ProfileDimensions
    from streams.cli.replay import merge_in_event_time_order
    from streams.data.csv_input import CsvReport, read_feedback, read_orders
    from streams.data.history import FEEDBACK_HEADER, ORDER_HEADER, generate_history, write_csv
    from streams.pipeline.decode import RecordOrigin, decode
    from streams.pipeline.local_pipeline import LocalPipeline
    from streams.pipeline.rank_stage import ProfileLookup
    from tiering import Policy, default_policy, load_policy

    history = generate_history(customers, args.events, seed=11, span_days=500)
    with tempfile.TemporaryDirectory() as directory:
        orders_csv = write_csv(Path(directory) / "o.csv", ORDER_HEADER, history.orders)
        feedback_csv = write_csv(Path(directory) / "f.csv", FEEDBACK_HEADER, history.feedback)
        events = merge_in_event_time_order(
            list(read_orders(orders_csv, CsvReport(orders_csv))),
            list(read_feedback(feedback_csv, CsvReport(feedback_csv))),
        )
    records = [
        (type(event), event.customer_id.encode(), event.model_dump_json().encode())
        for event in events
    ]
    print(f"{len(records):,} records ({customers:,} customers, {args.partitions} partitions)")

    origin = RecordOrigin("orders", 0, 0)
    now = datetime.now(UTC)
    started = time.perf_counter()
    decoded: list[OrderEvent | FeedbackEvent] = []
    for model, key, value in records:
        event = decode(model, key, value, origin, now).event
        assert event is not None
        decoded.append(event)
    decode_seconds = time.perf_counter() - started

    def run(policy: Policy, profiles: ProfileLookup | None = None) -> tuple[float, int]:
        pipeline = LocalPipeline(policy, args.partitions, DAY_SECONDS, profiles=profiles)
        started = time.perf_counter()
        for event in decoded:
            pipeline.feed(event)
        for partition in range(args.partitions):
            pipeline.watermark(partition, FINAL)
        return time.perf_counter() - started, len(pipeline.emitted)

    pipeline_seconds, emitted = run(default_policy())

    decode_rate = len(records) / decode_seconds
    pipeline_rate = len(records) / pipeline_seconds
    serial_rate = len(records) / (decode_seconds + pipeline_seconds)
    print(f"decode:        {decode_rate:>12,.0f} records/s ({decode_seconds:.2f} s)")
    print(
        f"LocalPipeline: {pipeline_rate:>12,.0f} records/s ({pipeline_seconds:.2f} s, "
        f"{emitted:,} TierChanged)"
    )
    print(f"both, serial:  {serial_rate:>12,.0f} records/s")
    if args.policies:
        regions = ("emea", "apac", "amer", "latam", "anz")

        def region_of(customer_id: str) -> ProfileDimensions | None:
            number = zlib.crc32(customer_id.encode())
            return None if number % 10 == 0 else ProfileDimensions(region=regions[number % 5])

        layers = load_policy(REPO / "examples" / "policies" / "value_layers.yaml")
        within = default_policy().model_copy(update={"rank_within": "region"})
        for name, policy, profiles in (
            ("value layers", layers, None),
            ("rank_within", within, region_of),
        ):
            seconds, count = run(policy, profiles)
            print(
                f"{name + ':':<14} {len(records) / seconds:>12,.0f} records/s ({seconds:.2f} s, "
                f"{count:,} TierChanged; time {seconds / pipeline_seconds:.2f}x the default's)"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
