"""Versions (issue 10, RELIABILITY rows 21 and 22) on SQLite, PostgreSQL and MariaDB.

Every test gets a database of its own (``versions_db``): the version tables have the fixed
names SQLAlchemy-Continuum gives them. After every run the version tables are checked
against what the runs reported (:class:`Ledger`): each transaction holds exactly one version
row per changed row, and each record's versions form one chain (each closed version ends
at the transaction of the next one; at most one is open).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
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
    comments,
    execute,
    in_process,
    live,
    make_tables,
    product,
    products_importer,
    sync,
    table,
    transactions,
    versions,
    versions_of,
    write_csv,
)
from syncline import Handler, Importer, IterableSource, RunOptions
from syncline.versions.admin import enable
from syncline.versions.catchup import catch_up
from syncline.versions.history import record_history


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Callable[..., Cli]:
    return in_process(capsys)


@pytest.fixture
def db(versions_db: VersionsDb) -> VersionsDb:
    """The three tables on a database of their own; versions on for product."""
    make_tables(versions_db)
    enable(versions_db.url, ["product"])
    return versions_db


# -- create, update, delete ---------------------------------------------------------------------
V1 = [product("A1", "apple", 1), product("A2", "pear", 2), product("A3", "plum", 3)]
#: A1 unchanged, A2 updated, A3 gone, A4 new
V2 = [product("A1", "apple", 1), product("A2", "pear", 20), product("A4", "fig", 4)]


@pytest.mark.parametrize("engine", ENGINES)
def test_library_run_writes_a_version_per_change(db: VersionsDb, engine: str) -> None:
    ledger = Ledger(db)
    first = sync(db, V1, engine)
    tx1 = ledger.record(first)
    assert tx1 is not None and first.models["product"].versions == 3
    assert [(v["upc"], v["operation_type"], v["qty"]) for v in versions(db)] == [
        ("A1", INSERT, 1), ("A2", INSERT, 2), ("A3", INSERT, 3)]
    ledger.check()

    # the application keeps its own column; the versions carry the live row's value of it
    execute(db, "UPDATE product SET note = 'kept by the app' WHERE upc IN ('A2', 'A3')")
    second = sync(db, V2, engine, runas="ann", comment="v2")
    tx2 = ledger.record(second)
    assert tx2 is not None and tx2 > tx1
    counts_seen = second.models["product"]
    assert (counts_seen.created, counts_seen.updated, counts_seen.deleted) == (1, 1, 1)
    ledger.check()
    new = {v["upc"]: v for v in versions(db) if v["transaction_id"] == tx2}
    assert {k: v["operation_type"] for k, v in new.items()} == {
        "A2": UPDATE, "A3": DELETE, "A4": INSERT}
    assert (new["A2"]["qty"], new["A2"]["note"]) == (20, "kept by the app")  # new values
    assert (new["A3"]["qty"], new["A3"]["note"]) == (3, "kept by the app")  # the old ones
    assert (new["A4"]["name"], new["A4"]["note"]) == ("fig", None)  # never synced
    assert [v["end_transaction_id"] for v in versions_of(db, "A1")] == [None]
    assert [v["end_transaction_id"] for v in versions_of(db, "A2")] == [tx2, None]
    tx = transactions(db)[-1]
    assert (tx["id"], tx["user_id"]) == (tx2, "ann") and tx["issued_at"] is not None
    assert tx["remote_addr"]
    assert comments(db) == {tx2: "v2"}

    # nothing to do: no transaction row, no versions
    again = sync(db, V2, engine)
    assert again.transaction_id is None and again.models["product"].versions == 0
    ledger.record(again)
    ledger.check()

    # A3 comes back: an insert after its delete, which it closes
    third = sync(db, [*V2, product("A3", "plum", 30)], engine)
    tx3 = ledger.record(third)
    ledger.check()
    assert [(v["operation_type"], v["end_transaction_id"]) for v in versions_of(db, "A3")] == [
        (INSERT, tx2), (DELETE, tx3), (INSERT, None)]


@pytest.mark.parametrize("engine", ENGINES)
def test_cli_sync_writes_versions(db: VersionsDb, engine: str, tmp_path: Path,
                                  cli: Callable[..., Cli]) -> None:
    ledger = Ledger(db)
    header = ["upc", "name", "qty", "note"]
    source = write_csv(tmp_path / "v1.csv", header, [[p["upc"], p["name"], p["qty"], "src"]
                                                    for p in V1])
    args = ["sync", str(source), db.url, "--table", "product", "--key", "upc",
            "--exclude", "note", "--delete", "--allow-mass-delete", "--engine", engine, "--json"]
    done = cli(*args, "--runas", "ann", "--comment", "first load")
    assert done.code == 0, done.err
    tx1 = ledger.record(done.json)
    assert done.json["models"]["product"]["versions"] == 3
    ledger.check()
    write_csv(source, header, [[p["upc"], p["name"], p["qty"], "src"] for p in V2])
    done = cli(*args)
    assert done.code == 0, done.err
    tx2 = ledger.record(done.json)
    assert done.json["models"]["product"]["versions"] == 3
    ledger.check()
    assert [(t["id"], t["user_id"]) for t in transactions(db)] == [(tx1, "ann"), (tx2, None)]
    assert comments(db) == {tx1: "first load"}
    done = cli(*args)
    assert done.code == 0 and done.json["transaction_id"] is None
    assert done.json["models"]["product"]["versions"] == 0
    ledger.check()


def department(id_: int, name: str) -> dict[str, Any]:
    return {"id": id_, "name": name}


class Shop(Handler):
    runas = "the shop"


def shop(db: VersionsDb, departments: list[dict[str, Any]], items: list[dict[str, Any]]
         ) -> Shop:
    return Shop(target_url=db.url, importers=[
        Importer(table="department", key=("id",), source=IterableSource(departments)),
        products_importer(items)])


@pytest.mark.parametrize("engine", ENGINES)
def test_multi_model_run_writes_one_transaction(db: VersionsDb, engine: str) -> None:
    enable(db.url, ["department"])
    ledger = Ledger(db, ("department", "product"))
    options = RunOptions(engine=engine, delete=True, allow_mass_delete=True)  # type: ignore[arg-type]
    first = shop(db, [department(1, "fruit"), department(2, "veg")],
                 [product("A1", "apple", 1, 1), product("A2", "pear", 2, 1),
                  product("B1", "kale", 3, 2)]).run(options)
    tx1 = ledger.record(first)
    assert {m: first.models[m].versions for m in ("department", "product")} == {
        "department": 2, "product": 3}
    ledger.check()
    # department 2 goes with its product (deletes children first), department 1 renamed,
    # A1 moves to the new department 3 (parents created first)
    second = shop(db, [department(1, "fruits"), department(3, "nuts")],
                  [product("A1", "apple", 1, 3), product("A2", "pear", 2, 1)]).run(options)
    tx2 = ledger.record(second)
    assert tx2 is not None and tx2 != tx1
    ledger.check()
    assert len(transactions(db)) == 2
    assert transactions(db)[-1]["user_id"] == "the shop"  # the handler's runas
    assert [(v["id"], v["operation_type"]) for v in versions(db, "department")
            if v["transaction_id"] == tx2] == [(1, UPDATE), (2, DELETE), (3, INSERT)]
    assert [(v["upc"], v["operation_type"], v["dept_id"]) for v in versions(db)
            if v["transaction_id"] == tx2] == [("A1", UPDATE, 3), ("B1", DELETE, 2)]


# -- what writes no versions --------------------------------------------------------------------
def test_dry_run_writes_nothing_and_takes_no_transaction_id(db: VersionsDb, tmp_path: Path,
                                                             cli: Callable[..., Cli]) -> None:
    ledger = Ledger(db)
    tx1 = ledger.record(sync(db, V1))
    assert tx1 is not None
    dry = sync(db, V2, dry_run=True)
    assert dry.transaction_id is None and dry.models["product"].changes is not None
    assert dry.models["product"].changes.total == 3
    source = write_csv(tmp_path / "v2.csv", ["upc", "name", "qty"],
                       [[p["upc"], p["name"], p["qty"]] for p in V2])
    args = ["sync", str(source), db.url, "--table", "product", "--key", "upc", "--delete",
            "--json"]
    done = cli(*args, "--dry-run", "--runas", "x", "--comment", "y")
    assert done.code == 0 and done.json["transaction_id"] is None, done.out
    assert cli(*args, "--check").code == 3
    ledger.check()  # nothing new
    assert comments(db) == {}
    # the next real run takes the id the first dry run would have taken
    tx2 = ledger.record(sync(db, V2))
    assert tx2 == tx1 + 1
    ledger.check()


def test_no_versions_warns_and_catch_up_adds_them_later(db: VersionsDb,
                                                        cli: Callable[..., Cli],
                                                        tmp_path: Path) -> None:
    ledger = Ledger(db)
    ledger.record(sync(db, V1))
    source = write_csv(tmp_path / "v2.csv", ["upc", "name", "qty"],
                       [[p["upc"], p["name"], p["qty"]] for p in V2])
    done = cli("sync", str(source), db.url, "--table", "product", "--key", "upc", "--delete",
               "--no-versions", "--json")
    assert done.code == 0, done.err
    model = done.json["models"]["product"]
    assert (model["created"], model["updated"], model["deleted"]) == (1, 1, 1)
    assert done.json["transaction_id"] is None and not model["versions"]
    assert any("--no-versions" in w for w in model["warnings"]), model["warnings"]
    text = cli("sync", str(source), db.url, "--table", "product", "--key", "upc",
               "--no-versions")  # nothing to do now; the text report
    assert text.code == 0
    assert sorted(live(db)) == ["A1", "A2", "A4"]
    ledger.check()  # no transaction, no versions
    # the library says the same
    quiet = sync(db, V1, versions=False)
    assert quiet.transaction_id is None
    assert any("--no-versions" in w for w in quiet.models["product"].warnings)
    ledger.check()
    # a catch-up brings the versions up to the live rows
    sync(db, V2, versions=False)
    caught = cli("versions", "catch-up", "--target", db.url, "--json")
    assert caught.code == 0, caught.err
    ledger.record(caught.json)
    ledger.check()
    assert {v["upc"]: v["operation_type"] for v in versions(db)
            if v["end_transaction_id"] is None} == {"A1": INSERT, "A2": UPDATE,
                                                   "A3": DELETE, "A4": INSERT}


def test_runas_precedence(db: VersionsDb, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                          cli: Callable[..., Cli]) -> None:
    """--runas, else the handler's runas, else SYNCLINE_RUNAS, else no user."""
    monkeypatch.delenv("SYNCLINE_RUNAS", raising=False)
    sync(db, [product("A1", "a", 1)])
    monkeypatch.setenv("SYNCLINE_RUNAS", "env user")
    sync(db, [product("A1", "a", 2)])
    sync(db, [product("A1", "a", 3)], handler=Shop)
    sync(db, [product("A1", "a", 4)], handler=Shop, runas="option user", comment="why")
    source = write_csv(tmp_path / "s.csv", ["upc", "name", "qty"], [["A1", "a", 5]])
    args = ["sync", str(source), db.url, "--table", "product", "--key", "upc"]
    assert cli(*args).code == 0
    write_csv(source, ["upc", "name", "qty"], [["A1", "a", 6]])
    assert cli(*args, "--runas", "cli user", "--comment", "cli why").code == 0
    txs = transactions(db)
    assert [t["user_id"] for t in txs] == [None, "env user", "the shop", "option user",
                                           "env user", "cli user"]
    assert comments(db) == {txs[3]["id"]: "why", txs[5]["id"]: "cli why"}
    assert [v["qty"] for v in versions(db)] == [1, 2, 3, 4, 5, 6]


