"""Values at the edges of the type rules, end to end (issue 7 items 5, 6, 8, 9, 13).

RELIABILITY rows 37 (MySQL/MariaDB in a permissive sql_mode), 41 (typed source into typed
target: copied exactly, a re-sync is empty), 43 (missing-value tokens) and 44 (both engines
store the same values), plus values the database would refuse, caught first as row errors.
"""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from conftest import drop_table, engine_url
from helpers import run_cli, run_json, write_csv
from syncline import Handler, Importer, IterableSource, RunOptions, TypeOptions
from syncline.columns import column_coercer
from syncline.errors import CoercionError, SynclineError
from syncline.types import ColumnSpec, source_coercer

ENGINES = ("memory", "database")

PG_COLUMNS = ("k char(5) PRIMARY KEY, u uuid, j jsonb, js json, iv interval, r real,"
              " b bytea, note text, code char(4)")


def counts(data: dict[str, Any], model: str) -> tuple[int, int, int]:
    m = data["models"][model]
    return m["created"], m["updated"], m["deleted"]


def pg_rows(engine: sa.Engine, name: str) -> list[tuple[Any, ...]]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.exec_driver_sql(
            f"SELECT k, u, j, jsonb_typeof(j), js::text, iv, r, b, note, code FROM {name}"
            " ORDER BY k").all()]


# -- item 6 + item 8: typed PostgreSQL columns, SQL -> SQL and CSV -> SQL, both engines ----

def test_postgres_typed_columns_copy_exactly_and_converge(pg_engine: sa.Engine,
                                                          table_name: str) -> None:
    url = engine_url(pg_engine)
    source, target = f"{table_name}_src", table_name
    with pg_engine.begin() as conn:
        for name in (source, target):
            conn.exec_driver_sql(f"CREATE TABLE {name} ({PG_COLUMNS})")
        conn.exec_driver_sql(
            f"INSERT INTO {source} VALUES"
            " ('ab', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '{\"a\": 1}', '{\"b\": [1, 2]}',"
            "  '1 day 02:00:03.5', 3.14159265, '\\x00ff', '  leading and trailing  ', 'x'),"
            " ('cd   ', NULL, '\"just a string\"', '[1, 2.5]', '-00:00:01', 0.1, '', ' ', ' y ')")
    try:
        expected: list[tuple[Any, ...]] | None = None
        for engine in ENGINES:
            with pg_engine.begin() as conn:
                conn.exec_driver_sql(f"DELETE FROM {target}")
            args = ["sync", url, url, "--source-table", source, "--table", target,
                    "--key", "k", "--engine", engine]
            assert counts(run_json(*args), target) == (2, 0, 0), engine
            rows = pg_rows(pg_engine, target)
            assert rows == pg_rows(pg_engine, source), engine  # copied exactly: no stripping
            if expected is None:
                expected = rows
            assert rows == expected  # both engines store the same values
            assert rows[0][3] == "object"  # jsonb {"a": 1} is an object, not a JSON string
            assert rows[0][8] == "  leading and trailing  "
            # a re-sync reports nothing; --no-create --delete deletes nothing that is there
            assert counts(run_json(*args), target) == (0, 0, 0), engine
            again = run_json(*args, "--no-create", "--delete")
            assert counts(again, target) == (0, 0, 0), engine
            assert pg_rows(pg_engine, target) == expected
    finally:
        drop_table(pg_engine, source)
        drop_table(pg_engine, target)


