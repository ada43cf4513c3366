"""Time ``CsvSource.read_arrow`` (pyarrow.csv, csv_arrow.py) against ``CsvSource.read``.

    python bench/csv_arrow.py [FILE] [--fields a,b,c] [--repeat 3] [--check]

FILE defaults to the benchmark's 1M-row v1.csv (bench/generate.py, seed 42); fields to
all its columns. Prints the best of ``--repeat`` runs of each; ``--check`` also compares
the records (line, values) one by one.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from syncline.sources.csv import CsvSource

DEFAULT = Path(tempfile.gettempdir()) / "syncline-bench" / "data-1000000-42" / "v1.csv"


def best(repeat: int, run: Callable[[], int]) -> tuple[float, int]:
    times, count = [], 0
    for _ in range(repeat):
        start = time.perf_counter()
        count = run()
        times.append(time.perf_counter() - start)
    return min(times), count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file", nargs="?", type=Path, default=DEFAULT)
    parser.add_argument("--fields", help="comma-separated (default: every column)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args()
    fields = args.fields.split(",") if args.fields else CsvSource(args.file)._columns()

    def python() -> int:
        return sum(len(batch) for batch in CsvSource(args.file).read(fields))

    def arrow() -> int:
        return sum(len(lines) for lines, _ in CsvSource(args.file).read_arrow(fields))

    import pyarrow.compute  # noqa: F401  (import time is not read time)

    slow, rows = best(args.repeat, python)
    fast, arrow_rows = best(args.repeat, arrow)
    print(f"{args.file} ({rows:,} records, fields {','.join(fields)})")
    print(f"read        {slow:7.3f} s  {rows / slow:12,.0f} records/s")
    print(f"read_arrow  {fast:7.3f} s  {arrow_rows / fast:12,.0f} records/s  ({slow / fast:.1f}x)")
    if args.check:
        expected = (r for batch in CsvSource(args.file).read(fields) for r in batch)
        for lines, batch in CsvSource(args.file).read_arrow(fields):
            columns = [column.to_pylist() for column in batch.columns]
            for line, values in zip(lines.to_pylist(), zip(*columns, strict=True), strict=True):
                assert (line, values) == next(expected), line
        assert next(expected, None) is None
        print("records, lines and values: identical")


if __name__ == "__main__":
    main()