def test_a_table_without_versions_gets_none(db: VersionsDb) -> None:
    """department has no version table; the transaction table exists (for product)."""
    before = set(sa.inspect(db.engine).get_table_names())
    shop_run = shop(db, [department(1, "fruit")], [product("A1", "apple", 1, 1)])
    result = shop_run.run(RunOptions(delete=True))
    assert result.models["department"].versions is None
    assert result.models["product"].versions == 1
    only_departments = Handler(target_url=db.url, importers=[Importer(
        table="department", key=("id",), source=IterableSource([department(1, "fruits")]))])
    second = only_departments.run()
    assert second.committed and second.models["department"].updated == 1
    assert second.transaction_id is None and second.models["department"].versions is None
    assert len(transactions(db)) == 1
    # nothing new but the run lock's own table (MariaDB keeps its lock in one)
    assert set(sa.inspect(db.engine).get_table_names()) - before <= {"syncline_lock"}


# -- enable, status -----------------------------------------------------------------------------
def test_enable_is_idempotent_and_refuses_a_table_without_key(versions_db: VersionsDb,
                                                              cli: Callable[..., Cli]) -> None:
    db = versions_db
    make_tables(db)
    names = set(sa.inspect(db.engine).get_table_names())
    refused = cli("versions", "enable", "product", "nopk", "--target", db.url)
    assert refused.code == 1
    assert "nopk" in refused.err and "primary key" in refused.err, refused.err
    missing = cli("versions", "enable", "nothere", "--target", db.url)
    assert missing.code == 1 and "nothere" in missing.err
    assert set(sa.inspect(db.engine).get_table_names()) == names  # nothing created
    done = cli("versions", "enable", "product", "--target", db.url)
    assert done.code == 0, done.err
    assert {"transaction", "transaction_meta", "product_version"} <= set(
        line.removeprefix("created ") for line in done.out.splitlines())
    again = cli("versions", "enable", "product", "--target", db.url)
    assert again.code == 0 and "created" not in again.out
    assert enable(db.url, ["product"]) == []
    assert enable(db.url, ["product", "department"]) == ["department_version"]
    assert set(sa.inspect(db.engine).get_table_names()) == names | {
        "transaction", "transaction_meta", "product_version", "department_version"}
    version_table = table(db, "product_version")
    assert [c.name for c in version_table.primary_key.columns] == ["upc", "transaction_id"]
    assert list(version_table.c.keys()) == [
        "upc", "name", "qty", "dept_id", "note", "transaction_id", "end_transaction_id",
        "operation_type"]
    itself = cli("versions", "enable", "product_version", "--target", db.url)
    assert itself.code == 1, itself.out


