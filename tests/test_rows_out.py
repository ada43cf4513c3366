"""``init_record`` (defaults for creates, on both engines) and ``--rows-out`` at 100k rows
with bounded memory (issue 12, items 1 and 2; docs/lifecycle.md)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from conftest import engine_url
from helpers import (
    edit_products,
    products,
    syncline_command,
    write_csv,
)
from syncline import Handler, HookError, Importer, IterableSource, RunOptions
from syncline.lifecycle import RowResult

HEADER = ["upc", "description", "price", "department", "active"]


# -- init_record ------------------------------------------------------------------------
def make_accounts(engine: sa.Engine, name: str) -> None:
    """Accounts: code (key), name, and two columns the source does not carry."""
    table = sa.Table(name, sa.MetaData(), sa.Column("code", sa.String(20), primary_key=True),
                     sa.Column("name", sa.String(50)),
                     sa.Column("active", sa.Boolean, nullable=False),
                     sa.Column("origin", sa.String(20)))
    table.create(engine)
    with engine.begin() as conn:
        conn.execute(table.insert(), [{"code": "a", "name": "Ann", "active": False,
                                       "origin": "manual"}])


def accounts(engine: sa.Engine, name: str) -> list[tuple[Any, ...]]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(sa.text(
            f"SELECT code, name, active, origin FROM {name} ORDER BY code"))]


class Accounts(Importer):
    def __init__(self, calls: list[tuple[Any, ...]], **settings: Any) -> None:
        super().__init__(**settings)
        self.calls = calls

    def init_record(self, key: tuple[Any, ...]) -> dict[str, Any] | None:
        self.calls.append(key)
        # "name" is carried by the source: its value wins
        return {"active": True, "origin": f"sync:{key[0]}", "name": "ignored"}


SOURCE = [{"code": "a", "name": "Anne"}, {"code": "b", "name": "Bob"},
          {"code": "c", "name": "Cy"}]


@pytest.mark.parametrize("engine_name", ["memory", "database"])
def test_init_record_gives_creates_their_defaults(sqlite_engine: sa.Engine, table_name: str,
                                                  engine_name: str) -> None:
    make_accounts(sqlite_engine, table_name)
    calls: list[tuple[Any, ...]] = []
    importer = Accounts(calls, table=table_name, key=("code",), source=IterableSource(SOURCE))
    result = Handler(target_url=engine_url(sqlite_engine), importers=[importer]).run(
        RunOptions(engine=engine_name))  # type: ignore[arg-type]
    assert result.models[table_name].engine == engine_name
    assert sorted(calls) == [("b",), ("c",)]  # creates only, never the update of "a"
    assert accounts(sqlite_engine, table_name) == [
        ("a", "Anne", False, "manual"), ("b", "Bob", True, "sync:b"), ("c", "Cy", True, "sync:c")]
    new = {r.key: r.changes for r in result.rows(table_name) if r.op == "new"}
    assert new[("b",)] == {"code": (None, "b"), "name": (None, "Bob"),
                           "active": (None, True), "origin": (None, "sync:b")}


@pytest.mark.parametrize("engine_name", ["memory", "database"])
def test_init_record_on_a_dry_run_and_an_empty_target(sqlite_engine: sa.Engine,
                                                      table_name: str, engine_name: str) -> None:
    make_accounts(sqlite_engine, table_name)
    with sqlite_engine.begin() as conn:
        conn.execute(sa.text(f"DELETE FROM {table_name}"))
    calls: list[tuple[Any, ...]] = []
    url = engine_url(sqlite_engine)
    importer = Accounts(calls, table=table_name, key=("code",), source=IterableSource(SOURCE))
    Handler(target_url=url, importers=[importer]).run(
        RunOptions(dry_run=True, engine=engine_name))  # type: ignore[arg-type]
    assert sorted(calls) == [("a",), ("b",), ("c",)]  # a dry run calls the same hooks
    assert accounts(sqlite_engine, table_name) == []
    importer = Accounts(calls, table=table_name, key=("code",), source=IterableSource(SOURCE))
    Handler(target_url=url, importers=[importer]).run(
        RunOptions(engine=engine_name, collect_changes=False))  # type: ignore[arg-type]
    assert [r[2:] for r in accounts(sqlite_engine, table_name)] == [
        (True, "sync:a"), (True, "sync:b"), (True, "sync:c")]


def test_init_record_and_streamed_rows_on_each_database(any_engine: sa.Engine,
                                                         table_name: str,
                                                         tmp_path: Path) -> None:
    """The in-database engine on SQLite, PostgreSQL and MariaDB: the defaults in the
    INSERT, and the row results streamed from the stage (``collect_changes`` off)."""
    make_accounts(any_engine, table_name)
    try:
        calls: list[tuple[Any, ...]] = []
        source = [*SOURCE, {"code": "d", "name": "Di"}]
        with any_engine.begin() as conn:
            conn.execute(sa.text(f"INSERT INTO {table_name} (code, name, active)"
                                 " VALUES ('d', 'Di', false), ('z', 'Zed', true)"))
        seen: list[tuple[str, tuple[Any, ...]]] = []

        class Watched(Accounts):
            def after_row(self, row: RowResult) -> None:
                seen.append((row.op, row.key))

        importer = Watched(calls, table=table_name, key=("code",),
                           source=IterableSource(source))
        out = tmp_path / "rows.jsonl"
        result = Handler(target_url=engine_url(any_engine), importers=[importer]).run(
            RunOptions(engine="database", collect_changes=False, delete=True,
                       report_skipped=True, rows_out=out))
        assert result.models[table_name].engine == "database"
        assert sorted(calls) == [("b",), ("c",)]
        assert [tuple(r) for r in accounts(any_engine, table_name)] == [
            ("a", "Anne", False, "manual"), ("b", "Bob", True, "sync:b"),
            ("c", "Cy", True, "sync:c"), ("d", "Di", False, None)]
        lines = read_lines(out)
        # creates, updates, deletes, skips; within each, as the database returns them
        assert [(r["op"], r.get("reason")) for r in lines] == [
            ("new", None), ("new", None), ("update", None), ("delete", None),
            ("skip", "unchanged")]
        assert [r["key"] for r in lines[2:]] == [["a"], ["z"], ["d"]]
        new = {r["key"][0]: r["changes"] for r in lines[:2]}
        assert new["b"]["active"] == [None, True] and new["b"]["origin"] == [None, "sync:b"]
        assert set(new) == {"b", "c"}
        assert sorted(seen) == sorted((r["op"], tuple(r["key"])) for r in lines)
    finally:
        with any_engine.begin() as conn:
            conn.execute(sa.text(f"DROP TABLE IF EXISTS {table_name}"))


class Failing(Importer):
    def init_record(self, key: tuple[Any, ...]) -> dict[str, Any] | None:
        if key == ("c",):
            raise ValueError("no default for c")
        return {"active": True}


class Varying(Importer):
    def init_record(self, key: tuple[Any, ...]) -> dict[str, Any] | None:
        return {"active": True} if key == ("b",) else {"active": True, "origin": "x"}


class Unknown(Importer):
    def init_record(self, key: tuple[Any, ...]) -> dict[str, Any] | None:
        return {"enabled": True}


@pytest.mark.parametrize("engine_name", ["memory", "database"])
@pytest.mark.parametrize(("importer", "needle"), [
    (Failing, "init_record raised ValueError: no default for c"),
    (Varying, "must name the same columns"),
    (Unknown, "enabled, not a column of table"),
])
def test_a_failing_init_record_names_hook_model_and_key(
        sqlite_engine: sa.Engine, table_name: str, engine_name: str,
        importer: type[Importer], needle: str) -> None:
    make_accounts(sqlite_engine, table_name)
    source = [{"code": "a", "name": "Anne"}, {"code": "b", "name": "Bob"},
              {"code": "c", "name": "Cy"}]
    made = importer(table=table_name, key=("code",), source=IterableSource(source))
    with pytest.raises(HookError) as caught:
        Handler(target_url=engine_url(sqlite_engine), importers=[made]).run(
            RunOptions(engine=engine_name))  # type: ignore[arg-type]
    error = caught.value
    assert needle in str(error)
    assert error.hook == "init_record" and error.model == table_name
    assert error.key in (("b",), ("c",))
    assert accounts(sqlite_engine, table_name) == [("a", "Ann", False, "manual")]


# -- --rows-out at 100k rows, bounded memory ----------------------------------------------
#: runs ``python -m syncline ARGS`` as a child and prints its peak RSS (kB, Linux)
MEASURE = ("import resource, subprocess, sys\n"
           "proc = subprocess.run(sys.argv[1:], capture_output=True, text=True)\n"
           "sys.stderr.write(proc.stderr)\n"
           "print(proc.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n")


def peak_rss(*args: str) -> int:
    """Peak RSS in MB of one ``syncline`` run in a child process (asserting success)."""
    out = subprocess.run([sys.executable, "-c", MEASURE, *syncline_command(), *args],
                         capture_output=True, text=True, timeout=600, check=True)
    code, kilobytes = out.stdout.split()
    assert code == "0", out.stderr
    return int(kilobytes) // 1024


def read_lines(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle]


def two_runs(tmp_path: Path, n: int) -> tuple[int, int, list[dict[str, Any]],
                                              list[dict[str, Any]]]:
    """A first sync of n products into an empty table, then an edited source with
    ``--delete --report-skipped``; both with ``--rows-out``: the peak RSS of each, and the
    rows each wrote."""
    folder = tmp_path / str(n)
    folder.mkdir()
    url = f"sqlite:///{folder / 'target.db'}"
    rows = products(n)
    first = write_csv(folder / "v1.csv", HEADER, rows)
    edited, _ = edit_products(rows)
    second = write_csv(folder / "v2.csv", HEADER, edited)
    out1, out2 = folder / "rows1.jsonl", folder / "rows2.jsonl"
    rss1 = peak_rss("sync", str(first), url, "--table", "product", "--key", "upc",
                    "--create-table", "--rows-out", str(out1))
    rss2 = peak_rss("sync", str(second), url, "--table", "product", "--key", "upc",
                    "--delete", "--rows-out", str(out2), "--report-skipped")
    return rss1, rss2, read_lines(out1), read_lines(out2)


def test_rows_out_at_100k_rows_in_bounded_memory(tmp_path: Path) -> None:
    n = 100_000
    small1, small2, _, _ = two_runs(tmp_path, 20_000)
    big1, big2, created, second = two_runs(tmp_path, n)
    # the first run: one "new" line per row, in source order, with every field
    assert len(created) == n
    first = next(r for r in created if r["key"] == ["000000000000"])
    assert first["row"] == 2 and first["op"] == "new"
    assert first["changes"]["upc"] == [None, "000000000000"]
    assert set(first["changes"]) == set(HEADER)
    assert {r["op"] for r in created} == {"new"}
    assert sorted(r["row"] for r in created) == list(range(2, n + 2))
    # the second: 1% updated, 0.5% deleted, 0.5% created, the rest unchanged (listed)
    ops: dict[str, int] = {}
    for r in second:
        ops[r["op"]] = ops.get(r["op"], 0) + 1
    assert ops == {"update": n // 100, "delete": n // 200, "new": n // 200,
                   "skip": n - n // 100 - n // 200}
    assert len(second) == n + n // 200
    assert all(r["reason"] == "unchanged" for r in second if r["op"] == "skip")
    update = next(r for r in second if r["op"] == "update")
    assert len(update["changes"]) == 1 and update["row"] is not None
    # memory: bounded by the batch, not by the rows (5x the rows, a few MB more)
    assert big1 - small1 < 40, (small1, big1)
    assert big2 - small2 < 40, (small2, big2)
