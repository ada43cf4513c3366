"""One writer at a time (RELIABILITY.md row 17, issue 3 item 7).

While a first run is paused after reading (it holds the run lock there), a second run of
the same job against the same target exits at once with code 5 and says "already
running" with the first run's pid, host and start time. A run of another job (another
table) is not blocked. A lock left by a killed run is taken over: see test_crash.py.

Both runs are real processes: what is tested is two runs competing for the lock, which
names its holder by pid.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from conftest import drop_table, engine_url, fresh_database
from helpers import (
    Paused,
    item_rows,
    make_source,
    make_table,
    new_rows,
    old_rows,
    run_process,
    start_paused,
    sync_args,
)

ROWS = 100


@pytest.fixture
def target(any_engine: sa.Engine, table_name: str) -> Iterator[tuple[sa.Engine, str]]:
    """(engine, table name) on each database; both jobs' tables are dropped afterwards."""
    try:
        yield any_engine, table_name
    finally:
        drop_table(any_engine, table_name)
        drop_table(any_engine, table_name + "_other")


def test_second_run_exits_at_once(target: tuple[sa.Engine, str], tmp_path: Path) -> None:
    engine, table = target
    source = make_source(tmp_path / "source.csv", ROWS)
    make_table(engine, table, old_rows(ROWS))
    args = sync_args(source, engine_url(engine), table)
    with Paused(args, "after_read", tmp_path) as first:
        pid = first.wait_paused()
        started = time.monotonic()
        second = run_process(*args, timeout=120)
        elapsed = time.monotonic() - started
    assert second.returncode == 5, second.stderr
    assert "already running" in second.stderr, second.stderr
    assert f"pid {pid} on host " in second.stderr, second.stderr
    assert " since 20" in second.stderr, second.stderr
    # "at once": start-up is most of it; a run that waited would wait for the 60 s pause
    assert elapsed < 5, f"the second run took {elapsed:.1f} s instead of failing at once"


def test_lock_wait_waits_for_the_first_run_then_runs(target: tuple[sa.Engine, str],
                                                      tmp_path: Path) -> None:
    """--lock-wait: a second run keeps trying while the first holds the table, and runs
    once it is done; a wait shorter than the first run still ends in exit 5."""
    engine, table = target
    source = make_source(tmp_path / "source.csv", ROWS)
    make_table(engine, table, old_rows(ROWS))
    args = sync_args(source, engine_url(engine), table)
    first = start_paused(args, tmp_path, "after_read", seconds="3")
    try:
        short = run_process(*args, "--lock-wait", "0.5", timeout=120)
        assert short.returncode == 5, short.stderr
        second = run_process(*args, "--lock-wait", "60", timeout=120)
        assert second.returncode == 0, second.stderr
        assert first.wait(timeout=60) == 0
    finally:
        if first.poll() is None:
            first.kill()
        first.communicate()
    assert item_rows(engine, table) == sorted(new_rows(ROWS))


def test_other_job_is_not_blocked(target: tuple[sa.Engine, str], tmp_path: Path) -> None:
    engine, table = target
    source = make_source(tmp_path / "source.csv", ROWS)
    make_table(engine, table, old_rows(ROWS))
    other = table + "_other"
    make_table(engine, other, old_rows(ROWS))
    with Paused(sync_args(source, engine_url(engine), table), "after_read", tmp_path) as first:
        first.wait_paused()
        # a short --lock-timeout: on SQLite the paused run's read holds the file
        proc = run_process(*sync_args(source, engine_url(engine), other), "--lock-timeout", "2",
                           timeout=120)
        assert "already running" not in proc.stderr
        if engine.dialect.name == "sqlite":
            # SQLite itself allows one writer per file: the paused run's read transaction
            # makes the other job's commit wait and give up ("database is locked", a
            # transient error) — but syncline's lock did not refuse it
            assert proc.returncode in (0, 1), proc.stderr
            assert proc.returncode == 0 or "database is locked" in proc.stderr
            return
        assert proc.returncode == 0, proc.stderr
    assert item_rows(engine, other) == new_rows(ROWS)


def test_same_table_in_another_schema_is_not_blocked(tmp_path: Path,
                                                     request: pytest.FixtureRequest) -> None:
    """PostgreSQL advisory locks are per database: the lock names the table's schema, so
    ``a.items`` and ``b.items`` (two jobs sharing a database) do not block each other."""
    source = make_source(tmp_path / "source.csv", ROWS)
    with fresh_database("postgresql", tmp_path, request) as one, \
            fresh_database("postgresql", tmp_path, request) as two:
        make_table(one.engine, "items", old_rows(ROWS))
        make_table(two.engine, "items", old_rows(ROWS))
        with Paused(sync_args(source, one.url, "items"), "after_read", tmp_path) as first:
            first.wait_paused()
            proc = run_process(*sync_args(source, two.url, "items"), timeout=120)
            assert "already running" not in proc.stderr, proc.stderr
            assert proc.returncode == 0, proc.stderr
        assert item_rows(two.engine, "items") == new_rows(ROWS)


def test_releasing_on_a_lost_lock_connection_hides_no_error() -> None:
    """A connection lost while the run lock was being taken (MariaDB error 2013) is left
    with an invalid transaction: the release then raised PendingRollbackError, which hid
    the run's TransientTargetError (seen once in tests/test_error_classes.py)."""
    from syncline.locks import _release

    engine = sa.create_engine("sqlite://")
    try:
        conn = engine.connect()
        conn.begin()
        conn.invalidate()  # as a lost connection leaves it
        _release(conn, "SELECT 1", {})  # no error: closing the connection frees the lock
        conn.close()
    finally:
        engine.dispose()
