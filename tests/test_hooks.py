"""Handlers and hooks (issue 8, items 3, 6, 7 and 8): fields a hook's records do not carry
are left alone, one-shot sources are read once, one importer per table, hook errors
carry their context."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from helpers import build_pos, pos_example, run_cli
from syncline import (
    ConfigError,
    Handler,
    HookError,
    Importer,
    IterableSource,
    RowErrors,
    RunOptions,
    SourceError,
    SynclineError,
)


@pytest.fixture
def item_table(any_engine: sa.Engine, table_name: str) -> Iterator[tuple[sa.Engine, str]]:
    """An item table (sku, name, notes) with notes only the target has."""
    sa.Table(table_name, sa.MetaData(), sa.Column("sku", sa.String(20), primary_key=True),
             sa.Column("name", sa.String(50)), sa.Column("notes", sa.String(50))
             ).create(any_engine)
    with any_engine.begin() as conn:
        conn.execute(sa.text(f"INSERT INTO {table_name} VALUES ('a', 'apple', 'keep a'),"
                             " ('b', 'banana', 'keep b')"))
    yield any_engine, table_name
    with any_engine.begin() as conn:
        conn.execute(sa.text(f"DROP TABLE IF EXISTS {table_name}"))


def table(engine: sa.Engine, name: str) -> list[tuple[Any, ...]]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(sa.text(f"SELECT * FROM {name} ORDER BY 1"))]


class TitleNames(Importer):
    def normalize_source(self, record: dict[str, Any]) -> dict[str, Any] | None:
        record["name"] = record["name"].title()
        return record


# -- item 3: a hook never NULLs the columns its records do not carry --------------------
@pytest.mark.parametrize("engine_name", ["memory", "database"])
def test_source_hook_leaves_columns_it_does_not_carry(
        item_table: tuple[sa.Engine, str], engine_name: str) -> None:
    engine, name = item_table
    importer = TitleNames(table=name, key=("sku",), source=IterableSource(
        [{"sku": "a", "name": "apple"}, {"sku": "b", "name": "banana"}]))
    result = Handler(target_url=engine, importers=[importer]).run(  # type: ignore[arg-type]
        RunOptions(engine=engine_name))  # type: ignore[arg-type]
    assert table(engine, name) == [("a", "Apple", "keep a"), ("b", "Banana", "keep b")]
    model = result.models[name]
    assert (model.updated, model.unchanged) == (2, 0)
    assert any("notes" in w and "left as they are" in w for w in model.warnings)


def test_source_hook_may_add_a_target_column(item_table: tuple[sa.Engine, str]) -> None:
    engine, name = item_table

    class AddsNotes(Importer):
        def normalize_source(self, record: dict[str, Any]) -> dict[str, Any] | None:
            record["notes"] = f"from pos {record['sku']}"
            return record

    importer = AddsNotes(table=name, key=("sku",), source=IterableSource(
        [{"sku": "a", "name": "apple"}, {"sku": "b", "name": "banana"}]))
    Handler(target_url=engine, importers=[importer]).run()  # type: ignore[arg-type]
    assert table(engine, name) == [("a", "apple", "from pos a"), ("b", "banana", "from pos b")]


def test_hook_record_missing_a_field_is_a_row_error(
        sqlite_engine: sa.Engine, tmp_path: Path) -> None:
    with sqlite_engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE item (sku TEXT PRIMARY KEY, name TEXT, notes TEXT)")
        conn.exec_driver_sql("INSERT INTO item VALUES ('a', 'x', 'keep a'), ('b', 'y', 'keep b')")

    class SometimesNotes(Importer):
        def normalize_source(self, record: dict[str, Any]) -> dict[str, Any] | None:
            if record["sku"] == "a":
                record["notes"] = "new a"
            return record

    importer = SometimesNotes(table="item", key=("sku",), source=IterableSource(
        [{"sku": "a", "name": "x"}, {"sku": "b", "name": "y"}]))
    handler = Handler(target_url=sqlite_engine, importers=[importer])  # type: ignore[arg-type]
    with pytest.raises(RowErrors) as caught:
        handler.run()
    error = caught.value.errors[0]
    assert isinstance(error, HookError)
    assert (error.hook, error.model, error.row, error.key, error.field) == (
        "normalize_source", "item", 2, ("b",), "notes")
    assert table(sqlite_engine, "item") == [("a", "x", "keep a"), ("b", "y", "keep b")]


def test_hook_records_without_the_key_are_refused(sqlite_engine: sa.Engine) -> None:
    with sqlite_engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE item (sku TEXT PRIMARY KEY, name TEXT)")

    class DropsKey(Importer):
        def normalize_source(self, record: dict[str, Any]) -> dict[str, Any] | None:
            return {"name": record["name"]}

    importer = DropsKey(table="item", key=("sku",), source=IterableSource(
        [{"sku": "a", "name": "x"}]))
    with pytest.raises(SynclineError, match="first record normalize_source returned has no"
                                            " column sku"):
        Handler(target_url=sqlite_engine, importers=[importer]).run()  # type: ignore[arg-type]


def test_hook_with_given_fields_checks_every_record(sqlite_engine: sa.Engine) -> None:
    with sqlite_engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE item (sku TEXT PRIMARY KEY, name TEXT, notes TEXT)")
        conn.exec_driver_sql("INSERT INTO item VALUES ('a', 'x', 'keep a')")
    calls: list[str] = []

    class Counting(Importer):
        def normalize_source(self, record: dict[str, Any]) -> dict[str, Any] | None:
            calls.append(record["sku"])
            if record["sku"] == "c":
                return None
            if record["sku"] == "b":
                del record["name"]
            return record

    records = [{"sku": "a", "name": "y", "price": 1}, {"sku": "b", "name": "z"},
               {"sku": "c", "name": "w"}]
    for fields in (None, ("sku", "name")):
        calls.clear()
        importer = Counting(table="item", key=("sku",), fields=fields,
                            source=IterableSource(records))
        handler = Handler(target_url=sqlite_engine, importers=[importer])  # type: ignore[arg-type]
        with pytest.raises(RowErrors) as caught:
            handler.run()
        error = caught.value.errors[0]
        assert isinstance(error, HookError)
        assert (error.row, error.key, error.field) == (2, ("b",), "name"), fields
        assert calls == ["a", "b", "c"], "the hook runs once per record"
    assert table(sqlite_engine, "item") == [("a", "x", "keep a")]


def test_example_survives_a_new_target_column(tmp_path: Path) -> None:
    """ALTER TABLE product ADD COLUMN notes in the back office: the job still runs, and the
    notes are left as they are."""
    build_pos.build(tmp_path / "work")
    office = tmp_path / "work" / "backoffice.db"
    assert pos_example(tmp_path).returncode == 0
    with sa.create_engine(f"sqlite:///{office}").begin() as conn:
        conn.exec_driver_sql("ALTER TABLE product ADD COLUMN notes TEXT")
        conn.exec_driver_sql("UPDATE product SET notes = 'shelf ' || upc")
    build_pos.edit(tmp_path / "work")
    done = pos_example(tmp_path, "--json")
    assert done.returncode == 0, done.stderr + done.stdout
    report = json.loads(done.stdout)
    assert report["models"]["product"]["updated"] == 1
    assert any("notes" in w for w in report["models"]["product"]["warnings"])
    engine = sa.create_engine(f"sqlite:///{office}")
    with engine.connect() as conn:
        assert conn.exec_driver_sql(
            "SELECT count(*) FROM product WHERE notes = 'shelf ' || upc").scalar() == 2000
    engine.dispose()


# -- item 6: a one-shot source is read once ----------------------------------------------
def test_generator_source_with_create_table_imports_every_record(
        any_engine: sa.Engine, table_name: str) -> None:
    # from 1: MariaDB reads an id 0 into a created AUTO_INCREMENT key as "next value"
    # (a --create-table bug of its own, issue 8 item 5's ground)
    records = ({"id": str(i), "name": f"n{i}"} for i in range(1, 25_001))
    importer = Importer(table=table_name, key=("id",),
                        source=IterableSource(records, columns=["id", "name"]))
    try:
        result = Handler(target_url=any_engine, importers=[importer]).run(  # type: ignore[arg-type]
            RunOptions(create_table=True))
        assert result.models[table_name].created == 25_000
        with any_engine.connect() as conn:
            assert conn.execute(sa.text(f"SELECT count(*) FROM {table_name}")).scalar() == 25_000
    finally:
        with any_engine.begin() as conn:
            conn.execute(sa.text(f"DROP TABLE IF EXISTS {table_name}"))


def test_generator_source_is_not_read_twice(sqlite_engine: sa.Engine) -> None:
    with sqlite_engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE item (sku TEXT PRIMARY KEY, name TEXT)")
    records = ({"sku": s, "name": s.upper()} for s in "abc")
    importer = Importer(table="item", key=("sku",),
                        source=IterableSource(records, columns=["sku", "name"]))
    handler = Handler(target_url=sqlite_engine, importers=[importer])  # type: ignore[arg-type]
    assert handler.run(RunOptions(delete=True)).models["item"].created == 3
    with pytest.raises(SourceError, match="read only once"):
        handler.run(RunOptions(delete=True, allow_mass_delete=True))
    assert table(sqlite_engine, "item") == [("a", "A"), ("b", "B"), ("c", "C")]


def test_list_source_can_be_run_again(sqlite_engine: sa.Engine) -> None:
    with sqlite_engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE item (sku TEXT PRIMARY KEY, name TEXT)")
    importer = TitleNames(table="item", key=("sku",), source=IterableSource(
        [{"sku": "a", "name": "x"}], columns=["sku", "name"]))
    handler = Handler(target_url=sqlite_engine, importers=[importer])  # type: ignore[arg-type]
    assert handler.run(RunOptions(create_table=True)).models["item"].created == 1
    assert handler.run(RunOptions(delete=True)).models["item"].unchanged == 1


# -- item 7: one importer per table --------------------------------------------------------
def test_two_importers_on_one_table_are_refused(sqlite_engine: sa.Engine) -> None:
    first = Importer(model="cheap", table="item", key=("sku",), source=IterableSource([]))
    second = Importer(model="dear", table="item", key=("sku",), source=IterableSource([]))
    with pytest.raises(ConfigError, match=r"cheap.*dear"):
        Handler(target_url=sqlite_engine, importers=[first, second])  # type: ignore[arg-type]

    class Cheap(Importer):
        table = "item"
        key = ("sku",)
        model = "cheap"

    class Dear(Cheap):
        model = "dear"
        table = "ITEM"

    class Both(Handler):
        importers = (Cheap, Dear)

    with pytest.raises(ConfigError, match=r"cheap.*dear"):
        Both()


# -- item 8: hook errors carry their context -----------------------------------------------
HANDLER_MODULE = '''
from syncline import Handler, Importer


class Products(Importer):
    table = "product"
    key = ("upc",)

    def normalize_source(self, record):
        if record["upc"] == "{bad}":
            raise ValueError("boom")
        return record


class Targets(Importer):
    table = "product"
    key = ("upc",)

    def normalize_target(self, record):
        if record["upc"] == "{bad}":
            raise KeyError("nope")
        return record


class SourceHook(Handler):
    importers = (Products,)


class TargetHook(Handler):
    importers = (Targets,)
'''


@pytest.fixture
def hook_job(importable: Path) -> tuple[Path, str, str]:
    """A module with hooks that fail on upc 0002 (importable as ``hookjob``), a POS and a
    back office."""
    tmp_path = importable
    (tmp_path / "hookjob.py").write_text(HANDLER_MODULE.replace("{bad}", "0002"))
    source, target = tmp_path / "pos.db", tmp_path / "office.db"
    for path, rows in ((source, "('0001', 'A'), ('0002', 'B'), ('0003', 'C')"),
                       (target, "('0002', 'old b')")):
        engine = sa.create_engine(f"sqlite:///{path}")
        with engine.begin() as conn:
            conn.exec_driver_sql("CREATE TABLE product (upc TEXT PRIMARY KEY, name TEXT)")
            conn.exec_driver_sql(f"INSERT INTO product VALUES {rows}")
        engine.dispose()
    return tmp_path, f"sqlite:///{source}", f"sqlite:///{target}"


def office_rows(url: str) -> list[tuple[Any, ...]]:
    engine = sa.create_engine(url)
    try:
        return table(engine, "product")
    finally:
        engine.dispose()


def test_source_hook_error_names_hook_model_row_and_key(
        hook_job: tuple[Path, str, str]) -> None:
    _, source, target = hook_job
    args = ("import", "hookjob:SourceHook", "--source", source, "--target", target)
    done = run_cli(*args)
    assert done.returncode == 1
    assert "normalize_source" in done.stderr and "ValueError: boom" in done.stderr
    assert "model product" in done.stderr and "row 2" in done.stderr
    assert "'0002'" in done.stderr
    assert "unexpected" not in done.stderr and "Traceback" not in done.stderr
    assert office_rows(target) == [("0002", "old b")]

    report = json.loads(run_cli(*args, "--json").stdout)
    error = report["error"]
    assert error["exit_code"] == 1
    assert (error["model"], error["row"], error["key"]) == ("product", 2, ["0002"])
    assert error["errors"][0]["type"] == "HookError"
    assert error["errors"][0]["hook"] == "normalize_source"

    traced = run_cli("--traceback", *args)
    assert "Traceback" in traced.stderr and 'raise ValueError("boom")' in traced.stderr


def test_source_hook_error_is_a_row_error_under_skip(
        hook_job: tuple[Path, str, str]) -> None:
    tmp_path, source, target = hook_job
    rejects = tmp_path / "rejects.csv"
    done = run_cli("import", "hookjob:SourceHook", "--source", source, "--target", target,
                   "--on-error=skip", "--rejects", str(rejects), "--max-rejected", "100%",
                   "--json")
    assert done.returncode == 0, done.stderr
    assert office_rows(target) == [("0001", "A"), ("0002", "old b"), ("0003", "C")]
    with open(rejects, newline="", encoding="utf-8") as handle:
        rejected = list(csv.DictReader(handle))
    assert len(rejected) == 1
    assert "0002" in rejected[0].values()
    assert any("normalize_source" in v and "boom" in v for v in rejected[0].values())


def test_target_hook_error_names_hook_model_and_key(
        hook_job: tuple[Path, str, str]) -> None:
    _, source, target = hook_job
    done = run_cli("import", "hookjob:TargetHook", "--source", source, "--target", target,
                   "--json")
    assert done.returncode == 1
    error = json.loads(done.stdout)["error"]
    assert error["type"] == "HookError"
    assert error["hook"] == "normalize_target"
    assert (error["model"], error["key"]) == ("product", ["0002"])
    assert "KeyError" in error["message"]
    assert office_rows(target) == [("0002", "old b")]


def test_hook_error_in_the_library(sqlite_engine: sa.Engine) -> None:
    with sqlite_engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE item (sku TEXT PRIMARY KEY, name TEXT)")

    class Broken(Importer):
        def normalize_source(self, record: dict[str, Any]) -> dict[str, Any] | None:
            return [record]  # type: ignore[return-value]

    importer = Broken(table="item", key=("sku",), source=IterableSource([{"sku": "a"}]))
    with pytest.raises(RowErrors) as caught:
        Handler(target_url=sqlite_engine, importers=[importer]).run()  # type: ignore[arg-type]
    error = caught.value.errors[0]
    assert isinstance(error, HookError) and isinstance(error, SynclineError)
    assert "list" in str(error) and error.key == ("a",)


def test_docs_name_the_hook_rules() -> None:
    text = (Path(__file__).resolve().parent.parent / "docs" / "hooks.md").read_text()
    for words in ("normalize_source", "normalize_target", "HookError", "read only once",
                  "left as they are"):
        assert words in text