def test_csv_into_postgres_typed_columns_converges(pg_engine: sa.Engine, table_name: str,
                                                   tmp_path: Path) -> None:
    url = engine_url(pg_engine)
    with pg_engine.begin() as conn:
        conn.exec_driver_sql(f"CREATE TABLE {table_name} ({PG_COLUMNS})")
    header = ["k", "u", "j", "js", "iv", "r", "b", "note", "code"]
    csv_path = write_csv(tmp_path / "typed.csv", header, [
        ["ab", "A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11", '{"a": 1}', '{"b": [1, 2]}',
         "1 day 02:00:03.5", "3.14159265", "\\x00ff", "note", "x"],
        ["cd", "", '"just a string"', "[1, 2.5]", "-00:00:01", "0.1", "", "", "y"],
        ["ef", "{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a12}", "null", "true", "P1DT2H", "1e-3",
         "\\x", "x", "z"],
    ])
    try:
        expected: list[tuple[Any, ...]] | None = None
        for engine in ENGINES:
            with pg_engine.begin() as conn:
                conn.exec_driver_sql(f"DELETE FROM {table_name}")
            args = ["sync", str(csv_path), url, "--table", table_name, "--key", "k",
                    "--engine", engine]
            assert counts(run_json(*args), table_name) == (3, 0, 0), engine
            rows = pg_rows(pg_engine, table_name)
            if expected is None:
                expected = rows
            assert rows == expected, engine
            assert rows[0][1] == uuid.UUID("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11")
            assert rows[0][2] == {"a": 1} and rows[0][3] == "object"
            assert rows[1][2] == "just a string" and rows[1][3] == "string"
            assert rows[2][2] is None  # JSON null in a nullable column: SQL NULL
            assert rows[0][5] == timedelta(days=1, hours=2, seconds=3.5)
            assert rows[2][5] == timedelta(days=1, hours=2)
            assert rows[0][7] == b"\x00\xff" and rows[2][7] == b""
            assert counts(run_json(*args), table_name) == (0, 0, 0), engine
            again = run_json(*args, "--no-create", "--delete")
            assert counts(again, table_name) == (0, 0, 0), engine
    finally:
        drop_table(pg_engine, table_name)


# -- item 8: keys vs other text from a file ------------------------------------------------

def test_file_keys_differing_by_whitespace_never_make_two_rows(
        any_engine: sa.Engine, table_name: str, tmp_path: Path) -> None:
    url = engine_url(any_engine)
    with any_engine.begin() as conn:
        conn.exec_driver_sql(f"CREATE TABLE {table_name} (k VARCHAR(10) PRIMARY KEY,"
                             " note VARCHAR(20))")
    two = write_csv(tmp_path / "two.csv", ["k", "note"], [["A", "x"], [" A ", "y"]])
    one = write_csv(tmp_path / "one.csv", ["k", "note"], [[" B ", "  spaced  "]])
    try:
        for extra in ([], ["--keep-whitespace"]):
            proc = run_cli("sync", str(two), url, "--table", table_name, "--key", "k", *extra)
            assert proc.returncode == 1, proc.stderr
            assert "duplicate key" in proc.stderr and "rows 2, 3" in proc.stderr, proc.stderr
        args = ["sync", str(one), url, "--table", table_name, "--key", "k"]
        run_json(*args, "--keep-whitespace")
        with any_engine.connect() as conn:
            rows = [tuple(r) for r in conn.exec_driver_sql(f"SELECT k, note FROM {table_name}")]
        assert rows == [("B", "  spaced  ")]  # the key is stripped, other text kept
        assert counts(run_json(*args, "--keep-whitespace"), table_name) == (0, 0, 0)
        assert counts(run_json(*args), table_name) == (0, 1, 0)  # default: text stripped
    finally:
        drop_table(any_engine, table_name)


# -- item 9: missing-value tokens ---------------------------------------------------------

def test_null_tokens(any_engine: sa.Engine, table_name: str, tmp_path: Path) -> None:
    url = engine_url(any_engine)
    with any_engine.begin() as conn:
        conn.exec_driver_sql(f"CREATE TABLE {table_name} (k INTEGER PRIMARY KEY,"
                             " n INTEGER, d DATE, note VARCHAR(20))")
    path = write_csv(tmp_path / "na.csv", ["k", "n", "d", "note"], [
        ["1", "NA", "2024-01-02", "NA"], ["2", "5", "\\N", ""], ["3", " NA ", "NA", "ok"]])
    args = ["sync", str(path), url, "--table", table_name, "--key", "k"]
    try:
        proc = run_cli(*args)
        assert proc.returncode == 1
        for needle in ("row 2", "column n", "'NA'", "row 3", "\\\\N", "--null"):
            assert needle in proc.stderr, (needle, proc.stderr)
        data = run_json(*args, "--null", "NA", "--null", "\\N")
        assert counts(data, table_name) == (3, 0, 0)
        with any_engine.connect() as conn:
            rows = [tuple(r) for r in conn.exec_driver_sql(
                f"SELECT k, n, d, note FROM {table_name} ORDER BY k")]
        assert [(r[0], r[1], r[3]) for r in rows] == [(1, None, None), (2, 5, None),
                                                     (3, None, "ok")]
        assert rows[1][2] is None and rows[2][2] is None
        assert counts(run_json(*args, "--null", "NA", "--null", "\\N"), table_name) == (0, 0, 0)
    finally:
        drop_table(any_engine, table_name)


