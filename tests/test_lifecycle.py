"""The import lifecycle (issue 12, items 1 and 2): hooks called in one documented order
(docs/lifecycle.md), delete-by-flag, skip_row, before_apply refusing, after_run after a
failed run, and each row's result (``Result.rows``, ``--rows-out``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from conftest import engine_url
from helpers import run_cli, write_csv
from syncline import (
    ConfigError,
    GuardError,
    Handler,
    HookError,
    Importer,
    IterableSource,
    RowErrors,
    RunOptions,
)
from syncline.diff import ChangeSet
from syncline.lifecycle import Context, RowResult
from syncline.options import RejectedLimit
from syncline.result import ModelResult, Result

SEED = [("a", "apple", 1), ("b", "banana", 2), ("c", "cherry", 3), ("d", "date", 4),
        ("g", "grape", 7)]


def make_items(engine: sa.Engine, name: str) -> None:
    """Items (sku key, name, qty) holding SEED."""
    table = sa.Table(name, sa.MetaData(), sa.Column("sku", sa.String(20), primary_key=True),
                     sa.Column("name", sa.String(50)), sa.Column("qty", sa.Integer))
    table.create(engine)
    with engine.begin() as conn:
        conn.execute(table.insert(), [dict(zip(("sku", "name", "qty"), r, strict=True))
                                      for r in SEED])


def rows_of(engine: sa.Engine, name: str) -> list[tuple[Any, ...]]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(sa.text(f"SELECT * FROM {name} ORDER BY 1"))]


@pytest.fixture
def items(sqlite_engine: sa.Engine, table_name: str) -> tuple[sa.Engine, str]:
    make_items(sqlite_engine, table_name)
    return sqlite_engine, table_name


def record(sku: str, name: str, qty: Any, deleted: str = "N") -> dict[str, Any]:
    return {"sku": sku, "name": name, "qty": qty, "deleted": deleted}


#: a unchanged, b updated, e created, c flagged for delete, d left out by before_row (its
#: target record is left as it is), f an error (qty is not a number); g is in the target
#: only (deleted with --delete)
SOURCE = [record("a", "apple", 1), record("b", "Banana", 5), record("e", "elder", 6),
          record("c", "cherry", 3, "Y"), record("d", "left out", 9),
          record("f", "fig", "many")]


class Flags(Importer):
    """Delete-by-flag: the source's ``deleted`` column says Y."""

    def for_delete(self, record: dict[str, Any]) -> bool:
        return bool(record["deleted"] == "Y")


class Recording(Flags):
    """Every hook, recording its call."""

    def __init__(self, calls: list[tuple[Any, ...]], **settings: Any) -> None:
        super().__init__(**settings)
        self.calls = calls

    def before_import(self, context: Context) -> None:
        self.calls.append(("before_import", context.model))

    def before_row(self, record: dict[str, Any], context: Context) -> dict[str, Any] | None:
        self.calls.append(("before_row", record["sku"]))
        return None if record["sku"] == "d" else record

    def for_delete(self, record: dict[str, Any]) -> bool:
        self.calls.append(("for_delete", record["sku"]))
        return super().for_delete(record)

    def skip_row(self, old: dict[str, Any], new: dict[str, Any]) -> bool:
        self.calls.append(("skip_row", old["sku"], old["qty"], new["qty"]))
        return False

    def init_record(self, key: tuple[Any, ...]) -> dict[str, Any] | None:
        self.calls.append(("init_record", key))
        return None

    def before_apply(self, changes: ChangeSet) -> None:
        self.calls.append(("before_apply", changes.created, changes.updated, changes.deleted))

    def after_row(self, row: RowResult) -> None:
        self.calls.append(("after_row", row.op, row.key, row.row))

    def after_import(self, result: ModelResult) -> None:
        self.calls.append(("after_import", result.model, result.engine))


class RecordingHandler(Handler):
    def __init__(self, calls: list[tuple[Any, ...]], **settings: Any) -> None:
        super().__init__(**settings)
        self.calls = calls

    def before_run(self, context: Context) -> None:
        self.calls.append(("before_run", context.handler, tuple(context.models)))

    def after_run(self, result: Result, error: BaseException | None) -> None:
        self.calls.append(("after_run", result.committed, type(error).__name__))


def skip_options(tmp_path: Path, **more: Any) -> RunOptions:
    return RunOptions(delete=True, on_error="skip", rejects=tmp_path / "rejects.csv",
                      max_rejected=RejectedLimit(rows=5), **more)


