"""The issue's acceptance scenario, end to end through the CLI, on all three databases.

First sync creates every row; a second reports 0 changes; after editing 1% of rows, adding
0.5% and removing 0.5%, ``--delete --dry-run --json`` reports exactly those counts and
changes nothing, and the real run makes the table equal the CSV value for value.
"""

from __future__ import annotations

import os
from pathlib import Path

import sqlalchemy as sa

from conftest import drop_table, engine_url
from helpers import (
    PRODUCT_HEADER,
    create_products_table,
    csv_rows,
    edit_products,
    products,
    run_json,
    table_rows,
    write_csv,
)

ROWS = int(os.environ.get("SYNCLINE_TEST_ROWS", "20000"))


def test_products_scenario(any_engine: sa.Engine, table_name: str, tmp_path: Path) -> None:
    url = engine_url(any_engine)
    v1 = products(ROWS)
    v2, expected = edit_products(v1)
    v1_csv = write_csv(tmp_path / "v1.csv", PRODUCT_HEADER, v1)
    v2_csv = write_csv(tmp_path / "v2.csv", PRODUCT_HEADER, v2)
    create_products_table(any_engine, table_name)
    common = ["--table", table_name, "--key", "upc"]
    try:
        first = run_json("sync", str(v1_csv), url, *common)["models"][table_name]
        assert (first["created"], first["updated"], first["deleted"]) == (ROWS, 0, 0)
        assert table_rows(any_engine, table_name) == csv_rows(v1)

        again = run_json("sync", str(v1_csv), url, *common)["models"][table_name]
        assert (again["created"], again["updated"], again["deleted"]) == (0, 0, 0)
        assert again["unchanged"] == ROWS

        before = table_rows(any_engine, table_name)
        dry = run_json("sync", str(v2_csv), url, *common, "--delete", "--dry-run")
        assert dry["dry_run"] is True
        counts = dry["models"][table_name]
        assert {k: counts[k] for k in expected} == expected
        assert counts["errors"] == []
        assert table_rows(any_engine, table_name) == before

        real = run_json("sync", str(v2_csv), url, *common, "--delete")
        assert {k: real["models"][table_name][k] for k in expected} == expected
        assert table_rows(any_engine, table_name) == csv_rows(v2)

        final = run_json("sync", str(v2_csv), url, *common, "--delete")["models"][table_name]
        assert (final["created"], final["updated"], final["deleted"]) == (0, 0, 0)
    finally:
        drop_table(any_engine, table_name)
