"""Issue 7 items 1 and 2: paths that lost data with exit 0.

* a duplicate key is never a skippable row error: ``--on-error=skip`` must not turn it into
  a rejected row that bypasses the delete guards (item 1);
* the run's scratch tables never touch a user table that happens to share their name,
  on a dry run, a failed run or a good one (item 2, RELIABILITY row 35).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa

from conftest import drop_table, engine_url
from helpers import run_cli, write_csv


def make_items(engine: sa.Engine, name: str, n: int) -> None:
    with engine.begin() as conn:
        conn.exec_driver_sql(f"CREATE TABLE {name} (id INTEGER PRIMARY KEY, name VARCHAR(40))")
        conn.execute(sa.text(f"INSERT INTO {name} VALUES (:id, :name)"),
                     [{"id": i, "name": f"item {i}"} for i in range(1, n + 1)])


def rows_of(engine: sa.Engine, name: str) -> list[tuple[object, ...]]:
    with engine.connect() as conn:
        return sorted(tuple(r) for r in conn.exec_driver_sql(f"SELECT * FROM {name}"))


@pytest.mark.parametrize("engine_name", ["database", "memory"])
def test_duplicate_keys_are_never_skipped_into_deletes(any_engine: sa.Engine, table_name: str,
                                                        tmp_path: Path, engine_name: str) -> None:
    make_items(any_engine, table_name, 100)
    before = rows_of(any_engine, table_name)
    source = write_csv(tmp_path / "items.csv", ["id", "name"],
                       [[1, f"dup {i}"] for i in range(98)] + [[2, "two"]])
    try:
        proc = run_cli("sync", str(source), engine_url(any_engine), "--table", table_name,
                       "--key", "id", "--delete", "--on-error=skip", "--max-delete", "5",
                       "--rejects", str(tmp_path / "rejects.csv"), "--engine", engine_name)
        assert proc.returncode != 0, proc.stdout + proc.stderr
        assert "duplicate key" in proc.stderr, proc.stderr
        assert "Traceback" not in proc.stderr
        assert rows_of(any_engine, table_name) == before
    finally:
        drop_table(any_engine, table_name)


@contextmanager
def own_schema(engine: sa.Engine) -> Iterator[tuple[sa.Engine, str]]:
    """On PostgreSQL, a schema of this test's own on the search path (so another session's
    run on the same server cannot touch its decoys); elsewhere the engine as it is."""
    if engine.dialect.name != "postgresql":
        yield engine, engine_url(engine)
        return
    schema = f"s_{uuid.uuid4().hex[:10]}"
    with engine.begin() as conn:
        conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
    scoped = sa.create_engine(engine.url, connect_args={"options": f"-csearch_path={schema}"})
    try:
        yield scoped, engine_url(engine) + f"?options=-csearch_path%3D{schema}"
    finally:
        scoped.dispose()
        with engine.begin() as conn:
            conn.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")


def test_user_tables_named_like_the_stage_survive(any_engine: sa.Engine, table_name: str,
                                                 tmp_path: Path) -> None:
    """Row 35: user tables with every name the run's scratch tables ever had."""
    with own_schema(any_engine) as (engine, url):
        user_tables_survive(engine, url, table_name, tmp_path)


def user_tables_survive(engine: sa.Engine, url: str, table_name: str, tmp_path: Path) -> None:
    make_items(engine, table_name, 10)
    decoys = [f"syncline_{kind}_{n}{suffix}" for kind in ("stage", "load") for n in range(1, 4)
              for suffix in ("", "_diff", "_protect")]
    with engine.begin() as conn:
        for decoy in decoys:
            conn.exec_driver_sql(f"DROP TABLE IF EXISTS {decoy}")
            conn.exec_driver_sql(f"CREATE TABLE {decoy} (keep INTEGER)")
            conn.exec_driver_sql(f"INSERT INTO {decoy} VALUES (1)")
    good = write_csv(tmp_path / "good.csv", ["id", "name"], [[i, f"new {i}"] for i in range(1, 12)])
    bad = write_csv(tmp_path / "bad.csv", ["id", "name"], [[1, "x"], ["oops", "y"]])
    try:
        for args in (["--dry-run"], [], ["--delete"]):
            proc = run_cli("sync", str(good), url, "--table", table_name, "--key", "id", *args)
            assert proc.returncode == 0, proc.stderr
        proc = run_cli("sync", str(bad), url, "--table", table_name, "--key", "id")
        assert proc.returncode == 1, proc.stderr
        with engine.connect() as conn:
            for decoy in decoys:
                assert conn.exec_driver_sql(f"SELECT keep FROM {decoy}").all() == [(1,)], decoy
    finally:
        drop_table(engine, table_name)
        for decoy in decoys:
            drop_table(engine, decoy)
