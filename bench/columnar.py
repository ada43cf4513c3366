"""Time whole-column coercion on Arrow (syncline.columnar) against the batch coercer
(syncline.columns.column_coercer, 10,000 values at a time) on the benchmark's v1.csv, and
check that both give the same values.

    python bench/columnar.py [--rows 1000000] [--workdir DIR]

The file is read once with pyarrow.csv, every column as text; neither time includes that,
nor turning the Arrow column into Python strings for the batch coercer (shown as "to
Python"); each time is the best of three runs.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import pyarrow as pa
import pyarrow.csv as pacsv

from syncline.columnar import arrow_coercer
from syncline.columns import column_coercer
from syncline.spec import ColumnSpec, TypeOptions

SPECS = [
    ColumnSpec("upc", "text", length=32, nullable=False),
    ColumnSpec("description", "text", length=200),
    ColumnSpec("price", "decimal", precision=10, scale=2),
    ColumnSpec("department", "integer", int_bits=32),
    ColumnSpec("active", "boolean"),
]
BATCH = 10_000
T = TypeVar("T")


def best(work: Callable[[], T], tries: int = 3) -> tuple[float, T]:
    """The shortest of ``tries`` runs of ``work``, and its result."""
    times = []
    for _ in range(tries):
        start = time.perf_counter()
        result = work()
        times.append(time.perf_counter() - start)
    return min(times), result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--workdir", type=Path,
                        default=Path(tempfile.gettempdir()) / "syncline-bench")
    args = parser.parse_args()
    path = args.workdir / f"data-{args.rows}-{args.seed}" / "v1.csv"
    if not path.exists():
        print(f"{path} is missing: run bench/generate.py (or bench/run.py) first")
        return 2
    names = [s.name for s in SPECS]
    table = pacsv.read_csv(path, convert_options=pacsv.ConvertOptions(
        column_types=dict.fromkeys(names, pa.string()), strings_can_be_null=False,
        quoted_strings_can_be_null=False))
    options = TypeOptions()
    print(f"{path}: {table.num_rows:,} rows")
    print(f"{'column':<12} {'arrow':>9} {'batches':>9} {'speed-up':>9} {'to Python':>10}")
    totals = [0.0, 0.0, 0.0]
    for spec in SPECS:
        raw = table.column(spec.name).combine_chunks()
        arrow = arrow_coercer(spec, options)
        assert arrow is not None
        arrow_time, (values, bad) = best(lambda: arrow(raw))  # noqa: B023

        convert_time, texts = best(raw.to_pylist)
        batch = column_coercer(spec, options)
        batch_time, expected = best(
            lambda: [v for i in range(0, len(texts), BATCH)  # noqa: B023
                     for v in batch(texts[i:i + BATCH])])  # noqa: B023

        if bad is not None or values.to_pylist() != expected:
            print(f"{spec.name}: the two coercers differ")
            return 1
        totals[0] += arrow_time
        totals[1] += batch_time
        totals[2] += convert_time
        print(f"{spec.name:<12} {arrow_time:>8.3f}s {batch_time:>8.3f}s "
              f"{batch_time / arrow_time:>8.1f}x {convert_time:>9.3f}s")
    print(f"{'all':<12} {totals[0]:>8.3f}s {totals[1]:>8.3f}s "
          f"{totals[1] / totals[0]:>8.1f}x {totals[2]:>9.3f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