def test_null_tokens_in_the_library(sqlite_engine: sa.Engine, table_name: str) -> None:
    with sqlite_engine.begin() as conn:
        conn.exec_driver_sql(f"CREATE TABLE {table_name} (k INTEGER PRIMARY KEY, n INTEGER)")
    importer = Importer(table=table_name, key=("k",),
                        source=IterableSource([{"k": "1", "n": "NA"}, {"k": "2", "n": "-"}]))
    handler = Handler(target_url=sqlite_engine, importers=[importer])
    with pytest.raises(SynclineError):
        handler.run(RunOptions())
    result = handler.run(RunOptions(types=TypeOptions(null_tokens=frozenset({"NA", "-"}))))
    assert result.models[table_name].created == 2


# -- item 13: values the database would refuse are row errors --------------------------------

def test_values_postgres_refuses_are_row_errors(pg_engine: sa.Engine, table_name: str,
                                                tmp_path: Path) -> None:
    url = engine_url(pg_engine)
    with pg_engine.begin() as conn:
        conn.exec_driver_sql(f"CREATE TABLE {table_name} (k integer PRIMARY KEY, t text,"
                             " u uuid, b bytea, at timestamptz, j jsonb, iv interval)")
    path = write_csv(tmp_path / "bad.csv", ["k", "t", "u", "b", "at", "j", "iv"], [
        ["1", "fine", "", "", "2024-01-01T00:00:00Z", "{}", "01:00"],
        ["2", "nul\x00byte", "", "", "", "", ""],
        ["3", "", "not-a-uuid", "", "", "", ""],
        ["4", "", "", "\\xzz", "", "", ""],
        ["5", "", "", "", "0001-01-01T00:00:00+05:00", "", ""],
        ["6", "", "", "", "", "{bad json", ""],
        ["7", "", "", "", "", "", "3 fortnights"],
        ["8", "", "", "", "", '{"a": "\\u0000"}', ""],
    ])
    args = ["sync", str(path), url, "--table", table_name, "--key", "k"]
    try:
        for engine in ENGINES:
            proc = run_cli(*args, "--engine", engine)
            assert proc.returncode == 1, proc.stderr
            assert "unexpected" not in proc.stderr, proc.stderr
            for row, column in ((3, "t"), (4, "u"), (5, "b"), (6, "at"), (7, "j"), (8, "iv"),
                                (9, "j")):
                assert f"row {row}" in proc.stderr and f"column {column}" in proc.stderr, \
                    (engine, row, proc.stderr)
            data = run_json(*args, "--engine", engine, "--on-error", "skip",
                            "--max-rejected", "100%",
                            "--rejects", str(tmp_path / f"rejects_{engine}.csv"))
            model = data["models"][table_name]
            assert (model["created"], model["rejected"]) == (1, 7), model
            with pg_engine.begin() as conn:
                conn.exec_driver_sql(f"DELETE FROM {table_name}")
    finally:
        drop_table(pg_engine, table_name)


# -- item 5: MySQL/MariaDB in a permissive sql_mode, both write paths ------------------------

MYSQL_COLUMNS = ("id INTEGER PRIMARY KEY, name VARCHAR(20) CHARACTER SET utf8mb3,"
                 " at TIMESTAMP NULL, color ENUM('red', 'green'), qty INT UNSIGNED,"
                 " tiny TINYTEXT, code CHAR(3), greek VARCHAR(10) CHARACTER SET greek")


def permissive_url(engine: sa.Engine, *, local_infile: bool) -> str:
    """The test server's URL as a user with a permissive server would have it."""
    url = engine.url.update_query_dict({"init_command": "SET SESSION sql_mode=''",
                                        "local_infile": "1" if local_infile else "0"})
    return url.render_as_string(hide_password=False)


