"""Messages that tell the truth: RELIABILITY.md row 40 (issue 7 item 14).

A run that committed says so, even when its report is cut short by Ctrl-C or by a closed
output pipe (``--diff | head``): exit 0 and a line on stderr. "nothing was written" only
when true. A refused run labels its counts as would-be, never as "Rolled back". Error
listings add up. ``--json`` prints its one object on every outcome.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import warnings
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from conftest import drop_table, engine_url
from helpers import (
    PRODUCT_HEADER,
    Ran,
    count,
    create_products_table,
    products,
    run_cli,
    run_process,
    seed_products,
    syncline_command,
    write_csv,
)


def one_json(proc: Ran) -> dict[str, Any]:
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    assert len(lines) == 1, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    data: dict[str, Any] = json.loads(lines[0])
    assert data["exit_code"] == proc.returncode, data
    return data


def test_closed_output_pipe_after_commit_says_committed(sqlite_engine: sa.Engine,
                                                        table_name: str, tmp_path: Path) -> None:
    """``--diff | head``: the reader is gone before the report; the data IS committed."""
    url = engine_url(sqlite_engine)
    source = write_csv(tmp_path / "items.csv", PRODUCT_HEADER, products(5000))
    try:
        create_products_table(sqlite_engine, table_name)
        read, write = os.pipe()
        os.close(read)  # like `| head` that has already exited
        proc = run_process("sync", str(source), url, "--table", table_name, "--key", "upc",
                           "--diff", stdout=write, stderr=subprocess.PIPE, timeout=120)
        os.close(write)
        assert count(sqlite_engine, table_name) == 5000
        assert proc.returncode == 0, proc.stderr
        assert "committed" in proc.stderr and "output" in proc.stderr, proc.stderr
        assert "nothing was written" not in proc.stderr
        assert "Traceback" not in proc.stderr and "Exception ignored" not in proc.stderr
    finally:
        drop_table(sqlite_engine, table_name)


def test_ctrl_c_after_commit_says_committed_and_before_says_nothing_written(
        sqlite_engine: sa.Engine, table_name: str, tmp_path: Path) -> None:
    url = engine_url(sqlite_engine)
    source = write_csv(tmp_path / "items.csv", PRODUCT_HEADER, products(200))
    args = [*syncline_command(), "sync", str(source), url, "--table", table_name, "--key", "upc"]
    try:
        create_products_table(sqlite_engine, table_name)
        outcomes = {}
        for point in ("after_read", "after_commit"):
            for extra in ([], ["--json"]):
                if point == "after_commit":
                    drop_table(sqlite_engine, table_name)
                    create_products_table(sqlite_engine, table_name)
                marker = tmp_path / f"{point}.pid"
                marker.unlink(missing_ok=True)
                env = dict(os.environ, SYNCLINE_TEST_PAUSE_AT=point,
                           SYNCLINE_TEST_PAUSE_FILE=str(marker),
                           SYNCLINE_TEST_PAUSE_SECONDS="30")
                child = subprocess.Popen([*args, *extra], env=env, stdout=subprocess.PIPE,
                                         stderr=subprocess.PIPE, text=True)
                deadline = time.monotonic() + 30
                while not (marker.exists() and marker.read_text().strip()):
                    assert child.poll() is None and time.monotonic() < deadline
                    time.sleep(0.02)
                child.send_signal(signal.SIGINT)
                stdout, stderr = child.communicate(timeout=30)
                outcomes[point, bool(extra)] = (child.returncode, stdout, stderr)
                if extra:
                    data = one_json(subprocess.CompletedProcess(args, child.returncode,
                                                                stdout, stderr))
                    assert data["committed"] == (point == "after_commit"), data
        code, _, err = outcomes["after_read", False]
        assert code == 130 and "interrupted" in err and "nothing was written" in err, err
        code, _, err = outcomes["after_commit", False]
        assert code == 0, err
        assert "committed" in err and "nothing was written" not in err, err
        assert count(sqlite_engine, table_name) == 200
    finally:
        drop_table(sqlite_engine, table_name)


def test_refused_runs_label_would_be_counts_and_listings_add_up(
        sqlite_engine: sa.Engine, table_name: str, tmp_path: Path) -> None:
    url = engine_url(sqlite_engine)
    rows = products(1500)
    for row in rows[:1200]:
        row[2] = "oops"
    bad = write_csv(tmp_path / "bad.csv", PRODUCT_HEADER, rows)
    good = write_csv(tmp_path / "good.csv", PRODUCT_HEADER, products(30))
    try:
        seed_products(sqlite_engine, table_name, products(3))
        refused = run_cli("sync", str(good), url, "--table", table_name, "--key", "upc",
                          "--max-create", "1")
        assert refused.returncode == 4
        assert "Rolled back" not in refused.stdout, refused.stdout
        assert "Refused" in refused.stdout and "would" in refused.stdout, refused.stdout

        errors = run_cli("sync", str(bad), url, "--table", table_name, "--key", "upc")
        assert errors.returncode == 1
        assert "Rolled back" not in errors.stdout, errors.stdout
        assert "1200 row error(s)" in errors.stderr
        assert errors.stderr.count("  - ") == 20
        assert "... and 1180 more" in errors.stderr, errors.stderr
    finally:
        drop_table(sqlite_engine, table_name)


def test_json_prints_one_object_on_every_outcome(sqlite_engine: sa.Engine, table_name: str,
                                                 tmp_path: Path) -> None:
    url = engine_url(sqlite_engine)
    rows = products(10)
    rows[4][2] = "oops"
    bad = write_csv(tmp_path / "bad.csv", PRODUCT_HEADER, rows)
    good = write_csv(tmp_path / "good.csv", PRODUCT_HEADER, products(10))
    common = [url, "--table", table_name, "--key", "upc", "--json"]
    try:
        seed_products(sqlite_engine, table_name, products(3))
        cases = {
            "missing source": (["sync", str(tmp_path / "nope.csv"), *common], 1),
            "row error": (["sync", str(bad), *common], 1),
            "guard": (["sync", str(good), *common, "--max-create", "1"], 4),
            "unknown table": (["sync", str(good), url, "--table", "nope", "--key", "upc",
                               "--json"], 1),
            "bad url": (["sync", str(good), "nosuchdialect://x/y", "--table", "t", "--key",
                         "upc", "--json"], 1),
            "unknown handler": (["import", "nosuch.module:Job", "--json"], 1),
            "usage": (["sync", str(good), url, "--table", table_name, "--json"], 2),
        }
        for name, (args, code) in cases.items():
            proc = run_cli(*args)
            assert proc.returncode == code, (name, proc.stdout, proc.stderr)
            data = one_json(proc)
            assert data["committed"] is False, name
            error = data["error"]
            assert error and error["message"], (name, data)
            assert {"message", "model", "row", "key", "column", "type"} <= set(error), error
        row_error = one_json(run_cli("sync", str(bad), *common))["error"]
        assert row_error["row"] == 6 and row_error["column"] == "price", row_error
        assert row_error["model"] == table_name
    finally:
        drop_table(sqlite_engine, table_name)


HOSTILE_JOB = '''
from syncline import Handler, Importer


class Boom(Importer):
    table = "item"
    key = ("upc",)
    source_table = "item"

    def normalize_source(self, record):
        raise ValueError("hook failed talking to postgresql://app:Hunter2-secret@db/x")


class Job(Handler):
    importers = [Boom]
'''


def test_json_and_masking_on_unexpected_errors(importable: Path) -> None:
    """User code that fails (an importer hook raising) gives one JSON object; the
    password in the message is masked even under --traceback."""
    tmp_path = importable
    (tmp_path / "hostile_job.py").write_text(HOSTILE_JOB)
    db = tmp_path / "shop.db"
    engine = sa.create_engine(f"sqlite:///{db}")
    seed_products(engine, "item", products(3))
    engine.dispose()
    base = ["import", "hostile_job:Job", "--source", f"sqlite:///{db}",
            "--target", f"sqlite:///{db}"]
    for before in ([], ["--traceback"]):
        with warnings.catch_warnings():
            # the sqlite driver ignores ?password=: a process prints SQLAlchemy's warning and
            # goes on (under pytest, in this process, the warning would be an error)
            warnings.filterwarnings("ignore", "Query string argument", sa.exc.SAWarning)
            proc = run_cli(*before, *base, "--json",
                           "--source", "sqlite:///" + str(db) + "?password=Hunter2-secret",
                           cwd=tmp_path)
        assert proc.returncode == 1, proc.stderr
        assert "Hunter2-secret" not in proc.stdout + proc.stderr
        data = one_json(proc)
        # a hook's failure is a row error with its context (issue 8, item 8)
        assert data["error"]["type"] == "RowErrors", data
        assert data["error"]["errors"][0]["type"] == "HookError", data
        assert "normalize_source raised ValueError" in proc.stderr
        assert "unexpected" not in proc.stderr
        assert ("Traceback" in proc.stderr) == bool(before), proc.stderr
