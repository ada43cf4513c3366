"""Hostile names, target tables and run locks: issue 7 item 15 (RELIABILITY.md rows 17, 32).

- table and column names with ``%``, ``:``, quotes and unicode work on every database (they
  used to be formatted into SQL text: ``%`` doubled in COPY and ``pg_get_serial_sequence``,
  ``:x`` parsed as a bind parameter), and so does a ``--source-query`` with ``:y`` and ``%``
  inside string literals;
- a failed ``--create-table`` run leaves no table behind (SQLite: the CREATE is in the run's
  transaction; MariaDB: DDL commits, so the table is dropped again);
- the run lock is per target table, case-folded where the database folds (SQLite);
- a mistyped SQLite target path is refused, instead of creating an empty database;
- no ``*.syncline-lock`` files are left beside a database, and removing them never lets two
  runs hold the lock at once;
- a target with duplicate keys is refused before any write, naming the keys.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from conftest import drop_table, engine_url
from helpers import (
    Paused,
    expect_error,
    make_source,
    make_table,
    old_rows,
    report,
    run_cli,
    run_process,
    sync_args,
)

HOSTILE = 'ser :x%"ü'
#: (no backtick: SQLAlchemy's MariaDB reflection reads `` back doubled, a known gap)
COLUMN = 'pct%:"y'
#: the column's name as a CSV header cell
COLUMN_CELL = '"pct%:""y"'


def quoted(engine: sa.Engine, name: str) -> str:
    return engine.dialect.identifier_preparer.quote(name)


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def counts(proc: Any, table: str) -> tuple[int, int, int]:
    assert proc.returncode == 0, report(proc)
    model = json.loads(proc.stdout)["models"][table]
    return model["created"], model["updated"], model["deleted"]


# -- hostile names ---------------------------------------------------------------------------


def test_hostile_table_and_column_names(any_engine: sa.Engine, table_name: str,
                                        tmp_path: Path) -> None:
    """A serial id, a table named ``ser :x%"ü...`` and a column ``pct%:y``: both engines
    create, update and delete, and on PostgreSQL the sequence moves past the explicit ids."""
    hostile = HOSTILE + table_name[-6:]
    table = sa.Table(hostile, sa.MetaData(),
                     sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
                     sa.Column(COLUMN, sa.String(40)))
    url = engine_url(any_engine)
    first = write(tmp_path / "a.csv", f"id,{COLUMN_CELL}\n1,a:b\n2,50%\n3,x\n")
    second = write(tmp_path / "b.csv", f"id,{COLUMN_CELL}\n1,a:c\n2,50%\n4,'q\n")
    table.create(any_engine)
    try:
        args = [url, "--table", hostile, "--key", "id", "--delete", "--json"]
        assert counts(run_cli("sync", str(first), *args), hostile) == (3, 0, 0)
        assert counts(run_cli("sync", str(second), *args, "--engine", "memory"),
                      hostile) == (1, 1, 1)
        assert counts(run_cli("sync", str(first), *args, "--allow-mass-delete"),
                      hostile) == (1, 1, 1)
        with any_engine.begin() as conn:
            # the application's next insert gets an id past the synced ones
            conn.execute(table.insert().values({COLUMN: "app"}))
            rows = conn.execute(sa.select(table).order_by(table.c.id)).all()
        assert [tuple(r) for r in rows[:3]] == [(1, "a:b"), (2, "50%"), (3, "x")]
        assert rows[3][1] == "app" and rows[3][0] >= 4  # MariaDB never reuses id 4
    finally:
        drop_table(any_engine, hostile)


def test_source_query_with_colons_and_percents_in_literals(any_engine: sa.Engine,
                                                           table_name: str,
                                                           tmp_path: Path) -> None:
    """The user's query is run as written: ``:y`` in a literal is no bind parameter, and
    ``%`` is no placeholder."""
    source = table_name + "_src"
    sa.Table(source, sa.MetaData(), sa.Column("upc", sa.String(20), primary_key=True),
             sa.Column("name", sa.String(40))).create(any_engine)
    target = sa.create_engine(f"sqlite:///{tmp_path / 'target.db'}")
    try:
        with any_engine.begin() as conn:
            conn.execute(sa.text(f"INSERT INTO {quoted(any_engine, source)} (upc, name)"
                                 " VALUES ('A', 'at 10:30'), ('B', '100%')"))
        sa.Table(table_name, sa.MetaData(), sa.Column("upc", sa.String(20), primary_key=True),
                 sa.Column("name", sa.String(40)), sa.Column("note", sa.String(40))
                 ).create(target)
        query = (f"SELECT upc, name, 'x :y %s %% 5%' AS note FROM {quoted(any_engine, source)}"
                 " WHERE name LIKE '%:%' OR name LIKE '%0%%'")
        proc = run_cli("sync", engine_url(any_engine), f"sqlite:///{tmp_path / 'target.db'}",
                       "--table", table_name, "--key", "upc", "--source-query", query, "--json")
        assert counts(proc, table_name) == (2, 0, 0)
        with target.connect() as conn:
            rows = conn.execute(sa.text(f'SELECT upc, name, note FROM "{table_name}"'
                                        " ORDER BY upc")).all()
        assert [tuple(r) for r in rows] == [("A", "at 10:30", "x :y %s %% 5%"),
                                            ("B", "100%", "x :y %s %% 5%")]
    finally:
        target.dispose()
        drop_table(any_engine, source)


# -- --create-table that fails -----------------------------------------------------------------


def test_failed_create_table_leaves_no_table(any_engine: sa.Engine, table_name: str,
                                             tmp_path: Path) -> None:
    table_name = f"new :x%'ü{table_name[-6:]}"  # created and dropped by compiled DDL only
    source = write(tmp_path / "dup.csv", "sku,name\nA,one\nA,two\nB,three\n")
    try:
        proc = run_cli("sync", str(source), engine_url(any_engine), "--table", table_name,
                       "--key", "sku", "--create-table")
        expect_error(proc, 1, "duplicate")
        assert not sa.inspect(any_engine).has_table(table_name), \
            "the failed run left the table it created"
        # and a run that succeeds keeps it
        good = write(tmp_path / "good.csv", "sku,name\nA,one\nB,two\n")
        proc = run_cli("sync", str(good), engine_url(any_engine), "--table", table_name,
                       "--key", "sku", "--create-table", "--json")
        assert counts(proc, table_name) == (2, 0, 0)
    finally:
        drop_table(any_engine, table_name)


def test_a_failed_run_never_drops_a_table_it_did_not_create(mysql_engine: sa.Engine,
                                                            table_name: str,
                                                            tmp_path: Path) -> None:
    """--create-table against an existing table creates nothing, so drops nothing."""
    make_table(mysql_engine, table_name, old_rows(3))
    source = write(tmp_path / "dup.csv", "upc,name,qty\nA,one,1\nA,two,2\n")
    try:
        expect_error(run_cli("sync", str(source), engine_url(mysql_engine), "--table",
                             table_name, "--key", "upc", "--create-table"), 1, "duplicate")
        assert sa.inspect(mysql_engine).has_table(table_name)
    finally:
        drop_table(mysql_engine, table_name)


# -- run locks ----------------------------------------------------------------------------------


def test_lock_is_per_target_table_case_folded_on_sqlite(sqlite_engine: sa.Engine,
                                                        table_name: str,
                                                        tmp_path: Path) -> None:
    """``--table ITEMS`` and ``--table items`` are one table in SQLite: one run at a time."""
    source = make_source(tmp_path / "source.csv", 50)
    make_table(sqlite_engine, table_name, old_rows(50))
    url = engine_url(sqlite_engine)
    with Paused(sync_args(source, url, table_name), "after_read", tmp_path) as first:
        pid = first.wait_paused()
        second = run_process(*sync_args(source, url, table_name.upper()), timeout=120)
    assert second.returncode == 5, report(second)
    assert "already running" in second.stderr and f"pid {pid}" in second.stderr
    assert table_name in second.stderr.lower()


def test_no_lock_files_are_left(sqlite_path: Path, table_name: str, tmp_path: Path) -> None:
    engine = sa.create_engine(f"sqlite:///{sqlite_path}")
    make_table(engine, table_name, old_rows(5))
    engine.dispose()
    source = make_source(tmp_path / "source.csv", 5)
    for more in ([], ["--dry-run"]):
        proc = run_cli("sync", source, f"sqlite:///{sqlite_path}", "--table", table_name,
                       "--key", "upc", *more)
        assert proc.returncode == 0, report(proc)
    expect_error(run_cli("sync", str(write(tmp_path / "bad.csv", "upc,name,qty\nA,b,c\n")),
                         f"sqlite:///{sqlite_path}", "--table", table_name, "--key", "upc"), 1)
    assert sorted(p.name for p in sqlite_path.parent.iterdir()
                  if p.name.endswith("syncline-lock")) == []


def test_lock_file_removal_never_lets_two_holders_in(tmp_path: Path) -> None:
    """Threads take and release the same file lock as fast as they can (each with its own
    descriptor, as separate processes would): never two holders, though every release
    removes the file."""
    from syncline.errors import AlreadyRunningError
    from syncline.locks import file_lock

    path = tmp_path / "db.sqlite.t-1234.syncline-lock"
    holders = 0
    most = 0
    taken = 0
    guard = threading.Lock()
    stop = time.monotonic() + 2.0

    def worker() -> None:
        nonlocal holders, most, taken
        while time.monotonic() < stop:
            try:
                with file_lock(path, "t"):
                    with guard:
                        holders += 1
                        most = max(most, holders)
                        taken += 1
                    time.sleep(0.0005)
                    with guard:
                        holders -= 1
            except AlreadyRunningError:
                pass

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert most == 1, f"{most} holders at once"
    assert taken >= 10  # exercised (each take fsyncs its holder record: slow on a busy disk)
    assert not path.exists()


# -- a mistyped SQLite target ----------------------------------------------------------------


def test_a_missing_sqlite_target_is_refused(tmp_path: Path) -> None:
    source = make_source(tmp_path / "source.csv", 3)
    missing = tmp_path / "shpo.db"
    for more in ([], ["--dry-run"]):
        expect_error(run_cli("sync", source, f"sqlite:///{missing}", "--table", "items",
                             "--key", "upc", *more), 1, str(missing), "does not exist",
                     "--create-table")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["source.csv"]
    # a dry run of --create-table shows the creates, and still creates no file
    proc = run_cli("sync", source, f"sqlite:///{missing}", "--table", "items", "--key", "upc",
                   "--create-table", "--dry-run", "--json")
    assert counts(proc, "items") == (2, 0, 0)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["source.csv"]
    # creating it is the point of --create-table
    proc = run_cli("sync", source, f"sqlite:///{missing}", "--table", "items", "--key", "upc",
                   "--create-table", "--json")
    assert counts(proc, "items") == (2, 0, 0)
    assert missing.exists()


# -- a target with duplicate keys ------------------------------------------------------------


def test_target_with_duplicate_keys_is_refused(any_engine: sa.Engine, table_name: str,
                                               tmp_path: Path) -> None:
    table = sa.Table(table_name, sa.MetaData(), sa.Column("upc", sa.String(20)),
                     sa.Column("name", sa.String(40)))
    table.create(any_engine)
    try:
        with any_engine.begin() as conn:
            conn.execute(table.insert(), [{"upc": "A", "name": "one"},
                                          {"upc": "A", "name": "two"},
                                          {"upc": "B", "name": "three"},
                                          {"upc": None, "name": "n1"},
                                          {"upc": None, "name": "n2"}])
        source = write(tmp_path / "s.csv", "upc,name\nB,three\nC,four\n")
        for engine_name in ("database", "memory"):
            proc = run_cli("sync", str(source), engine_url(any_engine), "--table", table_name,
                           "--key", "upc", "--delete", "--allow-mass-delete",
                           "--engine", engine_name)
            stderr = expect_error(proc, 1, table_name, "duplicate key", "'A' (2 rows)",
                                  "nothing was written")
            assert "None" not in stderr  # NULL keys are not duplicates
            with any_engine.connect() as conn:
                assert conn.execute(sa.select(sa.func.count()).select_from(table)).scalar() == 5
    finally:
        drop_table(any_engine, table_name)


@pytest.mark.parametrize("unique", ["primary key", "unique index"])
def test_a_unique_key_skips_the_duplicate_scan(sqlite_engine: sa.Engine, table_name: str,
                                               unique: str) -> None:
    from syncline.target_keys import key_is_unique
    from syncline.targets.sql import SqlTarget

    columns: list[Any] = [sa.Column("a", sa.String(5), primary_key=unique == "primary key"),
                          sa.Column("b", sa.String(5))]
    table = sa.Table(table_name, sa.MetaData(), *columns)
    if unique == "unique index":
        sa.Index(f"ix_{table_name}", table.c.a, unique=True)
    table.create(sqlite_engine)
    session = SqlTarget(sqlite_engine).session()
    try:
        assert key_is_unique(session, table_name, ["a"])
        assert key_is_unique(session, table_name, ["a", "b"])
        assert not key_is_unique(session, table_name, ["b"])
    finally:
        session.close()
