"""The command line as a user meets it: diff output, --check, --json, errors, options."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from helpers import run_cli, write_csv

HEADER = ["sku", "name", "price", "qty"]


@pytest.fixture
def shop(tmp_path: Path) -> tuple[Path, str]:
    db = tmp_path / "shop.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE item (sku TEXT PRIMARY KEY, name TEXT, price NUMERIC(10,2),"
                     " qty INTEGER, note TEXT)")
        conn.executemany("INSERT INTO item VALUES (?, ?, ?, ?, 'keep')",
                         [("A1", "Apple", 1.5, 3), ("B2", "Pear", 2.25, 4), ("C3", "Fig", 3, 5)])
    return db, f"sqlite:///{db}"


def items(db: Path) -> list[tuple[object, ...]]:
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT * FROM item ORDER BY sku").fetchall()


def source(tmp_path: Path) -> str:
    return str(write_csv(tmp_path / "items.csv", HEADER, [
        ["A1", "Apple", "1.50", "3"], ["B2", "Pear (ripe)", "2.25", "4"], ["D4", "Date", "4", "1"],
    ]))


def test_diff_shows_every_change_and_writes_nothing_on_dry_run(
    shop: tuple[Path, str], tmp_path: Path
) -> None:
    db, url = shop
    before = items(db)
    proc = run_cli("sync", source(tmp_path), url, "--table", "item", "--key", "sku",
                   "--delete", "--dry-run", "--diff", check=True)
    assert "+ item 'D4': sku='D4', name='Date', price=Decimal('4.00'), qty=1" in proc.stdout
    assert "~ item 'B2': name: 'Pear' -> 'Pear (ripe)'" in proc.stdout
    assert "- item 'C3'" in proc.stdout
    assert "Dry run: nothing was written" in proc.stdout
    assert items(db) == before


def test_check_exits_3_on_changes_and_0_without(shop: tuple[Path, str], tmp_path: Path) -> None:
    db, url = shop
    args = ["sync", source(tmp_path), url, "--table", "item", "--key", "sku"]
    before = items(db)
    assert run_cli(*args, "--check").returncode == 3
    assert items(db) == before
    run_cli(*args, check=True)
    assert run_cli(*args, "--check").returncode == 0


def test_json_is_one_object_with_the_counts(shop: tuple[Path, str], tmp_path: Path) -> None:
    db, url = shop
    proc = run_cli("sync", source(tmp_path), url, "--table", "item", "--key", "sku", "--json",
                   "--diff", check=True)
    data = json.loads(proc.stdout)
    model = data["models"]["item"]
    assert data["dry_run"] is False and data["committed"] is True
    assert (model["created"], model["updated"], model["deleted"], model["unchanged"]) == (
        1, 1, 0, 1)
    assert model["errors"] == []
    assert {c["op"] for c in model["changes"]} == {"create", "update"}
    # columns the file lacks are left as they are
    assert ("A1", "Apple", 1.5, 3, "keep") in items(db)


def test_run_options_limit_what_is_done(shop: tuple[Path, str], tmp_path: Path) -> None:
    db, url = shop
    args = ["sync", source(tmp_path), url, "--table", "item", "--key", "sku", "--json"]
    data = json.loads(run_cli(*args, "--no-create", "--no-update", "--delete",
                              check=True).stdout)
    assert (data["models"]["item"]["deleted"], data["models"]["item"]["skipped"]) == (1, 2)
    data = json.loads(run_cli(*args, "--exclude", "name", check=True).stdout)
    assert (data["models"]["item"]["created"], data["models"]["item"]["updated"]) == (1, 0)
    assert ("D4", None, 4, 1, None) in items(db)
    data = json.loads(run_cli(*args, "--fields", "sku,qty", check=True).stdout)
    assert data["models"]["item"]["unchanged"] == 3


def test_errors_are_one_line_unless_traceback_is_asked(
    shop: tuple[Path, str], tmp_path: Path
) -> None:
    _, url = shop
    missing = ["sync", str(tmp_path / "nope.csv"), url, "--table", "item", "--key", "sku"]
    proc = run_cli(*missing)
    assert proc.returncode == 1
    assert proc.stderr.startswith("Error: ") and "Traceback" not in proc.stderr
    proc = run_cli("--traceback", *missing)
    assert proc.returncode == 1 and "Traceback" in proc.stderr
    assert run_cli("sync", "--no-such-option").returncode == 2


def test_password_is_never_printed(tmp_path: Path) -> None:
    proc = run_cli("sync", source(tmp_path), "postgresql://u:s3cret@127.0.0.1:1/x",
                   "--table", "item", "--key", "sku")
    assert proc.returncode == 1
    assert "s3cret" not in proc.stderr + proc.stdout


@pytest.mark.parametrize("engine", ["memory", "database"])
def test_create_table_from_csv_and_from_a_sql_source(tmp_path: Path, engine: str) -> None:
    target = f"sqlite:///{tmp_path / 'new.db'}"
    csv_path = source(tmp_path)
    dry = run_cli("sync", csv_path, target, "--table", "item", "--key", "sku", "--create-table",
                  "--dry-run", "--json", "--engine", engine, check=True)
    assert json.loads(dry.stdout)["models"]["item"]["created"] == 3
    assert not sqlite3.connect(tmp_path / "new.db").execute(
        "SELECT name FROM sqlite_master WHERE name = 'item'").fetchall()
    run_cli("sync", csv_path, target, "--table", "item", "--key", "sku", "--create-table",
            "--engine", engine, check=True)
    copy = f"sqlite:///{tmp_path / 'copy.db'}"
    run_cli("sync", target, copy, "--source-table", "item", "--table", "item", "--key", "sku",
            "--create-table", "--engine", engine, check=True)
    with sqlite3.connect(tmp_path / "copy.db") as conn:
        assert conn.execute("SELECT * FROM item ORDER BY sku").fetchall() == [
            ("A1", "Apple", 1.5, 3), ("B2", "Pear (ripe)", 2.25, 4), ("D4", "Date", 4, 1)]


def test_sql_query_source(shop: tuple[Path, str], tmp_path: Path) -> None:
    _, url = shop
    other = f"sqlite:///{tmp_path / 'other.db'}"
    run_cli("sync", url, other, "--source-query", "SELECT sku, qty * 2 AS qty FROM item",
            "--table", "doubled", "--key", "sku", "--create-table", check=True)
    with sqlite3.connect(tmp_path / "other.db") as conn:
        assert conn.execute("SELECT * FROM doubled ORDER BY sku").fetchall() == [
            ("A1", 6), ("B2", 8), ("C3", 10)]


def test_import_source_names_a_source_system_of_the_config(importable: Path) -> None:
    """``syncline import H --source pos``: the URL of ``[sources.pos]`` in syncline.toml,
    as ``sync`` already resolved it (it was passed on as the URL "pos")."""
    import sqlalchemy as sa

    folder = importable
    pos = sa.create_engine(f"sqlite:///{folder / 'pos.db'}")
    shop = sa.create_engine(f"sqlite:///{folder / 'shop.db'}")
    with pos.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE item (sku INTEGER PRIMARY KEY, name TEXT)")
        conn.exec_driver_sql("INSERT INTO item VALUES (1, 'a'), (2, 'b')")
    with shop.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE item (sku INTEGER PRIMARY KEY, name TEXT)")
    (folder / "cfg_handler.py").write_text(
        "from syncline import Handler, Importer\n\n\n"
        "class Items(Importer):\n    table = 'item'\n    key = ('sku',)\n\n\n"
        "class Shop(Handler):\n    importers = (Items,)\n")
    (folder / "syncline.toml").write_text(
        '[target]\nurl = "sqlite:///shop.db"\n\n[sources.pos]\nurl = "sqlite:///pos.db"\n')
    ran = run_cli("import", "cfg_handler:Shop", "--source", "pos", cwd=folder)
    assert ran.returncode == 0, ran.stderr
    with shop.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM item").scalar() == 2
    pos.dispose()
    shop.dispose()
