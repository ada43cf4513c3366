"""Issue 7 items 4 and 11: a run among other sessions (RELIABILITY rows 18 and 39).

A real ``syncline sync`` child is paused after it has read the target and computed its
changes (``after_read``); meanwhile an application session edits a row the run is about
to update, or inserts a row the run never saw. The run must never overwrite the edit nor
delete the new row: a conflict fails the run as transient with nothing written. Reading
for the diff must not block the application (MariaDB took shared locks). And a lock held
by another session bounds the run's wait to ``--lock-timeout``.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from conftest import drop_table, engine_url
from helpers import app_engine, run_cli, start_paused, write_csv


def make_items(engine: sa.Engine, name: str, n: int) -> None:
    with engine.begin() as conn:
        conn.exec_driver_sql(f"CREATE TABLE {name} (id INTEGER PRIMARY KEY, name VARCHAR(40))")
        conn.execute(sa.text(f"INSERT INTO {name} VALUES (:id, :name)"),
                     [{"id": i, "name": f"item {i}"} for i in range(1, n + 1)])


def rows_of(engine: sa.Engine, name: str) -> dict[int, str]:
    with engine.connect() as conn:
        return {int(i): str(n) for i, n in conn.exec_driver_sql(f"SELECT id, name FROM {name}")}


@pytest.mark.parametrize("engine_name", ["database", "memory"])
def test_an_edit_made_after_the_read_is_never_overwritten(
        any_engine: sa.Engine, table_name: str, tmp_path: Path, engine_name: str) -> None:
    make_items(any_engine, table_name, 20)
    source = write_csv(tmp_path / "items.csv", ["id", "name"],
                       [[i, f"source {i}" if i <= 2 else f"item {i}"] for i in range(1, 20)])
    app = app_engine(any_engine)
    try:
        child = start_paused(["sync", str(source), engine_url(any_engine), "--table", table_name,
                              "--key", "id", "--delete", "--engine", engine_name], tmp_path)
        try:
            with app.begin() as conn:  # never blocked by the run's reading (not on SQLite)
                conn.exec_driver_sql(f"UPDATE {table_name} SET name = 'app' WHERE id = 1")
            edited = True
        except sa.exc.OperationalError:
            assert any_engine.dialect.name == "sqlite", "the run's read blocked the application"
            edited = False  # SQLite: the run's read transaction holds off writers instead
        out, err = child.communicate(timeout=60)
        after = rows_of(any_engine, table_name)
        if edited:
            assert child.returncode == 1, out + err
            assert "transient" in err and "Traceback" not in err, err
            assert after == {**{i: f"item {i}" for i in range(1, 21)}, 1: "app"}
        else:
            assert child.returncode == 0, out + err
            assert after[1] == "source 1" and 20 not in after
    finally:
        app.dispose()
        drop_table(any_engine, table_name)


@pytest.mark.parametrize("engine_name", ["database", "memory"])
def test_a_row_inserted_during_the_run_is_never_deleted(
        any_engine: sa.Engine, table_name: str, tmp_path: Path, engine_name: str) -> None:
    make_items(any_engine, table_name, 20)
    source = write_csv(tmp_path / "items.csv", ["id", "name"],
                       [[i, f"item {i}"] for i in range(1, 20)])  # 20 is deleted
    app = app_engine(any_engine)
    try:
        child = start_paused(["sync", str(source), engine_url(any_engine), "--table", table_name,
                              "--key", "id", "--delete", "--engine", engine_name, "--json"],
                             tmp_path)
        try:
            with app.begin() as conn:
                conn.exec_driver_sql(f"INSERT INTO {table_name} VALUES (999, 'app')")
            inserted = True
        except sa.exc.OperationalError:
            assert any_engine.dialect.name == "sqlite", "the run's read blocked the application"
            inserted = False
        out, err = child.communicate(timeout=60)
        assert child.returncode == 0, out + err
        after = rows_of(any_engine, table_name)
        assert 20 not in after
        assert (after.get(999) == "app") is inserted
        assert '"deleted": 1' in out
    finally:
        app.dispose()
        drop_table(any_engine, table_name)


@pytest.mark.parametrize("dry_run", [False, True])
def test_a_lock_held_elsewhere_bounds_the_wait(any_engine: sa.Engine, table_name: str,
                                               tmp_path: Path, dry_run: bool) -> None:
    """Row 39: the run gives up after --lock-timeout with a transient error, writing nothing."""
    make_items(any_engine, table_name, 5)
    source = write_csv(tmp_path / "items.csv", ["id", "name"],
                       [[i, f"new {i}"] for i in range(1, 6)])
    holder = any_engine.connect()
    try:
        if any_engine.dialect.name == "sqlite":
            holder.exec_driver_sql("BEGIN EXCLUSIVE")  # SQLite locks the whole file
        elif any_engine.dialect.name == "postgresql" and dry_run:
            holder.exec_driver_sql(f"LOCK TABLE {table_name} IN ACCESS EXCLUSIVE MODE")
        elif dry_run:
            holder.exec_driver_sql(f"LOCK TABLES {table_name} WRITE")
        else:
            holder.exec_driver_sql(f"UPDATE {table_name} SET name = 'held' WHERE id = 1")
        began = time.monotonic()
        proc = run_cli("sync", str(source), engine_url(any_engine), "--table", table_name,
                       "--key", "id", "--lock-timeout", "1", *(["--dry-run"] if dry_run else []))
        waited = time.monotonic() - began
        assert proc.returncode == 1, proc.stdout + proc.stderr
        assert "transient" in proc.stderr and "--lock-timeout" in proc.stderr, proc.stderr
        assert "Traceback" not in proc.stderr and "unexpected" not in proc.stderr, proc.stderr
        assert waited < 15, waited
    finally:
        holder.rollback()
        if any_engine.dialect.name == "mysql":
            holder.exec_driver_sql("UNLOCK TABLES")
        holder.close()
    try:
        assert rows_of(any_engine, table_name) == {i: f"item {i}" for i in range(1, 6)}
    finally:
        drop_table(any_engine, table_name)