def test_hooks_are_called_in_the_documented_order(items: tuple[sa.Engine, str],
                                                  tmp_path: Path) -> None:
    engine, name = items
    calls: list[tuple[Any, ...]] = []
    importer = Recording(calls, table=name, key=("sku",), source=IterableSource(SOURCE))
    handler = RecordingHandler(calls, target_url=engine_url(engine), importers=[importer],
                               name="job")
    result = handler.run(skip_options(tmp_path))
    assert calls == [
        ("before_run", "job", (name,)),
        ("before_import", name),
        ("before_row", "a"), ("for_delete", "a"),
        ("before_row", "b"), ("for_delete", "b"),
        ("before_row", "e"), ("for_delete", "e"),
        ("before_row", "c"), ("for_delete", "c"),
        ("before_row", "d"),
        ("before_row", "f"), ("for_delete", "f"),
        ("skip_row", "b", 2, 5),
        ("init_record", ("e",)),
        ("before_apply", 1, 1, 2),
        ("after_row", "new", ("e",), 3),
        ("after_row", "update", ("b",), 2),
        ("after_row", "delete", ("c",), 4),
        ("after_row", "delete", ("g",), None),
        ("after_row", "skip", ("d",), 5),
        ("after_row", "error", ("f",), 6),
        ("after_import", name, "memory"),
        ("after_run", True, "NoneType"),
    ]
    assert rows_of(engine, name) == [("a", "apple", 1), ("b", "Banana", 5),
                                     ("d", "date", 4), ("e", "elder", 6)]
    model = result.models[name]
    assert (model.created, model.updated, model.deleted, model.unchanged, model.skipped) == (
        1, 1, 2, 1, 1)
    rows = {r.key: r for r in result.rows(name)}
    assert rows[("b",)].changes == {"name": ("banana", "Banana"), "qty": (2, 5)}
    assert rows[("c",)].reason == "for_delete"
    assert rows[("d",)].reason == "before_row"
    assert rows[("f",)].error is not None and "qty" in rows[("f",)].error


@pytest.mark.parametrize("engine_name", ["memory", "database"])
def test_delete_by_flag_on_both_engines(items: tuple[sa.Engine, str],
                                        engine_name: str) -> None:
    engine, name = items
    source = [record(s, n, q, "Y" if s == "c" else "N") for s, n, q in SEED]
    importer = Flags(table=name, key=("sku",), source=IterableSource(source))
    result = Handler(target_url=engine_url(engine), importers=[importer]).run(
        RunOptions(delete=True, engine=engine_name))  # type: ignore[arg-type]
    assert rows_of(engine, name) == [r for r in SEED if r[0] != "c"]
    model = result.models[name]
    assert model.engine == engine_name
    assert (model.deleted, model.unchanged) == (1, 4)
    assert [(r.op, r.key, r.row, r.reason) for r in result.rows(name)] == [
        ("delete", ("c",), 3, "for_delete")]


def test_delete_by_flag_on_postgresql(pg_engine: sa.Engine, table_name: str) -> None:
    make_items(pg_engine, table_name)
    try:
        source = [record(s, n, q, "Y" if s == "a" else "N") for s, n, q in SEED]
        importer = Flags(table=table_name, key=("sku",), source=IterableSource(source))
        result = Handler(target_url=engine_url(pg_engine), importers=[importer]).run(
            RunOptions(delete=True))
        assert result.models[table_name].engine == "database"
        assert rows_of(pg_engine, table_name) == SEED[1:]
    finally:
        with pg_engine.begin() as conn:
            conn.execute(sa.text(f"DROP TABLE IF EXISTS {table_name}"))


def test_delete_by_flag_without_delete_is_refused(items: tuple[sa.Engine, str]) -> None:
    engine, name = items
    source = [record(s, n, q * 10, "Y" if s == "c" else "N") for s, n, q in SEED]
    importer = Flags(table=name, key=("sku",), source=IterableSource(source))
    with pytest.raises(GuardError, match=r"for_delete flagged 1 record.*--delete"):
        Handler(target_url=engine_url(engine), importers=[importer]).run()
    assert rows_of(engine, name) == SEED


def test_delete_by_flag_is_judged_by_the_delete_guards(items: tuple[sa.Engine, str]) -> None:
    engine, name = items
    source = [record(s, n, q, "Y") for s, n, q in SEED]
    importer = Flags(table=name, key=("sku",), source=IterableSource(source))
    with pytest.raises(GuardError, match="max-delete"):
        Handler(target_url=engine_url(engine), importers=[importer]).run(
            RunOptions(delete=True, max_delete=2))
    assert rows_of(engine, name) == SEED


