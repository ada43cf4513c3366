"""RELIABILITY row 19: on the in-database path, peak memory is bounded by the batch, not N."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import sqlalchemy as sa

from helpers import PRODUCT_HEADER, create_products_table, products, write_csv

# VmHWM is this process image's own peak (ru_maxrss would include the forking parent's)
MEASURE = (
    "import atexit, re, sys;"
    "atexit.register(lambda: print('MAXRSS', re.search(r'VmHWM:\\s+(\\d+)',"
    " open('/proc/self/status').read()).group(1), file=sys.stderr));"
    "from syncline.cli.main import main; sys.argv[0] = 'syncline'; main()"
)


def peak_rss_kb(tmp_path: Path, rows: int) -> int:
    csv_path = write_csv(tmp_path / f"p{rows}.csv", PRODUCT_HEADER, products(rows))
    db = tmp_path / f"t{rows}.db"
    engine = sa.create_engine(f"sqlite:///{db}")
    create_products_table(engine, "products")
    engine.dispose()
    proc = subprocess.run(
        [sys.executable, "-c", MEASURE, "sync", str(csv_path), f"sqlite:///{db}",
         "--table", "products", "--key", "upc", "--engine", "database", "--json"],
        capture_output=True, text=True, timeout=300, check=True)
    found = re.search(r"MAXRSS (\d+)", proc.stderr)
    assert found, proc.stderr
    return int(found.group(1))


def test_peak_memory_does_not_grow_with_rows(tmp_path: Path) -> None:
    small = peak_rss_kb(tmp_path, 20_000)
    large = peak_rss_kb(tmp_path, 120_000)
    assert large < small * 1.25, f"peak RSS {small} KiB at 20k rows, {large} KiB at 120k rows"