def test_status_counts(db: VersionsDb, cli: Callable[..., Cli]) -> None:
    empty = cli("versions", "status", "--target", db.url, "--json")
    assert empty.json == {"tables": [
        {"table": "product", "rows": 0, "versions": 0, "missing_columns": []}]}
    sync(db, V1)
    sync(db, V2)
    enable(db.url, ["department"])
    done = cli("versions", "status", "--target", db.url, "--json")
    assert done.code == 0
    assert done.json == {"tables": [
        {"table": "department", "rows": 0, "versions": 0, "missing_columns": []},
        {"table": "product", "rows": 3, "versions": 6, "missing_columns": []}]}
    text = cli("versions", "status", "--target", db.url)
    assert "product: 3 rows, 6 versions" in text.out


# -- catch-up ------------------------------------------------------------------------------------
def seed(db: VersionsDb, rows: Sequence[dict[str, Any]]) -> None:
    """Live rows written behind syncline's back (no versions)."""
    with db.engine.begin() as conn:
        conn.execute(table(db, "product").insert(), [
            {k: v for k, v in r.items() if k != "dept_id"} for r in rows])


def catch_up_cli(cli: Callable[..., Cli], db: VersionsDb, *args: str) -> Cli:
    return cli("versions", "catch-up", "--target", db.url, "--json", *args)


