"""Benchmark the file formats (issue 14): the same products rows as CSV, JSON Lines,
Parquet and XLSX, each synced into SQLite by ``syncline sync`` (initial load into an empty
table, then a re-sync with no change), with rows/s and peak RSS.

    python bench/formats.py [--rows 100000] [--workdir DIR]

The files are made from the benchmark's v1.csv (bench/generate.py) once per N; the table
is compared with the CSV file value for value after each load (exit 1 on a difference).
"""

from __future__ import annotations

import argparse
import csv
import json
import sqlite3
import sys
import tempfile
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from generate import COLUMNS_SQL, generate
from run import syncline_executable
from targets import compare, expected_table, run_timed


def _rows(csv_path: Path) -> list[dict[str, object]]:
    with open(csv_path, newline="", encoding="utf-8") as f:
        return [{"upc": r["upc"], "description": r["description"] or None,
                 "price": Decimal(r["price"]) if r["price"] else None,
                 "department": int(r["department"]) if r["department"] else None,
                 "active": {"1": True, "0": False, "true": True, "false": False}.get(
                     r["active"].lower())}
                for r in csv.DictReader(f)]


def make_files(csv_path: Path, folder: Path) -> dict[str, Path]:
    files = {"csv": csv_path}
    rows = None
    for kind in ("jsonl", "parquet", "xlsx"):
        path = folder / f"v1.{kind}"
        files[kind] = path
        if path.exists():
            continue
        rows = rows if rows is not None else _rows(csv_path)
        if kind == "jsonl":
            with open(path, "w", encoding="utf-8") as f:
                for r in rows:
                    f.write(json.dumps({**r, "price": None if r["price"] is None else
                                        float(r["price"])}) + "\n")
        elif kind == "parquet":
            import pyarrow as pa
            import pyarrow.parquet as pq

            pq.write_table(pa.Table.from_pylist(rows, pa.schema([
                ("upc", pa.string()), ("description", pa.string()),
                ("price", pa.decimal128(10, 2)), ("department", pa.int64()),
                ("active", pa.bool_())])), path)
        else:
            import openpyxl

            book = openpyxl.Workbook(write_only=True)
            sheet = book.create_sheet("products")
            sheet.append(list(rows[0]))
            for r in rows:
                sheet.append([float(v) if isinstance(v, Decimal) else v for v in r.values()])
            book.save(path)
    return files


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--workdir", type=Path,
                        default=Path(tempfile.gettempdir()) / "syncline-bench")
    args = parser.parse_args()
    data = args.workdir / f"data-{args.rows}-{args.seed}"
    generate(args.rows, data, args.seed)
    files = make_files(data / "v1.csv", data)
    expected = expected_table(data / "v1.csv")
    failed = False
    print("| format | initial s | rows/s | no-change s | rows/s | peak RSS MB |")
    print("|---|---|---|---|---|---|")
    for kind, path in files.items():
        db = args.workdir / f"formats-{kind}.db"
        db.unlink(missing_ok=True)
        with sqlite3.connect(db) as conn:
            conn.execute(f"CREATE TABLE products ({COLUMNS_SQL})")
        argv = [syncline_executable(), "sync", str(path), f"sqlite:///{db}", "--table",
                "products", "--key", "upc", "--json"]
        first = run_timed(argv)
        again = run_timed(argv)
        with sqlite3.connect(db) as conn:
            problem = compare(expected, conn.execute(
                "SELECT upc, description, price, department, active FROM products"))
        if not (first.ok and again.ok) or problem:
            print(f"FAILED {kind}: {first.error() if not first.ok else again.error()}"
                  f" {problem or ''}", file=sys.stderr)
            failed = True
        peak = max(first.maxrss_kb, again.maxrss_kb) / 1024
        print(f"| {kind} | {first.seconds:.2f} | {args.rows / first.seconds:,.0f} |"
              f" {again.seconds:.2f} | {args.rows / again.seconds:,.0f} | {peak:.0f} |",
              flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
