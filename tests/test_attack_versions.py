"""Hostile review of versions (issue 10): the cases tests/test_versions.py leaves out.

Each test runs on SQLite, PostgreSQL and MariaDB (``versions_db``) unless it says why not.
After every run the version tables are checked against what the runs reported
(:class:`helpers.Ledger`): one version row per changed row, whole chains.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from conftest import VersionsDb
from helpers import (
    DELETE,
    ENGINES,
    INSERT,
    UPDATE,
    Cli,
    Ledger,
    execute,
    in_process,
    live,
    make_tables,
    product,
    sync,
    table,
    transactions,
    versions,
)
from syncline import Handler, Importer, IterableSource, RunOptions
from syncline.options import RejectedLimit
from syncline.versions.admin import enable
from syncline.versions.catchup import catch_up
from syncline.versions.history import record_history


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Callable[..., Cli]:
    return in_process(capsys)


@pytest.fixture
def db(versions_db: VersionsDb) -> VersionsDb:
    make_tables(versions_db)
    enable(versions_db.url, ["product"])
    return versions_db


def no_traceback(done: Cli) -> None:
    assert "Traceback (most recent" not in done.err and "unexpected" not in done.err, done.err


# -- enable: tables whose columns clash with the version columns ---------------------------------
@pytest.mark.parametrize("column", ["transaction_id", "end_transaction_id", "operation_type"])
def test_enable_refuses_a_column_named_like_a_version_column(
        versions_db: VersionsDb, cli: Callable[..., Cli], column: str) -> None:
    """A payments table with its own ``transaction_id`` is common; its version table
    cannot hold both. Refused with the table and column named, nothing created."""
    metadata = sa.MetaData()
    sa.Table("payment", metadata, sa.Column("id", sa.Integer, primary_key=True),
             sa.Column(column, sa.Integer))
    metadata.create_all(versions_db.engine)
    done = cli("versions", "enable", "payment", "--target", versions_db.url)
    assert done.code == 1, done
    no_traceback(done)
    assert "payment" in done.err and column in done.err, done.err
    assert not sa.inspect(versions_db.engine).has_table("payment_version")


def test_enable_a_long_table_name(versions_db: VersionsDb, cli: Callable[..., Cli]) -> None:
    """The index names ``ix_<table>_version_pk_transaction_id`` pass PostgreSQL's 63 and
    MariaDB's 64 characters long before the table name does: either the versions are
    enabled or the user reads a clear error, never an unexpected one."""
    name = "t" * 40
    metadata = sa.MetaData()
    sa.Table(name, metadata, sa.Column("id", sa.Integer, primary_key=True),
             sa.Column("v", sa.Integer))
    metadata.create_all(versions_db.engine)
    done = cli("versions", "enable", name, "--target", versions_db.url)
    no_traceback(done)
    assert done.code == 0, done
    execute(versions_db, f"INSERT INTO {name} (id, v) VALUES (1, 1)")
    done = cli("versions", "catch-up", name, "--target", versions_db.url, "--json")
    assert done.code == 0, done
    assert done.json["models"][name]["created"] == 1


def test_enable_refuses_a_business_table_named_transaction(versions_db: VersionsDb,
                                                          cli: Callable[..., Cli]) -> None:
    """A point-of-sale database has its own ``transaction`` table (sales). Versions must
    not take it for Continuum's: enable refuses, naming the table and what it lacks, and
    no run ever writes a row into it."""
    metadata = sa.MetaData()
    sa.Table("transaction", metadata, sa.Column("id", sa.Integer, primary_key=True),
             sa.Column("store", sa.String(10)), sa.Column("total", sa.Numeric(10, 2)))
    metadata.create_all(versions_db.engine)
    make_tables(versions_db)
    done = cli("versions", "enable", "product", "--target", versions_db.url)
    no_traceback(done)
    assert done.code == 1, done
    assert "transaction" in done.err and "issued_at" in done.err, done.err
    assert not sa.inspect(versions_db.engine).has_table("product_version")


# -- what a run writes ---------------------------------------------------------------------------
@pytest.mark.parametrize("engine", ENGINES)
def test_on_error_skip_versions_only_the_rows_written(db: VersionsDb, engine: str,
                                                      tmp_path: Path) -> None:
    """--on-error=skip: the target refuses a create and an update (a department that does
    not exist); the versions are those of the rows written, not of the change set."""
    execute(db, "INSERT INTO department (id, name) VALUES (1, 'fruit')")
    if db.kind == "sqlite":
        pytest.skip("SQLite does not enforce foreign keys without PRAGMA foreign_keys")
    ledger = Ledger(db)
    ledger.record(sync(db, [product("A1", "apple", 1, 1), product("A2", "pear", 2, 1)],
                       engine))
    rows = [product("A1", "apple", 10, 99),  # update refused
            product("A2", "pear", 20, 1),    # update written
            product("A3", "plum", 3, 99),    # create refused
            product("A4", "fig", 4, 1)]      # create written
    result = sync(db, rows, engine, on_error="skip", rejects=tmp_path / "rejects.csv",
                  max_rejected=RejectedLimit.parse("100%"))
    assert result.committed
    model = result.models["product"]
    assert (model.created, model.updated, model.rejected) == (1, 1, 2), model
    ledger.record(result)
    ledger.check()
    assert [(v["upc"], v["operation_type"], v["qty"]) for v in versions(db)
            if v["transaction_id"] == result.transaction_id] == [("A2", UPDATE, 20),
                                                                ("A4", INSERT, 4)]


@pytest.mark.parametrize("engine", ENGINES)
def test_keys_mode_versions_only_the_given_keys(db: VersionsDb, engine: str) -> None:
    ledger = Ledger(db)
    ledger.record(sync(db, [product("A1", "apple", 1), product("A2", "pear", 2),
                            product("A3", "plum", 3)], engine))
    rows = [product("A1", "apple", 10), product("A2", "pear", 20), product("A5", "kiwi", 5)]
    result = sync(db, rows, "memory" if engine == "memory" else "auto",
                  keys=[("A2",), ("A3",), ("A5",)])
    ledger.record(result)
    ledger.check()
    assert sorted((v["upc"], v["operation_type"]) for v in versions(db)
                  if v["transaction_id"] == result.transaction_id) == [
        ("A2", UPDATE), ("A3", DELETE), ("A5", INSERT)]


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("keep", ["first", "last"])
def test_on_duplicate_versions_one_row_per_key(db: VersionsDb, engine: str, keep: str) -> None:
    ledger = Ledger(db)
    rows = [product("A1", "apple", 1), product("A1", "apple", 2), product("A2", "pear", 3),
            product("A1", "apple", 4)]
    result = sync(db, rows, engine, on_duplicate=keep)
    ledger.record(result)
    ledger.check()
    assert [(v["upc"], v["qty"]) for v in versions(db)] == [
        ("A1", 1 if keep == "first" else 4), ("A2", 3)]
    assert live(db)["A1"]["qty"] == (1 if keep == "first" else 4)


# -- tables whose importer key is not the primary key; composite keys ---------------------------
def make_coded(db: VersionsDb) -> None:
    metadata = sa.MetaData()
    sa.Table("coded", metadata, sa.Column("id", sa.Integer, primary_key=True),
             sa.Column("code", sa.String(20), nullable=False, unique=True),
             sa.Column("v", sa.String(50)))
    sa.Table("pair", metadata,
             sa.Column("a", sa.String(10), primary_key=True),
             sa.Column("b", sa.Integer, primary_key=True, autoincrement=False),
             sa.Column("v", sa.String(50)))
    metadata.create_all(db.engine)
    enable(db.url, ["coded", "pair"])


def versions_by(db: VersionsDb, name: str) -> list[tuple[Any, ...]]:
    t = table(db, f"{name}_version")
    with db.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(sa.select(t).order_by(*t.primary_key.columns))]


@pytest.mark.parametrize("engine", ENGINES)
def test_key_that_is_not_the_primary_key(versions_db: VersionsDb, engine: str) -> None:
    """Importer key ``code``, primary key ``id`` (numbered by the database): the versions
    carry ``id``, one per change, chains whole."""
    db = versions_db
    make_coded(db)

    def run(rows: list[dict[str, Any]]) -> Any:
        importer = Importer(table="coded", key=("code",), source=IterableSource(
            rows, columns=["code", "v"]))
        return Handler(target_url=db.url, importers=[importer]).run(
            RunOptions(engine=engine, delete=True, allow_mass_delete=True))  # type: ignore[arg-type]

    first = run([{"code": "x", "v": "1"}, {"code": "y", "v": "2"}, {"code": "z", "v": "3"}])
    second = run([{"code": "x", "v": "1"}, {"code": "y", "v": "22"}, {"code": "w", "v": "4"}])
    ids = {r["code"]: r["id"] for r in live(db, "coded").values()}
    rows = versions(db, "coded")
    assert len(rows) == 6, rows
    by_tx: dict[int, list[tuple[Any, ...]]] = {}
    for r in rows:
        by_tx.setdefault(int(r["transaction_id"]), []).append(
            (r["code"], r["operation_type"], r["v"]))
    assert sorted(by_tx[first.transaction_id]) == [("x", 0, "1"), ("y", 0, "2"), ("z", 0, "3")]
    assert sorted(by_tx[second.transaction_id]) == [("w", 0, "4"), ("y", 1, "22"),
                                                   ("z", 2, "3")]
    assert {r["id"] for r in rows if r["code"] == "w"} == {ids["w"]}
    open_ = [(r["code"], r["operation_type"]) for r in rows if r["end_transaction_id"] is None]
    assert sorted(open_) == [("w", 0), ("x", 0), ("y", 1), ("z", 2)]
    assert catch_up(db.url, ["coded"]).models["coded"].changes.total == 0


@pytest.mark.parametrize("engine", ENGINES)
def test_composite_key(versions_db: VersionsDb, engine: str) -> None:
    db = versions_db
    make_coded(db)

    def run(rows: list[tuple[str, int, str | None]]) -> Any:
        importer = Importer(table="pair", key=("a", "b"), source=IterableSource(
            [{"a": a, "b": b, "v": v} for a, b, v in rows], columns=["a", "b", "v"]))
        return Handler(target_url=db.url, importers=[importer]).run(
            RunOptions(engine=engine, delete=True, allow_mass_delete=True))  # type: ignore[arg-type]

    first = run([("a", 1, "x"), ("a", 2, "y"), ("b", 1, None)])
    second = run([("a", 1, "x"), ("a", 2, None), ("b", 2, "n")])
    got = [(a, b, v, tx, end, op) for a, b, v, tx, end, op in versions_by(db, "pair")]
    t1, t2 = first.transaction_id, second.transaction_id
    assert got == [("a", 1, "x", t1, None, 0), ("a", 2, "y", t1, t2, 0),
                   ("a", 2, None, t2, None, 1), ("b", 1, None, t1, t2, 0),
                   ("b", 1, None, t2, None, 2), ("b", 2, "n", t2, None, 0)]
    assert catch_up(db.url, ["pair"]).models["pair"].changes.total == 0
    hist = record_history(db.url, "pair", ["a", "2"])
    assert [v.operation for v in hist] == ["insert", "update"]
    assert hist[1].changed == {"v": ("y", None)}


# -- catch-up: hostile values, twice -----------------------------------------------------------
HUGE = "é😀ß" * 6000  # 54 000 bytes of UTF-8: fits MariaDB's TEXT


def make_odd(db: VersionsDb) -> sa.Table:
    metadata = sa.MetaData()
    odd = sa.Table("odd", metadata, sa.Column("id", sa.Integer, primary_key=True,
                                              autoincrement=False),
                   sa.Column("txt", sa.Text), sa.Column("f", sa.Float),
                   sa.Column("n", sa.Numeric(12, 2)), sa.Column("at", sa.DateTime),
                   sa.Column("ok", sa.Boolean), sa.Column("doc", sa.JSON),
                   sa.Column("blob", sa.LargeBinary))
    metadata.create_all(db.engine)
    enable(db.url, ["odd"])
    return odd


def test_catch_up_twice_with_hostile_values_is_idempotent(versions_db: VersionsDb,
                                                         cli: Callable[..., Cli]) -> None:
    import datetime as dt
    import decimal

    db = versions_db
    odd = make_odd(db)
    values = [
        {"id": 1, "txt": HUGE, "f": 0.1 + 0.2, "n": decimal.Decimal("1234567890.12"),
         "at": dt.datetime(2024, 3, 31, 2, 30, 0, 123456), "ok": True,
         "doc": {"a": [1, 2, {"b": "ü"}]}, "blob": b"\x00\xff\x00"},
        {"id": 2, "txt": None, "f": None, "n": None, "at": None, "ok": None, "doc": None,
         "blob": None},
        {"id": 3, "txt": "", "f": -0.0, "n": decimal.Decimal("0.00"),
         "at": dt.datetime(1970, 1, 1), "ok": False, "doc": [], "blob": b""},
        {"id": 4, "txt": "'; DROP TABLE odd; --\x01\t\n\r", "f": 1e30,
         "n": decimal.Decimal("-0.01"), "at": dt.datetime(2038, 1, 19, 3, 14, 8),
         "ok": True, "doc": {"": None}, "blob": bytes(range(256))},
    ]
    with db.engine.begin() as conn:
        conn.execute(odd.insert(), values)
    first = cli("versions", "catch-up", "--target", db.url, "--json", "--runas", "ü")
    assert first.code == 0, first
    assert first.json["models"]["odd"]["created"] == 4
    again = cli("versions", "catch-up", "--target", db.url, "--json")
    assert again.code == 0, again
    counts = again.json["models"]["odd"]
    assert (counts["created"], counts["updated"], counts["deleted"]) == (0, 0, 0), counts
    assert again.json["transaction_id"] is None
    # one value changed behind syncline's back: one update version, the rest left alone
    with db.engine.begin() as conn:
        conn.execute(odd.update().where(odd.c.id == 1).values(txt=HUGE + "!"))
    third = cli("versions", "catch-up", "odd", "--target", db.url, "--json", "--diff")
    assert third.code == 0, third
    counts = third.json["models"]["odd"]
    assert (counts["created"], counts["updated"], counts["deleted"]) == (0, 1, 0), counts
    rows = versions(db, "odd")
    assert len(rows) == 5
    assert [r["txt"] for r in rows if r["id"] == 1 and r["end_transaction_id"] is None] == [
        HUGE + "!"]
    hist = cli("history", "odd", "1", "--target", db.url, "--json")
    assert hist.code == 0, hist
    assert [v["operation"] for v in hist.json["versions"]] == ["insert", "update"]
    assert list(hist.json["versions"][1]["changed"]) == ["txt"]
    assert hist.json["versions"][0]["user"] == "ü"


# -- history ----------------------------------------------------------------------------------
def test_history_of_unknown_key_table_and_bad_key(db: VersionsDb,
                                                  cli: Callable[..., Cli]) -> None:
    sync(db, [product("A1", "apple", 1)])
    done = cli("history", "product", "nope", "--target", db.url)
    assert done.code == 0 and "no versions" in done.out, done
    done = cli("history", "product", "nope", "--target", db.url, "--json")
    assert done.code == 0 and done.json["versions"] == [], done
    for args in (("history", "nosuch", "1"), ("history", "department", "1"),
                 ("history", "product", "A1", "extra"), ("history", "product_version", "A1"),
                 ("history", "transaction", "1")):
        done = cli(*args, "--target", db.url)
        no_traceback(done)
        assert done.code != 0, (args, done)
    done = cli("history", "nosuch", "1", "--target", db.url, "--json")
    no_traceback(done)
    assert done.code != 0 and done.json["error"], done


def test_history_when_the_transaction_table_is_gone(db: VersionsDb,
                                                    cli: Callable[..., Cli]) -> None:
    sync(db, [product("A1", "apple", 1)])
    with db.engine.begin() as conn:
        table(db, "transaction_meta").drop(conn)
        table(db, "transaction").drop(conn)
    done = cli("history", "product", "A1", "--target", db.url)
    no_traceback(done)
    assert done.code == 1 and "transaction" in done.err, done


# -- a version table whose transaction table is gone ---------------------------------------------
def test_a_version_table_without_transaction_table_is_not_silently_skipped(
        db: VersionsDb, tmp_path: Path) -> None:
    """``product_version`` is there, ``transaction`` is not (dropped by hand, or by a
    downgrade of syncline's branch while it was empty). The docs say a table with a
    ``<table>_version`` sibling is versioned: a run must not change it without versions and
    without a word — it fails before writing, naming the missing table."""
    with db.engine.begin() as conn:
        table(db, "transaction_meta").drop(conn)
        table(db, "transaction").drop(conn)
    with pytest.raises(Exception, match="transaction") as raised:
        sync(db, [product("A1", "apple", 1)])
    assert "Traceback" not in str(raised.value)
    assert live(db) == {}
    assert versions(db) == []
    # --no-versions is the way out, with its warning
    done = sync(db, [product("A1", "apple", 1)], versions=False)
    assert done.committed and any("--no-versions" in w for w in done.models["product"].warnings)


# -- a transaction table another tool made --------------------------------------------------------
def test_a_transaction_table_numbered_by_auto_increment(versions_db: VersionsDb) -> None:
    """A ``transaction`` table made before syncline (by an older Alembic migration of
    Rattail's, on MySQL) is numbered by AUTO_INCREMENT / an identity, with no sequence
    ``transaction_id_seq``: the run still takes its id (MariaDB: was 'Unknown SEQUENCE')."""
    db = versions_db
    ddl = {"sqlite": "id INTEGER PRIMARY KEY",
           "postgresql": "id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY",
           "mysql": "id BIGINT AUTO_INCREMENT PRIMARY KEY"}[db.kind]
    quoted = "`transaction`" if db.kind == "mysql" else '"transaction"'
    execute(db, f"CREATE TABLE {quoted} ({ddl}, remote_addr VARCHAR(50), issued_at"
                f" {'TIMESTAMP' if db.kind == 'postgresql' else 'DATETIME'},"
                " user_id VARCHAR(255))")
    make_tables(db)
    enable(db.url, ["product"])
    ledger = Ledger(db)
    first = sync(db, [product("A1", "apple", 1)], runas="ann", comment="one")
    second = sync(db, [product("A1", "apple", 2)], runas="bob")
    assert first.transaction_id is not None and second.transaction_id is not None
    assert second.transaction_id > first.transaction_id
    ledger.record(first)
    ledger.record(second)
    ledger.check()
    assert [t["user_id"] for t in transactions(db)] == ["ann", "bob"]


# -- a version table lagging a migration that widened a column ------------------------------------
def test_a_version_column_narrower_than_the_live_one(db: VersionsDb) -> None:
    """A migration widened ``product.name`` to 300 characters but not its version column
    (still 100). A run that writes a 200-character name must fail as a whole with an error
    naming the version table, not truncate it (MariaDB) nor write the data without its
    version. SQLite keeps any length: there the run simply succeeds."""
    if db.kind == "sqlite":
        pytest.skip("SQLite does not enforce VARCHAR lengths")
    alter = ("ALTER TABLE product MODIFY name VARCHAR(300)" if db.kind == "mysql"
             else "ALTER TABLE product ALTER COLUMN name TYPE VARCHAR(300)")
    execute(db, alter)
    ledger = Ledger(db)
    ledger.record(sync(db, [product("A1", "apple", 1)]))
    with pytest.raises(Exception, match="versions of table product") as raised:
        sync(db, [product("A1", "a" * 200, 1)])
    assert getattr(raised.value, "result", None) is not None
    assert not raised.value.result.committed  # type: ignore[attr-defined]
    assert live(db)["A1"]["name"] == "apple"
    ledger.check()


# -- an application writes while a versioned run applies (RELIABILITY 18) -------------------------
@pytest.mark.parametrize("engine", ENGINES)
def test_an_application_edit_during_the_run(db: VersionsDb, engine: str,
                                            tmp_path: Path) -> None:
    """The run has read; the application then changes a synced field of a row the run will
    update (A2), a synced field of a row the run leaves alone (A1) and the unsynced note of
    a row the run updates (A3). Whatever the run then does — commit or refuse — the version
    rows hold exactly the rows it changed, with the values the table then holds."""
    if db.kind == "sqlite":
        pytest.skip("SQLite: the application waits for the run's write lock")
    from helpers import start_paused, write_csv

    ledger = Ledger(db)
    ledger.record(sync(db, [product("A1", "apple", 1), product("A2", "pear", 2),
                            product("A3", "plum", 3)]))
    header = ["upc", "name", "qty"]
    source = write_csv(tmp_path / "v2.csv", header, [["A1", "apple", 1], ["A2", "pear", 20],
                                                     ["A3", "plum", 30]])
    args = ["sync", str(source), db.url, "--table", "product", "--key", "upc",
            "--engine", engine, "--json", "--runas", "run"]
    child = start_paused(args, tmp_path, "after_read", seconds="3")
    app = sa.create_engine(db.url)
    try:
        with app.begin() as conn:
            conn.execute(sa.text("UPDATE product SET qty = 200 WHERE upc = 'A2'"))
            conn.execute(sa.text("UPDATE product SET qty = 100 WHERE upc = 'A1'"))
            conn.execute(sa.text("UPDATE product SET note = 'app' WHERE upc = 'A3'"))
    finally:
        app.dispose()
    out, err = child.communicate(timeout=120)
    rows = live(db)
    if child.returncode == 0:
        import json as _json

        result = _json.loads(out.strip().splitlines()[-1])
        ledger.record(result)
        assert rows["A1"]["qty"] == 100  # the application's edit of a row the run left alone
        assert rows["A3"]["note"] == "app"  # the application's own column is never lost
        for version in versions(db):  # what the run changed: versions hold the table's values
            if version["transaction_id"] == result["transaction_id"]:
                assert {k: version[k] for k in ("name", "qty", "note")} == {
                    k: rows[version["upc"]][k] for k in ("name", "qty", "note")}, (version, rows)
    else:  # refused: nothing of the run, the application's edits kept
        assert rows["A2"]["qty"] == 200 and rows["A3"]["qty"] == 3, (out, err)
        assert "transient" in err or "changed" in err or "another" in err, err
    ledger.check()


# -- keys equal only under the server's collation (MariaDB: case and trailing spaces) -------------
@pytest.mark.parametrize("engine", ENGINES)
def test_keys_that_differ_by_case_only(db: VersionsDb, engine: str) -> None:
    """MariaDB's default collation takes 'A1' and 'a1' for one key; PostgreSQL and SQLite
    for two. Whatever the run decides, the versions match what it changed."""
    ledger = Ledger(db)
    ledger.record(sync(db, [product("A1", "apple", 1), product("B2", "pear", 2)], engine))
    try:
        result = sync(db, [product("a1", "apple", 10), product("B2", "pear", 2)], engine)
    except Exception as exc:  # refused as a whole: nothing written
        assert getattr(exc, "result", None) is not None and not exc.result.committed  # type: ignore[attr-defined]
    else:
        ledger.record(result)
    if db.kind == "mysql":  # one record to MariaDB: its chain, folded as the server folds
        rows = versions(db)
        assert [(r["upc"], r["qty"], r["operation_type"], r["end_transaction_id"])
                for r in rows] == [("A1", 1, INSERT, 2), ("a1", 10, UPDATE, None),
                                   ("B2", 2, INSERT, None)], rows
        assert sorted(live(db)) == ["B2", "a1"]
    else:
        ledger.check()
    assert catch_up(db.url, ["product"], RunOptions(delete=True, dry_run=True)).models[
        "product"].changes.total == 0
