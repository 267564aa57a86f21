"""The columnar batch engine behind `tierstream score` (polars).

Why polars: the fold (`tiering.score_history`) builds a pydantic event and a frozen state per
row, about 50 µs a row; the same definitions over columns are group-bys, joins and ranks that
polars runs in native code on all cores, with exact fixed-point decimals (Decimal(38, 18), so
sums and ties are as exact as the fold's Decimal arithmetic), a CSV reader that takes a block
of bytes at a time (memory bounded by the block, not the file), Parquet scanning, and type
hints that pass mypy strict. pandas would need object columns for exact decimals (the
reference in tests/unit/pandas_reference.py shows the cost) and pyarrow alone has no ranks.
Kept out of `tiering`, which stays pure and free of I/O and of this dependency.

- `score_files(orders, as_of, ...)` → `BatchScore` (customers frame, input reports, events
  after as_of); `score_frame(...)` → just the frame. Columns: `streams.cli.score`'s
  OUTPUT_COLUMNS (+ industry, size, region with profiles, + CLV_COLUMNS with a value model).
- `inputs`/`csv_chunks`: CSV and Parquet in chunks; `rows`: the row rules over columns;
  `engine`: measurement and classification; `tiers`: the policy's tiers and rising stars
  as expressions; `fold`: the rare customers left to the fold;
  `value`: the CLV columns.
"""

from streams.batch.inputs import InputFormat
from streams.batch.score import BatchScore, score_files, score_frame

__all__ = ["BatchScore", "InputFormat", "score_files", "score_frame"]