MYSQL_GOOD = {"id": 1, "name": "ok", "at": "2030-01-01 00:00:00", "color": "red", "qty": "0",
              "tiny": "x" * 255, "code": "ab", "greek": "αβγ"}
MYSQL_BAD = [  # (column, value): each must be refused, naming row and column
    ("at", "2050-01-01 00:00:00"),
    ("color", "blue"),
    ("qty", "-1"),
    ("tiny", "é" * 128),  # 256 bytes: TINYTEXT holds 255
    ("code", "abcd"),
    ("name", "emoji \U0001F600"),  # utf8mb3 holds no emoji: the server would store '?'
]


@pytest.mark.parametrize("path", ["memory", "database-executemany", "database-load-data"])
def test_mysql_permissive_sql_mode_never_changes_a_value(
        mysql_engine: sa.Engine, table_name: str, tmp_path: Path, path: str) -> None:
    url = permissive_url(mysql_engine, local_infile=path == "database-load-data")
    engine = "memory" if path == "memory" else "database"
    with mysql_engine.begin() as conn:
        conn.exec_driver_sql(f"CREATE TABLE {table_name} ({MYSQL_COLUMNS})"
                             " DEFAULT CHARSET=utf8mb4")
    header = list(MYSQL_GOOD)
    rows = [[str(v) for v in MYSQL_GOOD.values()]]
    for n, (column, value) in enumerate(MYSQL_BAD, start=2):
        rows.append([str(n) if c == "id" else (value if c == column else "") for c in header])
    bad = write_csv(tmp_path / "bad.csv", header, rows)
    smiley = write_csv(tmp_path / "smiley.csv", header,
                       [[str(v) for v in MYSQL_GOOD.values()],
                        ["9", "", "", "", "", "", "", "emoji \U0001F600"]])
    try:
        proc = run_cli("sync", str(bad), url, "--table", table_name, "--key", "id",
                       "--engine", engine)
        assert proc.returncode == 1, proc.stderr
        assert "unexpected" not in proc.stderr, proc.stderr
        for n, (column, _value) in enumerate(MYSQL_BAD, start=3):
            assert f"row {n}" in proc.stderr and f"column {column}" in proc.stderr, \
                (column, proc.stderr)
        proc = run_cli("sync", str(smiley), url, "--table", table_name, "--key", "id",
                       "--engine", engine)
        assert proc.returncode == 1, proc.stderr
        # a character set syncline does not check: the strict session refuses it
        assert "column" in proc.stderr and "greek" in proc.stderr, proc.stderr
        assert f"model {table_name}" in proc.stderr, proc.stderr
        with mysql_engine.connect() as conn:
            assert conn.exec_driver_sql(f"SELECT COUNT(*) FROM {table_name}").scalar() == 0
        # the good row alone goes in, and a re-run is empty
        args = ["sync", str(bad), url, "--table", table_name, "--key", "id",
                "--engine", engine, "--on-error", "skip", "--max-rejected", "100%",
                "--rejects", str(tmp_path / "r.csv")]
        assert counts(run_json(*args), table_name) == (1, 0, 0)
        assert counts(run_json(*args), table_name) == (0, 0, 0)
    finally:
        drop_table(mysql_engine, table_name)


def test_mysql_strict_mode_keeps_the_users_other_flags(mysql_engine: sa.Engine,
                                                       table_name: str) -> None:
    engine = sa.create_engine(mysql_engine.url, connect_args={
        "init_command": "SET SESSION sql_mode='ANSI_QUOTES'", "local_infile": False})
    with mysql_engine.begin() as conn:
        conn.exec_driver_sql(f"CREATE TABLE {table_name} (id INTEGER PRIMARY KEY,"
                             " tiny TINYTEXT)")
    try:
        source = IterableSource([{"id": 1, "tiny": "x"}])
        importer = Importer(table=table_name, key=("id",), source=source)
        handler = Handler(target_url=engine, importers=[importer])
        assert handler.run(RunOptions(engine="database")).models[table_name].created == 1
        with engine.connect() as conn:
            mode = conn.exec_driver_sql("SELECT @@SESSION.sql_mode").scalar()
        assert mode == "ANSI_QUOTES"  # the user's pooled connection is left as it was
    finally:
        engine.dispose()
        drop_table(mysql_engine, table_name)


