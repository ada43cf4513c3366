"""A dry run writes nothing and predicts the real run (RELIABILITY.md row 16, issue 3 item 9).

On SQLite, PostgreSQL and MariaDB: a table with data and a CSV with creates, updates and
deletes. ``--dry-run --delete --allow-mass-delete --json`` leaves the table's checksum
(and, on SQLite, the database file's bytes) unchanged, and its counts are exactly those
the real run then reports.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from conftest import drop_table, engine_url
from helpers import (
    item_changes,
    item_rows,
    make_source,
    make_table,
    new_rows,
    old_rows,
    run_cli,
)

ROWS = 2_000
COUNTS = ("created", "updated", "deleted", "unchanged", "skipped")


@pytest.fixture(params=["sqlite", "postgresql", "mysql"])
def target(request: pytest.FixtureRequest, tmp_path: Path, table_name: str
           ) -> Iterator[tuple[sa.Engine, str]]:
    if request.param == "sqlite":
        (tmp_path / "db").mkdir()  # a folder of its own: every file in it is compared
        engine = sa.create_engine(f"sqlite:///{tmp_path / 'db' / 'target.db'}")
        request.addfinalizer(engine.dispose)
    else:
        engine = request.getfixturevalue(
            "pg_engine" if request.param == "postgresql" else "mysql_engine")
    try:
        yield engine, table_name
    finally:
        drop_table(engine, table_name)


def checksum(engine: sa.Engine, table: str) -> str:
    """md5 of every row, all columns, in key order, as the driver returns them."""
    quoted = engine.dialect.identifier_preparer.quote(table)
    digest = hashlib.md5()
    with engine.connect() as conn:
        for row in conn.execute(sa.text(f"SELECT * FROM {quoted} ORDER BY upc")):
            digest.update(repr(tuple(row)).encode())
            digest.update(b"\n")
    return digest.hexdigest()


def sqlite_files(engine: sa.Engine) -> dict[str, str]:
    """sha256 of each file of the database's directory except syncline's lock files."""
    assert engine.url.database
    folder = Path(engine.url.database).parent
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.iterdir()
            if not p.name.endswith(".syncline-lock")}


def counts(args: list[str], table: str) -> tuple[dict[str, Any], dict[str, Any]]:
    proc = run_cli(*args, "--json")
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stderr}\n{proc.stdout}"
    result = json.loads(proc.stdout)
    return result, {k: result["models"][table][k] for k in COUNTS}


def test_dry_run_writes_nothing_and_predicts_the_real_run(target: tuple[sa.Engine, str],
                                                          tmp_path: Path) -> None:
    engine, table = target
    make_table(engine, table, old_rows(ROWS))
    source = make_source(tmp_path / "source.csv", ROWS)
    args = ["sync", source, engine_url(engine), "--table", table, "--key", "upc",
            "--delete", "--allow-mass-delete"]
    before = checksum(engine, table)
    files_before = sqlite_files(engine) if engine.dialect.name == "sqlite" else None

    dry, dry_counts = counts([*args, "--dry-run"], table)
    assert dry["dry_run"] is True and dry["committed"] is False
    assert {k: dry_counts[k] for k in ("created", "updated", "deleted")} == item_changes(ROWS)
    assert checksum(engine, table) == before
    assert item_rows(engine, table) == old_rows(ROWS)
    if files_before is not None:
        assert sqlite_files(engine) == files_before  # same files, same bytes, no journal

    real, real_counts = counts(args, table)
    assert real["committed"] is True
    assert real_counts == dry_counts
    assert checksum(engine, table) != before
    assert item_rows(engine, table) == new_rows(ROWS)
