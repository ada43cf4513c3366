"""Issue 7 item 13 (RELIABILITY row 12): the target refuses some rows of a set-based write.

Row 70 of 100 breaks a CHECK constraint of the target. By default the run writes nothing
and its error names the row and key and says what the database refused; with
``--on-error=skip`` the other rows are applied and the refused one is reported — never an
"unexpected" error, never a message about syncline's own scratch tables.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import sqlalchemy as sa

from conftest import drop_table, engine_url
from helpers import run_cli, write_csv


def make_stock(engine: sa.Engine, name: str) -> None:
    with engine.begin() as conn:
        conn.exec_driver_sql(f"CREATE TABLE {name} (id INTEGER PRIMARY KEY, qty INTEGER,"
                             " CONSTRAINT qty_positive CHECK (qty >= 0))")
        conn.execute(sa.text(f"INSERT INTO {name} VALUES (:id, :qty)"),
                     [{"id": i, "qty": 1} for i in range(1, 51)])


def rows_of(engine: sa.Engine, name: str) -> dict[int, int]:
    with engine.connect() as conn:
        return {int(i): int(q) for i, q in conn.exec_driver_sql(f"SELECT id, qty FROM {name}")}


@pytest.mark.parametrize("engine_name", ["database", "memory"])
def test_refused_rows_are_named_and_skippable(any_engine: sa.Engine, table_name: str,
                                              tmp_path: Path, engine_name: str) -> None:
    """Key 30 is an update and key 70 a create the CHECK constraint refuses (CSV rows 31
    and 71: the header is row 1)."""
    make_stock(any_engine, table_name)
    before = rows_of(any_engine, table_name)
    source = write_csv(tmp_path / "stock.csv", ["id", "qty"],
                       [[i, -1 if i in (30, 70) else 2] for i in range(1, 101)])
    args = ["sync", str(source), engine_url(any_engine), "--table", table_name, "--key", "id",
            "--engine", engine_name]
    try:
        proc = run_cli(*args)
        assert proc.returncode == 1, proc.stdout + proc.stderr
        assert proc.stderr.startswith(f"Error: cannot write to table {table_name}: it"
                                      " refused 2 row(s); nothing was written"), proc.stderr
        assert "unexpected" not in proc.stderr and "syncline_" not in proc.stderr, proc.stderr
        assert "row 31, key 30" in proc.stderr and "row 71, key 70" in proc.stderr, proc.stderr
        assert "at row" not in proc.stderr, proc.stderr  # MySQL's statement-relative rows
        assert rows_of(any_engine, table_name) == before
        rejects = tmp_path / "rejects.csv"
        proc = run_cli(*args, "--on-error=skip", "--rejects", str(rejects), "--json")
        assert proc.returncode == 0, proc.stdout + proc.stderr
        model = json.loads(proc.stdout)["models"][table_name]
        assert model["error_count"] == 2, model
        assert sorted(e["row"] for e in model["errors"]) == [31, 71]
        assert (model["created"], model["updated"]) == (49, 49), model
        assert rows_of(any_engine, table_name) == {i: 2 for i in range(1, 101) if i != 70} | {
            30: 1}
        with open(rejects, newline="", encoding="utf-8") as handle:
            listed = sorted((r["row"], r["id"]) for r in csv.DictReader(handle))
        assert listed == [("31", "30"), ("71", "70")], listed
    finally:
        drop_table(any_engine, table_name)


def test_a_unique_non_key_column_is_a_refusal_not_a_race(any_engine: sa.Engine,
                                                         table_name: str,
                                                         tmp_path: Path) -> None:
    """A new record whose non-key unique column repeats another record's value is refused
    (exit 1, the row named), not reported as another session's insert of its key."""
    with any_engine.begin() as conn:
        conn.execute(sa.text(f"CREATE TABLE {table_name} (sku INTEGER PRIMARY KEY,"
                             " barcode VARCHAR(20) NOT NULL UNIQUE)"))
        conn.execute(sa.text(f"INSERT INTO {table_name} VALUES (1, 'A')"))
    try:
        source = write_csv(tmp_path / "s.csv", ["sku", "barcode"], [[1, "A"], [2, "A"]])
        ran = run_cli("sync", str(source), engine_url(any_engine), "--table", table_name,
                      "--key", "sku")
        assert ran.returncode == 1, ran.stderr
        assert "refused" in ran.stderr and "row 3" in ran.stderr, ran.stderr
        assert "another session" not in ran.stderr, ran.stderr
        with any_engine.connect() as conn:
            assert conn.execute(sa.text(f"SELECT count(*) FROM {table_name}")).scalar() == 1
    finally:
        drop_table(any_engine, table_name)