def test_json_kept_for_json_columns_of_every_dialect(any_engine: sa.Engine,
                                                     table_name: str) -> None:
    json_type = "JSON"
    with any_engine.begin() as conn:
        conn.exec_driver_sql(f"CREATE TABLE {table_name} (id INTEGER PRIMARY KEY,"
                             f" doc {json_type})")
    try:
        records = [{"id": 1, "doc": '{"b": 2, "a": [1, "x"]}'}, {"id": 2, "doc": {"z": None}}]
        for engine in ENGINES:
            with any_engine.begin() as conn:
                conn.exec_driver_sql(f"DELETE FROM {table_name}")
            importer = Importer(table=table_name, key=("id",), source=IterableSource(records))
            handler = Handler(target_url=any_engine, importers=[importer])
            assert handler.run(RunOptions(engine=engine)).models[table_name].created == 2
            again = handler.run(RunOptions(engine=engine)).models[table_name]
            assert (again.created, again.updated) == (0, 0), engine
            with any_engine.connect() as conn:
                docs = [r[0] for r in conn.exec_driver_sql(
                    f"SELECT doc FROM {table_name} ORDER BY id")]
            parsed = [d if isinstance(d, dict) else json.loads(d) for d in docs]
            assert parsed == [{"b": 2, "a": [1, "x"]}, {"z": None}], engine
    finally:
        drop_table(any_engine, table_name)


# -- found by trying to break it --------------------------------------------------------------

def test_typed_keys_that_mysql_calls_equal_are_duplicates_not_a_crash(
        pg_engine: sa.Engine, mysql_engine: sa.Engine, table_name: str) -> None:
    """A typed source keeps 'a ' apart from 'a'; MariaDB's PAD SPACE, case-insensitive
    collation does not: a duplicate key error listing both rows, on both engines."""
    with pg_engine.begin() as conn:
        conn.exec_driver_sql(f"CREATE TABLE {table_name} (k varchar(10) PRIMARY KEY, v text)")
        conn.exec_driver_sql(f"INSERT INTO {table_name} VALUES ('a', '1'), ('A ', '2'),"
                             " ('b', ' keep ')")
    with mysql_engine.begin() as conn:
        conn.exec_driver_sql(f"CREATE TABLE {table_name} (k VARCHAR(10) PRIMARY KEY,"
                             " v VARCHAR(10))")
    try:
        for engine in ENGINES:
            proc = run_cli("sync", engine_url(pg_engine), engine_url(mysql_engine),
                           "--source-table", table_name, "--table", table_name, "--key", "k",
                           "--engine", engine)
            assert proc.returncode == 1, (engine, proc.stderr)
            assert "duplicate key" in proc.stderr and "unexpected" not in proc.stderr, \
                (engine, proc.stderr)
        args = ["sync", engine_url(pg_engine), engine_url(mysql_engine), "--source-table",
                table_name, "--table", table_name, "--key", "k", "--on-duplicate", "first"]
        # (the in-database engine's --on-duplicate with keys that only the collation calls
        # equal is the staging SQL's business: not checked here)
        run_json(*args, "--engine", "memory")
        assert counts(run_json(*args, "--engine", "memory"), table_name) == (0, 0, 0)
        with mysql_engine.connect() as conn:
            rows = dict(conn.exec_driver_sql(f"SELECT k, v FROM {table_name}").all())
        assert rows == {"a": "1", "b": " keep "}
    finally:
        drop_table(pg_engine, table_name)
        drop_table(mysql_engine, table_name)


def test_sqlite_typed_source_is_copied_exactly(tmp_path: Path, table_name: str) -> None:
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        for name in ("src", "dst"):
            conn.exec_driver_sql(f"CREATE TABLE {name} (k TEXT PRIMARY KEY, v TEXT)")
        conn.exec_driver_sql("INSERT INTO src VALUES ('a', ''), ('b', '  '), ('c', ' x ')")
    try:
        for mode in ENGINES:
            with engine.begin() as conn:
                conn.exec_driver_sql("DELETE FROM dst")
            args = ["sync", url, url, "--source-table", "src", "--table", "dst", "--key", "k",
                    "--engine", mode]
            assert counts(run_json(*args), "dst") == (3, 0, 0)
            with engine.connect() as conn:
                assert conn.exec_driver_sql("SELECT k, v FROM dst ORDER BY k").all() == [
                    ("a", ""), ("b", "  "), ("c", " x ")]
            assert counts(run_json(*args), "dst") == (0, 0, 0)
            assert counts(run_json(*args, "--strip-whitespace"), "dst") == (0, 3, 0)
    finally:
        engine.dispose()


