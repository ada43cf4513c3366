"""Keys mode (``RunOptions(keys=...)``, what datasync calls per change) touches only the
given keys, coerced like source keys, and never deletes a record the source holds
(issue 8 item 1); keys that differ only by collation (issue 8 item 2, docs/engines.md).

On every database: SQLite, PostgreSQL and MariaDB (accent/case-insensitive, PAD SPACE).
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from typing import Any

import pytest
import sqlalchemy as sa

from conftest import drop_table
from syncline import Handler, Importer, IterableSource, RunOptions
from syncline.errors import ConfigError, GuardError, KeyProblemError, SynclineError
from syncline.result import Result


def make_table(engine: sa.Engine, name: str, key_type: Any, rows: Sequence[tuple[Any, str]],
               *, primary_key: bool = False) -> None:
    metadata = sa.MetaData()
    table = sa.Table(name, metadata,
                     sa.Column("k", key_type, primary_key=primary_key,
                               nullable=not primary_key),
                     sa.Column("v", sa.String(20)))
    metadata.create_all(engine)
    if rows:
        with engine.begin() as conn:
            conn.execute(table.insert(), [{"k": k, "v": v} for k, v in rows])


def table_rows(engine: sa.Engine, name: str) -> list[tuple[Any, ...]]:
    with engine.connect() as conn:
        table = sa.Table(name, sa.MetaData(), autoload_with=conn)
        return sorted((tuple(r) for r in conn.execute(sa.select(table.c.k, table.c.v))),
                      key=repr)


def sync_keys(engine: sa.Engine, name: str, source: Sequence[tuple[Any, str]],
              keys: Sequence[Any], **options: Any) -> Result:
    importer = Importer(table=name, key=("k",), source=IterableSource(
        [{"k": k, "v": v} for k, v in source], columns=["k", "v"]))
    handler = Handler(target_url=engine, importers=[importer])  # type: ignore[arg-type]
    return handler.run(RunOptions(keys=keys, delete=True, **options))


def counts(result: Result, name: str) -> tuple[int, int, int]:
    model = result.models[name]
    return model.created, model.updated, model.deleted


@pytest.mark.parametrize("primary_key", [False, True])
def test_integer_key_given_as_text_is_coerced(any_engine: sa.Engine, table_name: str,
                                              primary_key: bool) -> None:
    """Was: keys=["3"] deleted record 3 although the source holds it (SQLite, MariaDB)."""
    make_table(any_engine, table_name, sa.Integer, [(3, "old"), (4, "four")],
               primary_key=primary_key)
    try:
        result = sync_keys(any_engine, table_name, [(3, "new"), (4, "four")], ["3"])
        assert counts(result, table_name) == (0, 1, 0)
        assert table_rows(any_engine, table_name) == [(3, "new"), (4, "four")]
        # the key tuple form, and a key the source lacks: only that record goes
        result = sync_keys(any_engine, table_name, [(3, "new")], [("4",)], max_delete=1)
        assert counts(result, table_name) == (0, 0, 1)
        assert table_rows(any_engine, table_name) == [(3, "new")]
    finally:
        drop_table(any_engine, table_name)


def test_date_key_given_as_text_is_coerced(any_engine: sa.Engine, table_name: str) -> None:
    day = datetime.date(2024, 1, 2)
    make_table(any_engine, table_name, sa.Date, [(day, "old")])
    try:
        result = sync_keys(any_engine, table_name, [(day, "new")], ["2024-01-02"])
        assert counts(result, table_name) == (0, 1, 0)
        assert table_rows(any_engine, table_name) == [(day, "new")]
    finally:
        drop_table(any_engine, table_name)


def test_text_key_given_as_number_touches_only_that_text(any_engine: sa.Engine,
                                                         table_name: str) -> None:
    """Was (MariaDB): keys=[3] against a text key deleted '3', '03' and '3.0'."""
    rows = [("3", "a"), ("03", "b"), ("3.0", "c")]
    make_table(any_engine, table_name, sa.String(10), rows)
    try:
        result = sync_keys(any_engine, table_name, rows[1:], [3], max_delete=1)
        assert counts(result, table_name) == (0, 0, 1)
        assert table_rows(any_engine, table_name) == sorted(rows[1:], key=repr)
    finally:
        drop_table(any_engine, table_name)


def test_a_given_key_that_cannot_be_coerced_is_an_error_naming_it(
        any_engine: sa.Engine, table_name: str) -> None:
    make_table(any_engine, table_name, sa.Integer, [(3, "old")])
    try:
        with pytest.raises((ConfigError, KeyProblemError)) as raised:
            sync_keys(any_engine, table_name, [(3, "new")], ["three"])
        assert "three" in str(raised.value)
        with pytest.raises((ConfigError, KeyProblemError)) as raised:
            sync_keys(any_engine, table_name, [(3, "new")], [None])
        assert table_rows(any_engine, table_name) == [(3, "old")]
    finally:
        drop_table(any_engine, table_name)


def test_collation_equal_target_keys_of_a_given_key_are_refused(
        mysql_engine: sa.Engine, table_name: str) -> None:
    """Was: keys=["cafe"] against cafe, café, 'CAFÉ ' (non-unique key, MariaDB's default
    collation) reported 1 update and 2 deletes and left the table empty. The collation
    calls them one key: a target holding it three times is refused (docs/engines.md,
    rule 3), nothing written."""
    rows = [("cafe", "a"), ("café", "b"), ("CAFÉ ", "c")]
    make_table(mysql_engine, table_name, sa.String(10), rows)
    try:
        with pytest.raises(KeyProblemError, match="duplicate"):
            sync_keys(mysql_engine, table_name, [("cafe", "new")], ["cafe"])
        assert table_rows(mysql_engine, table_name) == sorted(rows, key=repr)
    finally:
        drop_table(mysql_engine, table_name)


def test_collation_equal_source_keys_of_a_given_key_are_refused(
        mysql_engine: sa.Engine, table_name: str) -> None:
    """The source holds cafe, café and 'CAFÉ ': one key to the target (rule 1), refused
    in keys mode too, never one of them deleted or merged into another."""
    make_table(mysql_engine, table_name, sa.String(10), [("cafe", "a")], primary_key=True)
    try:
        source = [("cafe", "new"), ("café", "b"), ("CAFÉ ", "c")]
        with pytest.raises(SynclineError, match="duplicate"):
            sync_keys(mysql_engine, table_name, source, ["cafe"])
        assert table_rows(mysql_engine, table_name) == [("cafe", "a")]
    finally:
        drop_table(mysql_engine, table_name)


def test_keys_mode_checks_only_the_given_keys_for_target_duplicates(
        any_engine: sa.Engine, table_name: str) -> None:
    """Keys mode on a table without a unique key: duplicates of other keys neither block
    the given key nor cost a scan of the whole table; those of the given key refuse it."""
    rows = [("a", "old"), ("b", "x"), ("b", "y")]
    make_table(any_engine, table_name, sa.String(10), rows)
    try:
        result = sync_keys(any_engine, table_name, [("a", "new"), ("b", "x")], ["a"])
        assert counts(result, table_name) == (0, 1, 0)
        with pytest.raises(KeyProblemError, match="duplicate"):
            sync_keys(any_engine, table_name, [("a", "new"), ("b", "x")], ["b"])
        assert table_rows(any_engine, table_name) == sorted(
            [("a", "new"), ("b", "x"), ("b", "y")], key=repr)
    finally:
        drop_table(any_engine, table_name)


def test_a_given_key_matches_the_record_the_collation_calls_the_same(
        mysql_engine: sa.Engine, table_name: str) -> None:
    """keys=["CAFÉ"] with a unique key holding 'cafe' (MariaDB's default collation: one
    key): the record is the given key's, as a full run would match them."""
    make_table(mysql_engine, table_name, sa.String(10), [("cafe", "a"), ("tea", "t")],
               primary_key=True)
    try:
        result = sync_keys(mysql_engine, table_name, [("cafe", "new"), ("tea", "x")],
                           ["CAFÉ"])
        assert counts(result, table_name) == (0, 1, 0)
        assert table_rows(mysql_engine, table_name) == [("cafe", "new"), ("tea", "t")]
    finally:
        drop_table(mysql_engine, table_name)


