"""Benchmark the batch scorer against a plain pandas computation of the same columns.

    .venv/bin/python bench/score.py 1000000            # N orders (customers default N/50)
    .venv/bin/python bench/score.py 200000 --customers 5000
    .venv/bin/python bench/score.py 0 --csv-gib 1        # a 1 GiB CSV, tierstream only

Generates one messy history (streams.data.history), writes the CSV files, then runs each side in
its own subprocess on the same files (CSV reading included) and prints wall time, orders/s
and peak resident memory of each, and the ratios tierstream/pandas. Figures only, no verdict.

With --csv-gib G it instead writes a messy orders CSV of about G GiB (bench/large_csv.py,
--customers default 500,000) and scores it with tierstream alone, printing time and peak
memory: the whole-file reader ran out of memory on a 1 GB export.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

AS_OF = "2026-06-15"


def _run_side(side: str, orders: Path, feedback: Path) -> None:
    """Child process: score once, print seconds and peak RSS as JSON."""
    from streams.cli.score import parse_as_of

    started = time.perf_counter()
    if side == "tierstream":
        from streams.batch import score_files

        customers = score_files(orders, parse_as_of(AS_OF), feedback=feedback).customers.height
    else:
        from tests.unit.pandas_reference import score

        customers = len(score(orders, feedback, parse_as_of(AS_OF)))
    seconds = time.perf_counter() - started
    print(json.dumps({"seconds": seconds, "peak_mib": _peak_kib() / 1024, "customers": customers}))


def _peak_kib() -> int:
    """This process's peak resident memory. VmHWM belongs to the address space exec made, so
    unlike ru_maxrss (kept across exec on Linux) it does not include the parent's peak."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _large(gib: float, customers: int) -> int:
    sys.path.insert(0, str(REPO / "bench"))
    from large_csv import write_large_csv

    with tempfile.TemporaryDirectory() as directory:
        orders = Path(directory) / "orders.csv"
        feedback = Path(directory) / "feedback.csv"
        feedback.write_text("customer_id,occurred_at,kind,score\n")
        started = time.perf_counter()
        rows = write_large_csv(orders, gib, customers)
        size = orders.stat().st_size
        print(
            f"generated {rows:,} order rows ({size / 1024**3:.2f} GiB) for up to "
            f"{customers:,} customers in {time.perf_counter() - started:.1f} s"
        )
        output = subprocess.run(
            [
                sys.executable,
                __file__,
                "0",
                "--side",
                "tierstream",
                "--files",
                str(orders),
                str(feedback),
            ],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    figures = json.loads(output.strip().splitlines()[-1])
    print(
        f"tierstream: {figures['seconds']:.1f} s, {rows / figures['seconds']:,.0f} rows/s, "
        f"peak {figures['peak_mib']:.0f} MiB ({figures['peak_mib'] / 1024:.2f} GiB), "
        f"{figures['customers']:,} customers"
    )
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("orders", type=int, help="number of generated orders")
    parser.add_argument("--customers", type=int, help="default: orders / 50")
    parser.add_argument("--csv-gib", type=float, help="score a generated CSV of this size")
    parser.add_argument("--side", choices=["tierstream", "pandas"], help=argparse.SUPPRESS)
    parser.add_argument("--files", nargs=2, type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.side:
        _run_side(args.side, *args.files)
        return 0

    if args.csv_gib:
        return _large(args.csv_gib, args.customers or 500_000)
    from streams.data.history import FEEDBACK_HEADER, ORDER_HEADER, generate_history, write_csv

    customers = args.customers or max(args.orders // 50, 10)
    with tempfile.TemporaryDirectory() as directory:
        started = time.perf_counter()
        history = generate_history(customers, args.orders, seed=5)
        orders = write_csv(Path(directory) / "orders.csv", ORDER_HEADER, history.orders)
        feedback = write_csv(Path(directory) / "feedback.csv", FEEDBACK_HEADER, history.feedback)
        rows = len(history.orders)
        del history
        print(
            f"generated {rows:,} order rows for {customers:,} customers "
            f"in {time.perf_counter() - started:.1f} s"
        )
        results = {}
        for side in ("tierstream", "pandas"):
            output = subprocess.run(
                [
                    sys.executable,
                    __file__,
                    str(args.orders),
                    "--side",
                    side,
                    "--files",
                    str(orders),
                    str(feedback),
                ],
                check=True,
                capture_output=True,
                text=True,
            ).stdout
            results[side] = json.loads(output.strip().splitlines()[-1])
    print(f"{'side':<12}{'seconds':>10}{'orders/s':>12}{'peak MiB':>10}{'customers':>11}")
    for side, figures in results.items():
        rate = rows / figures["seconds"]
        print(
            f"{side:<12}{figures['seconds']:>10.1f}{rate:>12,.0f}{figures['peak_mib']:>10.0f}{figures['customers']:>11,}"
        )
    ours, theirs = results["tierstream"], results["pandas"]
    print(
        f"ratio tierstream/pandas: time {ours['seconds'] / theirs['seconds']:.2f}x, "
        f"peak memory {ours['peak_mib'] / theirs['peak_mib']:.2f}x"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
