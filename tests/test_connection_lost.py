"""RELIABILITY row 14: the target connection dies mid-transaction.

The server ends the run's backend while it is paused in the middle of applying; when the
run goes on, its next statement fails: the error says the failure is transient, the exit
code is 1, and the table is exactly as before (the server rolled the transaction back).
"""

from __future__ import annotations

import os
import re
import subprocess
import time
import uuid
from pathlib import Path

import sqlalchemy as sa

from conftest import drop_table, engine_url
from helpers import item_rows, make_source, make_table, old_rows, sync_args, syncline_command


def tagged_url(engine: sa.Engine) -> tuple[str, str]:
    """The engine's URL with an application_name of this test's own: the test ends only the
    backends it made, never a user's or a benchmark's run on the same server."""
    name = f"syncline-test-{uuid.uuid4().hex[:12]}"
    return engine_url(engine) + f"?application_name={name}", name


def end_backends(engine: sa.Engine, application_name: str, state: str | None = None
                 ) -> list[object]:
    query = ("SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
             " WHERE datname = current_database() AND application_name = :name"
             " AND pid <> pg_backend_pid()")
    if state is not None:
        query += " AND state = :state"
    with engine.connect() as conn:
        return list(conn.execute(sa.text(query), {"name": application_name, "state": state}))


def test_postgresql_connection_killed_mid_apply(pg_engine: sa.Engine, table_name: str,
                                                tmp_path: Path) -> None:
    source = make_source(tmp_path / "source.csv", 2_000)
    make_table(pg_engine, table_name, old_rows(2_000))
    before = item_rows(pg_engine, table_name)
    pause = tmp_path / "paused.pid"
    url, application_name = tagged_url(pg_engine)
    env = dict(os.environ, SYNCLINE_TEST_PAUSE_AT="mid_apply",
               SYNCLINE_TEST_PAUSE_FILE=str(pause), SYNCLINE_TEST_PAUSE_SECONDS="3")
    try:
        child = subprocess.Popen(
            [*syncline_command(), *sync_args(source, url, table_name)],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 30
        while not (pause.exists() and pause.read_text()) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert pause.exists(), "the run never reached mid_apply"
        killed = end_backends(pg_engine, application_name, state="idle in transaction")
        assert killed, "no backend of the run was found to end"
        _, stderr = child.communicate(timeout=60)
        assert child.returncode == 1, stderr
        assert stderr.startswith("Error: ") and "Traceback" not in stderr
        assert "transient" in stderr, stderr
        assert item_rows(pg_engine, table_name) == before
    finally:
        drop_table(pg_engine, table_name)


def test_source_connection_lost_mid_read_writes_nothing(pg_engine: sa.Engine, table_name: str,
                                                         tmp_path: Path) -> None:
    """Row 2: a source read that fails midway aborts; no deletes from a partial read."""
    rows = 25_000  # three batches: the pause falls after the first
    with pg_engine.begin() as conn:
        conn.exec_driver_sql(f"CREATE TABLE {table_name} (upc TEXT PRIMARY KEY, n INTEGER)")
        conn.exec_driver_sql(f"INSERT INTO {table_name} SELECT lpad(i::text, 12, '0'), i"
                             f" FROM generate_series(1, {rows}) AS i")
    target = tmp_path / "target.db"
    with sa.create_engine(f"sqlite:///{target}").begin() as conn:
        conn.exec_driver_sql("CREATE TABLE t (upc TEXT PRIMARY KEY, n INTEGER)")
        conn.exec_driver_sql("INSERT INTO t VALUES ('gone', 1)")
    pause = tmp_path / "paused.pid"
    url, application_name = tagged_url(pg_engine)
    env = dict(os.environ, SYNCLINE_TEST_PAUSE_AT="mid_read",
               SYNCLINE_TEST_PAUSE_FILE=str(pause), SYNCLINE_TEST_PAUSE_SECONDS="3")
    try:
        child = subprocess.Popen(
            [*syncline_command(), "sync", url, f"sqlite:///{target}",
             "--source-table", table_name, "--table", "t", "--key", "upc", "--delete",
             "--allow-mass-delete"],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 30
        while not (pause.exists() and pause.read_text()) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert pause.exists(), "the run never reached mid_read"
        killed = end_backends(pg_engine, application_name)
        assert killed, "no source connection of the run was found to end"
        _, stderr = child.communicate(timeout=60)
        assert child.returncode == 1, stderr
        assert stderr.startswith("Error: ") and "Traceback" not in stderr
        read = re.search(r"failed after (\d+) rows", stderr)
        assert read and 0 < int(read.group(1)) < rows, stderr  # the driver may read ahead
        assert "nothing was written" in stderr, stderr
        with sa.create_engine(f"sqlite:///{target}").connect() as conn:
            assert conn.exec_driver_sql("SELECT * FROM t").all() == [("gone", 1)]
    finally:
        drop_table(pg_engine, table_name)