def test_catch_up_from_empty_history_then_current(db: VersionsDb,
                                                  cli: Callable[..., Cli]) -> None:
    ledger = Ledger(db)
    seed(db, V1)
    behind = catch_up_cli(cli, db, "--check")
    assert behind.code == 3 and behind.json["models"]["product"]["created"] == 3
    done = catch_up_cli(cli, db, "product", "--runas", "seed", "--comment", "history starts")
    assert done.code == 0, done.err
    assert done.json["models"]["product"]["created"] == 3
    tx = ledger.record(done.json)
    ledger.check()
    assert [(v["upc"], v["operation_type"], v["note"]) for v in versions(db)] == [
        ("A1", INSERT, "from the source"), ("A2", INSERT, "from the source"),
        ("A3", INSERT, "from the source")]
    assert transactions(db)[0]["user_id"] == "seed"
    assert comments(db) == {tx: "history starts"}
    # current: nothing to do, no transaction row
    for extra in ([], ["--check"]):
        again = catch_up_cli(cli, db, *extra)
        assert again.code == 0, again.out
        assert again.json["transaction_id"] is None
        model = again.json["models"]["product"]
        assert (model["created"], model["updated"], model["deleted"], model["unchanged"]) == (
            0, 0, 0, 3)
    ledger.check()
    library = catch_up(db.url)
    assert library.transaction_id is None and library.models["product"].changes is not None
    assert library.models["product"].changes.total == 0
    ledger.check()


