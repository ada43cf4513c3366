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
    products_importer,
    sync,
    table,
    transactions,
    versions,
    versions_of,
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