class QtyOnly(Importer):
    """Only a change of qty is a change."""

    def skip_row(self, old: dict[str, Any], new: dict[str, Any]) -> bool:
        return bool(old["qty"] == new["qty"])


def test_skip_row_treats_a_row_as_unchanged(items: tuple[sa.Engine, str]) -> None:
    engine, name = items
    source = [{"sku": "a", "name": "APPLE", "qty": 1}, {"sku": "b", "name": "BANANA", "qty": 7}]
    importer = QtyOnly(table=name, key=("sku",), source=IterableSource(source))
    result = Handler(target_url=engine_url(engine), importers=[importer]).run()
    model = result.models[name]
    assert model.engine == "memory"  # skip_row needs the old values
    assert (model.updated, model.unchanged) == (1, 1)
    assert rows_of(engine, name)[:2] == [("a", "apple", 1), ("b", "BANANA", 7)]
    assert [(r.op, r.key, r.reason) for r in result.rows(name)] == [
        ("update", ("b",), None), ("skip", ("a",), "skip_row")]
    with pytest.raises(ConfigError, match="skip_row"):
        Handler(target_url=engine_url(engine), importers=[QtyOnly(
            table=name, key=("sku",), source=IterableSource(source))]).run(
            RunOptions(engine="database"))


def test_before_row_leaves_out_on_the_database_engine(items: tuple[sa.Engine, str]) -> None:
    engine, name = items

    class NoB(Importer):
        def before_row(self, record: dict[str, Any], context: Context) -> dict[str, Any] | None:
            assert context.model == name and not context.dry_run
            return None if record["sku"] == "b" else {**record, "qty": 100}

    source = [{"sku": s, "name": n, "qty": q} for s, n, q in SEED]
    result = Handler(target_url=engine_url(engine), importers=[NoB(
        table=name, key=("sku",), source=IterableSource(source))]).run()
    model = result.models[name]
    assert model.engine == "database"
    assert (model.updated, model.skipped) == (4, 1)
    assert rows_of(engine, name) == [("a", "apple", 100), ("b", "banana", 2),
                                     ("c", "cherry", 100), ("d", "date", 100), ("g", "grape", 100)]


class Refuses(Importer):
    def before_apply(self, changes: ChangeSet) -> None:
        if changes.updated:
            raise ValueError("no updates today")


def test_a_refusing_before_apply_writes_nothing(items: tuple[sa.Engine, str]) -> None:
    engine, name = items
    calls: list[tuple[Any, ...]] = []
    source = [{"sku": "a", "name": "new", "qty": 1}, {"sku": "z", "name": "zed", "qty": 1}]
    handler = RecordingHandler(calls, target_url=engine_url(engine), importers=[Refuses(
        table=name, key=("sku",), source=IterableSource(source))])
    with pytest.raises(HookError, match="no updates today") as caught:
        handler.run()
    assert caught.value.hook == "before_apply" and caught.value.model == name
    assert isinstance(caught.value.__cause__, ValueError)
    assert rows_of(engine, name) == SEED
    assert calls[-1] == ("after_run", False, "HookError")


def test_after_run_is_called_after_a_failed_run(items: tuple[sa.Engine, str]) -> None:
    engine, name = items
    calls: list[tuple[Any, ...]] = []
    handler = RecordingHandler(calls, target_url=engine_url(engine), importers=[Importer(
        table=name, key=("sku",), source=IterableSource([{"sku": "a", "name": "x",
                                                          "qty": "many"}]))])
    with pytest.raises(RowErrors):
        handler.run()
    assert calls == [("before_run", handler.name, (name,)), ("after_run", False, "RowErrors")]
    assert rows_of(engine, name) == SEED


def test_a_raising_row_hook_names_hook_model_row_and_key(items: tuple[sa.Engine, str]) -> None:
    engine, name = items

    class Breaks(Importer):
        def after_row(self, row: RowResult) -> None:
            raise RuntimeError("boom")

    source = [{"sku": "a", "name": "new", "qty": 1}]
    with pytest.raises(HookError) as caught:
        Handler(target_url=engine_url(engine), importers=[Breaks(
            table=name, key=("sku",), source=IterableSource(source))]).run()
    error = caught.value
    assert (error.hook, error.model, error.row, error.key) == ("after_row", name, 1, ("a",))
    assert rows_of(engine, name) == SEED  # raised before the commit: rolled back


# -- the command line: --rows-out, --report-skipped, --json's engine ---------------------
@pytest.fixture
def csv_source(tmp_path: Path) -> Path:
    return write_csv(tmp_path / "items.csv", ["sku", "name", "qty"],
                     [["a", "apple", "1"], ["b", "Banana", "5"], ["e", "elder", "6"]])


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def sync(source: Path, engine: sa.Engine, name: str, *more: str) -> list[str]:
    return ["sync", str(source), engine_url(engine), "--table", name, "--key", "sku", *more]