def test_catch_up_writes_missing_changed_and_deleted(db: VersionsDb, cli: Callable[..., Cli],
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SYNCLINE_RUNAS", "env user")  # as for a sync: --runas, else this
    ledger = Ledger(db)
    ledger.record(sync(db, V1))
    # behind syncline's back: two new rows, one changed (its note too), one gone
    seed(db, [product("A5", "kiwi", 5), product("A6", "lime", 6)])
    execute(db, "UPDATE product SET qty = 22, note = 'edited' WHERE upc = 'A2'")
    execute(db, "DELETE FROM product WHERE upc = 'A3'")
    before = versions(db)

    assert catch_up_cli(cli, db, "--check").code == 3
    refused = catch_up_cli(cli, db, "--max-create", "1")
    assert refused.code == 4, refused.out
    assert refused.json["transaction_id"] is None
    dry = catch_up_cli(cli, db, "--dry-run", "--diff")
    assert dry.code == 0
    model = dry.json["models"]["product"]
    assert (model["created"], model["updated"], model["deleted"]) == (2, 1, 1)
    assert versions(db) == before and len(transactions(db)) == 1

    kept = catch_up_cli(cli, db, "--no-delete")
    assert kept.code == 0, kept.err
    model = kept.json["models"]["product"]
    assert (model["created"], model["updated"], model["deleted"], model["skipped"]) == (
        2, 1, 0, 1)
    tx2 = ledger.record(kept.json)
    ledger.check()
    new = {v["upc"]: v for v in versions(db) if v["transaction_id"] == tx2}
    assert {k: v["operation_type"] for k, v in new.items()} == {
        "A2": UPDATE, "A5": INSERT, "A6": INSERT}
    assert (new["A2"]["qty"], new["A2"]["note"]) == (22, "edited")

    gone = catch_up_cli(cli, db, "--runas", "cli user")  # delete versions: on by default
    assert gone.code == 0, gone.err
    model = gone.json["models"]["product"]
    assert (model["created"], model["updated"], model["deleted"]) == (0, 0, 1)
    tx3 = ledger.record(gone.json)
    ledger.check()
    a3 = versions_of(db, "A3")
    assert [(v["operation_type"], v["qty"], v["end_transaction_id"]) for v in a3] == [
        (INSERT, 3, tx3), (DELETE, 3, None)]
    assert catch_up_cli(cli, db, "--check").code == 0
    assert [t["user_id"] for t in transactions(db)] == ["env user", "env user", "cli user"]


def test_catch_up_leaves_an_inconsistent_history_alone(db: VersionsDb,
                                                       cli: Callable[..., Cli]) -> None:
    ledger = Ledger(db)
    tx1 = ledger.record(sync(db, V1))
    assert tx1 is not None
    # A1 gets a second open version (as a broken writer would leave it)
    with db.engine.begin() as conn:
        tx = table(db, "transaction")
        conn.execute(tx.insert().values(id=tx1 + 100, issued_at=sa.func.now()))
        conn.execute(table(db, "product_version").insert().values(
            upc="A1", name="apple", qty=99, transaction_id=tx1 + 100, operation_type=UPDATE))
    execute(db, "UPDATE product SET qty = qty + 10")
    done = catch_up_cli(cli, db)
    assert done.code == 0, done.err
    model = done.json["models"]["product"]
    warning = " ".join(model["warnings"])
    assert "A1" in warning and "A2" not in warning, model["warnings"]
    assert (model["created"], model["updated"], model["deleted"]) == (0, 2, 0)
    tx2 = done.json["transaction_id"]
    assert [(v["transaction_id"], v["end_transaction_id"]) for v in versions_of(db, "A1")] == [
        (tx1, None), (tx1 + 100, None)]  # left alone
    for upc in ("A2", "A3"):
        assert [(v["operation_type"], v["end_transaction_id"])
                for v in versions_of(db, upc)] == [(INSERT, tx2), (UPDATE, None)]


# -- history --------------------------------------------------------------------------------------
def test_history_lists_every_version_oldest_first(db: VersionsDb,
                                                   cli: Callable[..., Cli]) -> None:
    sync(db, V1, runas="ann", comment="load")
    sync(db, V2, runas="bob", comment="fix")  # A2: qty 2 -> 20; A3 deleted
    sync(db, [*V2, product("A3", "plum", 3)])
    done = cli("history", "product", "A2", "--target", db.url, "--json")
    assert done.code == 0, done.err
    data = done.json
    assert data["table"] == "product" and data["key"] == ["A2"]
    found = data["versions"]
    assert [v["operation"] for v in found] == ["insert", "update"]
    assert [(v["user"], v["comment"]) for v in found] == [("ann", "load"), ("bob", "fix")]
    assert all(v["remote_addr"] and v["issued_at"] for v in found)
    assert found[0]["issued_at"] <= found[1]["issued_at"]
    assert found[0]["changed"] == {"upc": [None, "A2"], "name": [None, "pear"], "qty": [None, 2],
                                   "dept_id": [None, None], "note": [None, None]}
    assert found[1]["changed"] == {"qty": [2, 20]}
    assert found[1]["values"]["qty"] == 20

    a3 = record_history(db.url, "product", ["A3"])
    assert [(v.operation, v.user, v.comment) for v in a3] == [
        ("insert", "ann", "load"), ("delete", "bob", "fix"), ("insert", None, None)]
    assert [v.transaction_id for v in a3] == sorted(v.transaction_id for v in a3)
    assert a3[1].values["qty"] == 3  # a delete version holds the old values
    text = cli("history", "product", "A2", "--target", db.url)
    assert text.code == 0
    lines = text.out.splitlines()
    assert lines[0].startswith(f"#{found[0]['transaction_id']} ") and "insert by ann" in lines[0]
    assert any("update by bob" in line and line.endswith(": fix") for line in lines)
    assert any("qty: 2 -> 20" in line for line in lines)
    unknown = cli("history", "product", "ZZ", "--target", db.url, "--json")
    assert unknown.code == 0 and unknown.json["versions"] == []
    unversioned = cli("history", "department", "1", "--target", db.url)
    assert unversioned.code == 1 and "department" in unversioned.err


# -- version tables that cannot take what the run writes -----------------------------------------
def cli_sync(cli: Callable[..., Cli], db: VersionsDb, source: Path, *args: str) -> Cli:
    return cli("sync", str(source), db.url, "--table", "product", "--key", "upc", *args)


def assert_clear_error(done: Cli, *words: str) -> None:
    """Exit 1 with one ``Error:`` line naming ``words``: no driver dump, no "unexpected"."""
    assert done.code == 1, (done.out, done.err)
    assert done.err.startswith("Error: ") and "unexpected" not in done.err, done.err
    assert "[SQL:" not in done.err and "Traceback" not in done.err, done.err
    for word in words:
        assert word in done.err, (word, done.err)


def test_a_column_the_version_table_lacks_fails_the_run_clearly(db: VersionsDb, tmp_path: Path,
                                                                cli: Callable[..., Cli]) -> None:
    """The live table gained a column (a migration); its version table did not."""
    ledger = Ledger(db)
    ledger.record(sync(db, V1))
    execute(db, "ALTER TABLE product ADD COLUMN extra INTEGER")
    before = live(db)
    source = write_csv(tmp_path / "s.csv", ["upc", "name", "qty"], [["A1", "apple", 5]])
    for engine in ENGINES:
        done = cli_sync(cli, db, source, "--engine", engine)
        assert_clear_error(done, "product_version", "extra")
        assert live(db) == before
        ledger.check()
    status = cli("versions", "status", "--target", db.url)
    assert "product: 3 rows, 3 versions  (the version table lacks extra)" in status.out
    assert cli_sync(cli, db, source, "--no-versions").code == 0
    assert live(db)["A1"]["qty"] == 5
    ledger.check()


def test_a_comment_without_transaction_meta_fails_clearly(db: VersionsDb, tmp_path: Path,
                                                          cli: Callable[..., Cli]) -> None:
    """Continuum without its TransactionMeta plugin has no transaction_meta table."""
    execute(db, "DROP TABLE transaction_meta")
    source = write_csv(tmp_path / "s.csv", ["upc", "name", "qty"], [["A1", "apple", 1]])
    done = cli_sync(cli, db, source, "--comment", "why")
    assert_clear_error(done, "transaction_meta", "--comment")
    assert "--create-table" not in done.err  # it would not create transaction_meta
    assert live(db) == {} and transactions(db) == []
    assert cli_sync(cli, db, source).code == 0
    assert [v["upc"] for v in versions(db)] == ["A1"]


def test_a_runas_the_user_table_lacks_fails_clearly(versions_db: VersionsDb, tmp_path: Path,
                                                    cli: Callable[..., Cli]) -> None:
    """Continuum with a user class: ``transaction.user_id`` points at the user table
    (Rattail: a 32-character uuid). A --runas that is no user's key is refused by the
    database; the run fails as a target error (nothing written), never as a crash."""
    db = versions_db
    make_tables(db)
    metadata = sa.MetaData()
    sa.Table("user", metadata, sa.Column("uuid", sa.String(32), primary_key=True),
             sa.Column("username", sa.String(25)))
    sa.Table("transaction", metadata,
             sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
                       sa.Sequence("transaction_id_seq"), primary_key=True),
             sa.Column("remote_addr", sa.String(50)), sa.Column("issued_at", sa.DateTime),
             sa.Column("user_id", sa.String(32), sa.ForeignKey("user.uuid"), index=True))
    metadata.create_all(db.engine)
    with db.engine.begin() as conn:
        conn.execute(metadata.tables["user"].insert().values(uuid="0" * 32, username="alice"))
    assert enable(db.url, ["product"]) == ["transaction_meta", "product_version"]
    source = write_csv(tmp_path / "s.csv", ["upc", "name", "qty"], [["A1", "apple", 1]])
    done = cli_sync(cli, db, source, "--runas", "alice")
    assert_clear_error(done, "transaction")
    assert live(db) == {} and transactions(db) == [] and versions(db) == []
    assert cli_sync(cli, db, source, "--runas", "0" * 32).code == 0
    assert [t["user_id"] for t in transactions(db)] == ["0" * 32]