def test_memory_engine_refuses_target_keys_equal_under_collation(
        mysql_engine: sa.Engine, table_name: str) -> None:
    """Issue 8 item 2. Was: target cafe and café (non-unique), source only cafe: the memory
    engine deleted both; the database engine rewrote café into cafe."""
    rows = [("cafe", "a"), ("café", "b")]
    make_table(mysql_engine, table_name, sa.String(10), rows)
    try:
        for engine in ("memory", "database"):
            importer = Importer(table=table_name, key=("k",), source=IterableSource(
                [{"k": "cafe", "v": "a"}], columns=["k", "v"]))
            with pytest.raises(KeyProblemError, match="duplicate"):
                Handler(target_url=mysql_engine,  # type: ignore[arg-type]
                        importers=[importer]).run(RunOptions(delete=True, engine=engine))
            assert table_rows(mysql_engine, table_name) == sorted(rows, key=repr)
    finally:
        drop_table(mysql_engine, table_name)


def test_source_keys_equal_under_collation_are_duplicates_on_both_engines(
        mysql_engine: sa.Engine, table_name: str) -> None:
    """The source holds cafe and café: one key to the target's collation, so duplicate
    source keys (rule 1) on both engines, never two records created into one key."""
    make_table(mysql_engine, table_name, sa.String(10), [])
    try:
        for engine in ("memory", "database"):
            importer = Importer(table=table_name, key=("k",), source=IterableSource(
                [{"k": "cafe", "v": "a"}, {"k": "café", "v": "b"}], columns=["k", "v"]))
            with pytest.raises(SynclineError, match=r"[Dd]uplicate"):
                Handler(target_url=mysql_engine,  # type: ignore[arg-type]
                        importers=[importer]).run(RunOptions(engine=engine))
            assert table_rows(mysql_engine, table_name) == []
    finally:
        drop_table(mysql_engine, table_name)


def test_a_given_key_the_source_dropped_is_deleted_without_an_override(
        sqlite_engine: sa.Engine, table_name: str) -> None:
    """A datasync delete: the source still has records, just not this key. An empty
    source, though, still never deletes without an override."""
    make_table(sqlite_engine, table_name, sa.Integer, [(3, "three"), (4, "four")],
               primary_key=True)
    try:
        result = sync_keys(sqlite_engine, table_name, [(3, "three")], [4])
        assert counts(result, table_name) == (0, 0, 1)
        assert table_rows(sqlite_engine, table_name) == [(3, "three")]
        with pytest.raises(GuardError, match="empty source"):
            sync_keys(sqlite_engine, table_name, [], [3])
        assert table_rows(sqlite_engine, table_name) == [(3, "three")]
    finally:
        drop_table(sqlite_engine, table_name)