@pytest.mark.parametrize("engine_name", ["memory", "database"])
def test_rows_out_lists_each_row(items: tuple[sa.Engine, str], csv_source: Path,
                                 tmp_path: Path, engine_name: str) -> None:
    engine, name = items
    out = tmp_path / "rows.jsonl"
    proc = run_cli(*sync(csv_source, engine, name, "--delete", "--rows-out", str(out),
                         "--engine", engine_name, "--json"), check=True)
    assert json.loads(proc.stdout)["models"][name]["engine"] == engine_name
    assert read_jsonl(out) == [
        # a file's row numbers are its line numbers (the header is line 1)
        {"model": name, "op": "new", "key": ["e"], "row": 4,
         "changes": {"sku": [None, "e"], "name": [None, "elder"], "qty": [None, 6]}},
        {"model": name, "op": "update", "key": ["b"], "row": 3,
         "changes": {"name": ["banana", "Banana"], "qty": [2, 5]}},
        {"model": name, "op": "delete", "key": ["c"], "row": None,
         "changes": {"sku": ["c", None], "name": ["cherry", None], "qty": [3, None]}},
        {"model": name, "op": "delete", "key": ["d"], "row": None,
         "changes": {"sku": ["d", None], "name": ["date", None], "qty": [4, None]}},
        {"model": name, "op": "delete", "key": ["g"], "row": None,
         "changes": {"sku": ["g", None], "name": ["grape", None], "qty": [7, None]}},
    ]
    assert not list(tmp_path.glob(".rows.jsonl.*"))  # the temporary file was renamed


def test_report_skipped_lists_unchanged_rows(items: tuple[sa.Engine, str], csv_source: Path,
                                            tmp_path: Path) -> None:
    engine, name = items
    out = tmp_path / "rows.jsonl"
    run_cli(*sync(csv_source, engine, name, "--rows-out", str(out), "--report-skipped"),
            check=True)
    assert [(r["op"], r["key"], r.get("reason")) for r in read_jsonl(out)] == [
        ("new", ["e"], None), ("update", ["b"], None), ("skip", ["a"], "unchanged")]


def test_rows_out_is_never_written_on_a_dry_run_nor_an_input(
        items: tuple[sa.Engine, str], csv_source: Path, tmp_path: Path) -> None:
    engine, name = items
    out = tmp_path / "rows.jsonl"
    run_cli(*sync(csv_source, engine, name, "--rows-out", str(out), "--dry-run"), check=True)
    assert not out.exists() and not list(tmp_path.glob(".rows.jsonl.*"))
    before = csv_source.read_bytes()
    proc = run_cli(*sync(csv_source, engine, name, "--rows-out", str(csv_source)))
    assert proc.returncode != 0 and "the source file" in proc.stderr
    assert csv_source.read_bytes() == before
    assert rows_of(engine, name) == SEED


@pytest.mark.parametrize("tracebacks", [False, True])
def test_a_row_error_carries_its_traceback_only_when_asked(items: tuple[sa.Engine, str],
                                                            tmp_path: Path,
                                                            tracebacks: bool) -> None:
    """A hook's exception on one row, collected under on_error=skip: the row result names
    it; its traceback (where in the hook it failed) is in --rows-out with --traceback."""
    engine, name = items

    class Bad(Importer):
        def before_row(self, record: dict[str, Any], context: Context) -> dict[str, Any]:
            if record["sku"] == "b":
                raise ValueError("no b today")
            return record

    out = tmp_path / "rows.jsonl"
    source = [{"sku": "a", "name": "apple", "qty": 1}, {"sku": "b", "name": "b", "qty": 2}]
    result = Handler(target_url=engine_url(engine), importers=[Bad(
        table=name, key=("sku",), source=IterableSource(source))]).run(RunOptions(
            on_error="skip", rejects=tmp_path / "rejects.csv", rows_out=out,
            max_rejected=RejectedLimit(percent=100), tracebacks=tracebacks))
    (error,) = [r for r in result.rows(name) if r.op == "error"]
    assert error.key == ("b",) and "no b today" in (error.error or "")
    assert error.traceback is not None and "raise ValueError" in error.traceback
    (line,) = [line for line in read_jsonl(out) if line["op"] == "error"]
    if tracebacks:
        assert "raise ValueError" in line["traceback"]
    else:
        assert "traceback" not in line