# -- SIGKILL mid-apply (RELIABILITY 13 with versions; issue 10 calls it 22) ------------------------
KILL_ROWS = 300


def kill_rows(version: int) -> list[list[Any]]:
    """v1: KILL_ROWS rows; v2: every 6th updated, the last 10% gone, 10% new."""
    if version == 1:
        return [[f"U{i:04d}", f"old {i}", i] for i in range(KILL_ROWS)]
    kept = [[f"U{i:04d}", f"new {i}" if i % 6 == 0 else f"old {i}", i]
            for i in range(KILL_ROWS * 9 // 10)]
    return kept + [[f"U{i:04d}", f"created {i}", i] for i in range(KILL_ROWS, KILL_ROWS * 11 // 10)]


def run_child(args: Sequence[str]) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SYNCLINE_TEST_PAUSE")}
    return subprocess.run([sys.executable, "-m", "syncline", *args], capture_output=True,
                          text=True, timeout=120, env=env)


def killed_at(args: Sequence[str], point: str, workdir: Path) -> int:
    """A real ``syncline`` child, paused at ``point`` and killed there; its pid."""
    pause_file = workdir / f"pause-{point}.pid"
    log = workdir / f"child-{point}.log"
    env = dict(os.environ, SYNCLINE_TEST_PAUSE_AT=point, SYNCLINE_TEST_PAUSE_FILE=str(pause_file),
               SYNCLINE_TEST_PAUSE_SECONDS="60")
    with open(log, "w") as out:
        child = subprocess.Popen([sys.executable, "-m", "syncline", *args], env=env,
                                 stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while not (pause_file.exists() and pause_file.read_text().strip()):
            if child.poll() is not None:
                pytest.fail(f"the child ended (exit {child.returncode}) before pausing:\n"
                            + log.read_text())
            if time.monotonic() > deadline:
                pytest.fail("the child did not pause:\n" + log.read_text())
            time.sleep(0.02)
    finally:
        if child.poll() is None:
            os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=10)
    assert child.returncode == -signal.SIGKILL
    return child.pid


def wait_sessions_gone(db: VersionsDb, pid: int) -> None:
    """The server ends the killed client's session (rolling back its transaction) on its
    own; wait for that, so that the checks do not race it."""
    if db.kind == "sqlite":
        return
    if db.kind == "postgresql":
        query = sa.text("SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE :a")
        params: dict[str, Any] = {"a": f"syncline pid={pid} %"}
    else:
        query = sa.text("SELECT count(*) FROM information_schema.processlist"
                        " WHERE db = :db AND id <> CONNECTION_ID()")
        params = {"db": db.engine.url.database}
    deadline = time.monotonic() + 10
    with db.engine.connect() as conn:
        while conn.execute(query, params).scalar():
            conn.rollback()
            assert time.monotonic() < deadline, "the server kept the killed run's session"
            time.sleep(0.05)


def test_sigkill_leaves_no_transaction_and_no_orphan_versions(db: VersionsDb,
                                                              tmp_path: Path) -> None:
    """Killed after the creates and updates and their versions were written (the
    transaction row too): the versions of the run vanish with it; a rerun writes them."""
    point = "mid_apply"
    ledger = Ledger(db)
    source = write_csv(tmp_path / "source.csv", ["upc", "name", "qty"], kill_rows(1))
    args = ["sync", str(source), db.url, "--table", "product", "--key", "upc", "--delete",
            "--allow-mass-delete", "--runas", "killer", "--json"]
    first = run_child(args)
    assert first.returncode == 0, first.stderr
    ledger.record(json.loads(first.stdout))
    before_rows, before_versions = live(db), versions(db)
    write_csv(source, ["upc", "name", "qty"], kill_rows(2))

    pid = killed_at(args, point, tmp_path)
    wait_sessions_gone(db, pid)
    assert live(db) == before_rows
    assert versions(db) == before_versions
    ledger.check()  # the killed run left no transaction row, and no version without one

    again = run_child(args)
    assert again.returncode == 0, again.stderr
    done = json.loads(again.stdout)
    model = done["models"]["product"]
    assert (model["created"], model["updated"], model["deleted"]) == (30, 45, 30)
    ledger.record(done)
    ledger.check()
    assert len(live(db)) == KILL_ROWS


# -- two runs at once on different tables (RELIABILITY 22) ---------------------------------------
@pytest.fixture
def server_db(versions_db: VersionsDb) -> VersionsDb:
    if versions_db.kind == "sqlite":
        pytest.skip("SQLite has one writer at a time: RELIABILITY 22 is about the servers")
    return versions_db


def test_concurrent_runs_on_different_tables_do_not_wait_for_each_other(
        server_db: VersionsDb, tmp_path: Path) -> None:
    """A run holds its transaction row (and the versions of its creates and updates)
    uncommitted; a run on another versioned table commits meanwhile, without waiting;
    then the first commits. Each transaction keeps its own versions, in id order."""
    db = server_db
    make_tables(db)
    enable(db.url, ["department", "product"])
    ledger = Ledger(db, ("department", "product"))
    ledger.record(sync(db, V1))
    source = write_csv(tmp_path / "v2.csv", ["upc", "name", "qty"],
                       [[p["upc"], p["name"], p["qty"]] for p in V2])
    pause = tmp_path / "paused"
    env = dict(os.environ, SYNCLINE_TEST_PAUSE_AT="mid_apply",
               SYNCLINE_TEST_PAUSE_FILE=str(pause), SYNCLINE_TEST_PAUSE_SECONDS="4")
    first = subprocess.Popen(
        [sys.executable, "-m", "syncline", "sync", str(source), db.url, "--table", "product",
         "--key", "upc", "--delete", "--json"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while not (pause.exists() and pause.read_text().strip()):
            assert first.poll() is None, first.communicate()
            assert time.monotonic() < deadline, "the first run did not pause"
            time.sleep(0.02)
        second = Handler(target_url=db.url, importers=[Importer(
            table="department", key=("id",),
            source=IterableSource([department(1, "fruit"), department(2, "veg")]))]).run(
            RunOptions(lock_timeout=10))
        assert first.poll() is None, "the second run waited for the first one's commit"
    finally:
        out, err = first.communicate(timeout=60)
    assert first.returncode == 0, err
    done = json.loads(out)
    tx_first, tx_second = ledger.record(done), ledger.record(second)
    assert tx_first is not None and tx_second is not None
    assert tx_first < tx_second  # ids in the order the runs took them
    ledger.check()