def test_mariadb_uuid_and_binary_columns(mysql_engine: sa.Engine, table_name: str,
                                         tmp_path: Path) -> None:
    with mysql_engine.begin() as conn:
        conn.exec_driver_sql(f"CREATE TABLE {table_name} (id INTEGER PRIMARY KEY, u UUID,"
                             " b VARBINARY(4), r FLOAT)")
    path = write_csv(tmp_path / "u.csv", ["id", "u", "b", "r"], [
        ["1", "A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11", "\\x00ff", "3.14159265"],
        ["2", "", "\\x0102030405", "1e-50"]])
    try:
        for engine in ENGINES:
            args = ["sync", str(path), engine_url(mysql_engine), "--table", table_name,
                    "--key", "id", "--engine", engine]
            proc = run_cli(*args)
            assert proc.returncode == 1 and "row 3" in proc.stderr, proc.stderr
            assert "column b" in proc.stderr and "column r" not in proc.stderr, proc.stderr
            args += ["--on-error", "skip", "--max-rejected", "100%",
                     "--rejects", str(tmp_path / "r.csv")]
            assert counts(run_json(*args), table_name)[:2] in ((1, 0), (0, 0)), engine
            assert counts(run_json(*args), table_name) == (0, 0, 0), engine
        with mysql_engine.connect() as conn:
            row = conn.exec_driver_sql(f"SELECT u, b FROM {table_name}").one()
        assert row == ("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", b"\x00\xff")
    finally:
        drop_table(mysql_engine, table_name)


@pytest.mark.parametrize("spec", [
    ColumnSpec("t", "text"), ColumnSpec("t", "text", length=4, nul_allowed=False),
    ColumnSpec("t", "text", max_bytes=8), ColumnSpec("t", "text", length=3, fixed=True),
    ColumnSpec("t", "text", charset="utf8mb3"), ColumnSpec("t", "text", charset="latin1")],
    ids=["plain", "pg", "tinytext", "char", "utf8mb3", "latin1"])
@pytest.mark.parametrize("typed", [True, False], ids=["typed", "file"])
def test_text_column_paths_equal_the_rule_book(spec: ColumnSpec, typed: bool) -> None:
    """The whole-column text paths (typed sources copied exactly, files stripped) must
    equal the per-value rules, errors included."""
    options = TypeOptions(typed_source=typed)
    one, column = source_coercer(spec, options), column_coercer(spec, options)
    batches: list[list[Any]] = [
        ["a", "", "  ", " b ", None], ["abc", "ab  "], ["a\x00"], ["ééééé"], [1, "x"],
        [b"x"], [{"a": 1}], ["ok", "\U0001F600"], ["Ω"], ["€ é"]]
    for batch in batches:
        try:
            expected: Any = [one(v) for v in batch]
        except CoercionError as exc:
            expected = exc.message
        try:
            got: Any = column(batch)
        except CoercionError as exc:
            got = exc.message
        assert got == expected, batch


@pytest.mark.parametrize("kind", ["text", "integer", "boolean", "decimal"])
def test_null_tokens_column_path_equals_the_rule_book(kind: str) -> None:
    spec = ColumnSpec("c", kind, precision=6, scale=2) if kind == "decimal" else \
        ColumnSpec("c", kind)
    options = TypeOptions(null_tokens=frozenset({"NA", "\\N"}))
    one, column = source_coercer(spec, options), column_coercer(spec, options)
    good = {"text": "x", "integer": "1", "boolean": "yes", "decimal": "1.50"}[kind]
    for batch in ([good, "NA", " NA "], [good, "\\N"], [good, ""], [good, "na"], [good, None]):
        try:
            expected: Any = [one(v) for v in batch]
        except CoercionError as exc:
            expected = exc.message
        try:
            got: Any = column(list(batch))
        except CoercionError as exc:
            got = exc.message
        assert got == expected, batch
