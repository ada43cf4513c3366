"""Rejected rows at scale: RELIABILITY.md row 42 (issue 7 item 12).

Rejected rows are streamed to a temporary file, never held in memory; the share of
rejected rows is a guard (``--max-rejected N|P%``, default 10%): a run that rejects every
row never commits by default. A ``--source-query`` is never read whole to learn its columns,
and runs once.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import sqlalchemy as sa

from conftest import drop_table, engine_url
from helpers import (
    PRODUCT_HEADER,
    CliResult,
    create_products_table,
    expect_error,
    ok_json,
    products,
    run_cli,
    seed_products,
    table_rows,
    write_csv,
)

#: prints the child's peak resident memory (KiB on Linux) to stderr when it exits (a process
#: of its own: the peak of this one says nothing about a run)
MEASURED = (
    "import atexit, resource, sys\n"
    "atexit.register(lambda: sys.stderr.write("
    "f'\\nmaxrss={resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}\\n'))\n"
    "from syncline.cli.main import main\n"
    "main(sys.argv[1:])\n"
)


def peak_kib(*args: str) -> tuple[int, dict[str, object]]:
    proc = subprocess.run([sys.executable, "-c", MEASURED, *args, "--json"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    peak = int(proc.stderr.rsplit("maxrss=", 1)[1].split()[0])
    return peak, json.loads(proc.stdout)


def test_every_row_rejected_is_refused_by_default(sqlite_engine: sa.Engine, table_name: str,
                                                  tmp_path: Path) -> None:
    url = engine_url(sqlite_engine)
    rows = products(50)
    for row in rows:
        row[2] = "oops"
    source = write_csv(tmp_path / "bad.csv", PRODUCT_HEADER, rows)
    some = products(50)
    for row in some[:6]:
        row[2] = "oops"
    six_bad = write_csv(tmp_path / "six.csv", PRODUCT_HEADER, some)
    rejects = tmp_path / "r.csv"
    skip = ["--table", table_name, "--key", "upc", "--on-error=skip", "--rejects", str(rejects)]
    try:
        seed_products(sqlite_engine, table_name, products(3))
        before = table_rows(sqlite_engine, table_name)

        err = expect_error(run(str(source), url, *skip), 4, "50 of 50 source rows",
                           "--max-rejected", "nothing was written")
        assert "100%" in err
        expect_error(run(str(six_bad), url, *skip), 4, "6 of 50", "--max-rejected")
        expect_error(run(str(six_bad), url, *skip, "--max-rejected", "5"), 4, "--max-rejected 5")
        expect_error(run(str(six_bad), url, *skip, "--dry-run"), 4, "--max-rejected")
        assert table_rows(sqlite_engine, table_name) == before
        assert not rejects.exists()

        assert ok_json("sync", str(six_bad), url, *skip, "--max-rejected", "6")["rejected"] == 6
        assert ok_json("sync", str(six_bad), url, *skip, "--max-rejected", "12%")["rejected"] == 6
        counts = ok_json("sync", str(source), url, *skip, "--max-rejected", "100%")
        assert counts["rejected"] == 50
        expect_error(run(str(source), url, *skip, "--max-rejected", "lots"), 2, "lots")
    finally:
        drop_table(sqlite_engine, table_name)


def run(*args: str) -> CliResult:
    return run_cli("sync", *args)


def test_rejected_rows_are_streamed_not_held_in_memory(sqlite_engine: sa.Engine,
                                                       table_name: str, tmp_path: Path) -> None:
    """100,000 rejected rows cost about what 100,000 good rows cost (200,000 cost 2.6x
    before: every rejected row was a Python object in a list; 2M: 2.7 GB, now 70 MB)."""
    n = 100_000
    url = engine_url(sqlite_engine)
    good_rows = products(n)
    good = write_csv(tmp_path / "good.csv", PRODUCT_HEADER, good_rows)
    for row in good_rows:
        row[3] = "dept?"
    bad = write_csv(tmp_path / "bad.csv", PRODUCT_HEADER, good_rows)
    try:
        create_products_table(sqlite_engine, table_name)
        common = [url, "--table", table_name, "--key", "upc", "--dry-run"]
        good_peak, _ = peak_kib("sync", str(good), *common)
        bad_peak, data = peak_kib("sync", str(bad), *common, "--on-error=skip", "--rejects",
                                  str(tmp_path / "r.csv"), "--max-rejected", "100%")
        model = data["models"][table_name]  # type: ignore[index]
        assert model["rejected"] == n and model["error_count"] == n  # exact totals
        assert len(model["errors"]) <= 20
        assert bad_peak < good_peak * 1.25 + 20_000, (good_peak, bad_peak)
    finally:
        drop_table(sqlite_engine, table_name)


def test_source_query_runs_once_and_is_never_read_whole(pg_engine: sa.Engine, table_name: str,
                                                        tmp_path: Path) -> None:
    """Each row the query produces calls nextval() once: 2,000 rows -> the sequence moves
    by 2,000. Reading the whole result to learn its columns moved it by 4,000."""
    url = engine_url(pg_engine)
    sequence = f"{table_name}_calls"
    query = (f"SELECT lpad(g::text, 12, '0') AS upc, 'p' || nextval('{sequence}') AS"
             " description, 1.5 AS price, 1 AS department, true AS active"
             " FROM generate_series(1, 2000) AS g")
    try:
        with pg_engine.begin() as conn:
            conn.execute(sa.text(f'CREATE SEQUENCE "{sequence}"'))
        create_products_table(pg_engine, table_name)
        counts = ok_json("sync", url, url, "--table", table_name, "--key", "upc",
                         "--source-query", query)
        assert counts["created"] == 2000
        with pg_engine.connect() as conn:
            calls = conn.execute(sa.text(f'SELECT last_value FROM "{sequence}"')).scalar_one()
        assert calls == 2000
    finally:
        drop_table(pg_engine, table_name)
        with pg_engine.begin() as conn:
            conn.execute(sa.text(f'DROP SEQUENCE IF EXISTS "{sequence}"'))
