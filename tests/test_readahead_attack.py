"""Attacks on the columnar path's read-ahead thread and its Python-valued columns."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from conftest import drop_table, engine_url
from helpers import read_rejects, run_cli, syncline_command

BENCH = Path("/tmp/syncline-bench/data-1000000-42/v1.csv")
PRODUCTS = ("CREATE TABLE {t} (upc varchar(32) primary key, description varchar(200),"
            " price numeric(10,2), department integer, active boolean)")


def _table(engine: sa.Engine, name: str, ddl: str) -> None:
    drop_table(engine, name)
    with engine.begin() as conn:
        conn.exec_driver_sql(ddl.format(t=name))


def _rows(engine: sa.Engine, name: str) -> list[tuple[Any, ...]]:
    with engine.connect() as conn:
        return sorted((tuple(r) for r in conn.exec_driver_sql(f"SELECT * FROM {name}")),
                      key=repr)


def _no_reader() -> bool:
    return not [t for t in threading.enumerate() if t.name == "syncline-read-ahead"]


def test_ctrl_c_mid_load_data_on_mariadb_exits_130_not_the_rollbacks_error(
        mysql_engine: sa.Engine, tmp_path: Path, table_name: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Ctrl-C inside LOAD DATA breaks pymysql's connection; the rollback in
    session.close() then raised InterfaceError(0, ''), which replaced the interrupt:
    exit 1 "unexpected InterfaceError" instead of 130 (seen with SIGINT on a 1M-row file).
    Fixed in Handler.run: the run's own error is the one reported."""
    import syncline.targets.staging as staging

    _table(mysql_engine, table_name, PRODUCTS)
    src = tmp_path / "p.csv"
    src.write_text("upc,description,price,department,active\n"
                   + "".join(f"{i},d{i},1.00,1,1\n" for i in range(100)))

    def broken(session: Any, *args: Any, **kwargs: Any) -> bool:
        session.conn.connection.driver_connection._force_close()  # what Ctrl-C leaves
        raise KeyboardInterrupt

    monkeypatch.setattr(staging, "load_arrow", broken)
    done = run_cli("sync", str(src), engine_url(mysql_engine), "--table", table_name,
                   "--key", "upc")
    assert done.returncode == 130, done.stderr
    assert "nothing was written" in done.stderr
    assert "InterfaceError" not in done.stderr
    assert _rows(mysql_engine, table_name) == []
    assert _no_reader()
    drop_table(mysql_engine, table_name)


@pytest.mark.skipif(not BENCH.exists(), reason="the 1M-row bench file is not there")
@pytest.mark.parametrize("kind", ["postgresql", "mysql"])
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_mid_run_writes_nothing_and_exits_promptly(
        kind: str, sig: signal.Signals, request: pytest.FixtureRequest,
        table_name: str) -> None:
    engine: sa.Engine = request.getfixturevalue(
        "pg_engine" if kind == "postgresql" else "mysql_engine")
    _table(engine, table_name, PRODUCTS)
    with engine.begin() as conn:
        conn.exec_driver_sql(f"INSERT INTO {table_name} VALUES ('x', 'old', 1.00, 1, true)")
    env = {k: v for k, v in os.environ.items() if not k.startswith("SYNCLINE_TEST_PAUSE")}
    child = subprocess.Popen([*syncline_command(), "sync", str(BENCH), engine_url(engine),
                              "--table", table_name, "--key", "upc"], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(1.2)  # reading and staging, the reader thread a batch ahead
    sent = time.monotonic()
    child.send_signal(sig)
    _, err = child.communicate(timeout=20)
    assert time.monotonic() - sent < 5, "the read-ahead thread held the process up"
    if sig == signal.SIGINT:
        assert child.returncode == 130, err
        assert "nothing was written" in err
    else:
        assert child.returncode == -signal.SIGTERM
    assert [(r[0], r[1]) for r in _rows(engine, table_name)] == [("x", "old")]
    drop_table(engine, table_name)


def test_a_staging_error_mid_file_stops_the_reader_and_is_the_one_reported(
        sqlite_engine: sa.Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import syncline.targets.staging as staging

    _table(sqlite_engine, "p", PRODUCTS)
    src = tmp_path / "p.csv"
    src.write_text("upc,description,price,department,active\n"
                   + "".join(f"{i},d{i},1.00,1,1\n" for i in range(300_000)))
    real, calls = staging.load_arrow, []

    def second_fails(*args: Any, **kwargs: Any) -> bool:
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("the disk is full (staging)")
        return real(*args, **kwargs)

    monkeypatch.setattr(staging, "load_arrow", second_fails)
    done = run_cli("sync", str(src), engine_url(sqlite_engine), "--table", "p",
                   "--key", "upc", "--json")
    assert done.returncode == 1
    assert "the disk is full (staging)" in json.loads(done.stdout)["error"]["message"]
    assert len(calls) == 2  # nothing staged after the failure
    assert _no_reader()
    assert _rows(sqlite_engine, "p") == []


def test_a_bad_line_deep_in_the_file_fails_the_run_and_writes_nothing(
        sqlite_engine: sa.Engine, tmp_path: Path) -> None:
    _table(sqlite_engine, "p", PRODUCTS)
    lines = [f"{i},d{i},1.00,1,1\n" for i in range(200_000)]
    lines[150_000] = "150000,too,many,fields,here,and,more\n"
    src = tmp_path / "p.csv"
    src.write_text("upc,description,price,department,active\n" + "".join(lines))
    done = run_cli("sync", str(src), engine_url(sqlite_engine), "--table", "p",
                   "--key", "upc", "--json")
    assert done.returncode == 1, done.stdout
    error = json.loads(done.stdout)["error"]
    assert "150002" in json.dumps(error)  # names the line (header is line 1)
    assert _rows(sqlite_engine, "p") == []
    assert _no_reader()


def _both_paths(monkeypatch: pytest.MonkeyPatch, engine: sa.Engine, ddl: str, body: str,
                tmp_path: Path, *args: str) -> list[tuple[int, Any, Any, str]]:
    import syncline.engines.database as database

    src = tmp_path / "in.csv"
    src.write_text(body, encoding="utf-8")
    out = []
    for columnar in (True, False):
        if not columnar:
            monkeypatch.setattr(database, "arrow_plan", lambda plan: None)
        _table(engine, "atk2_cmp", ddl)
        rejects = tmp_path / f"rejects-{columnar}.csv"
        skip = ["--rejects", str(rejects)] if "skip" in args else []
        done = run_cli("sync", str(src), engine_url(engine), "--table", "atk2_cmp",
                       "--key", "k", "--json", "--max-rejected", "100%", *skip, *args)
        result = json.loads(done.stdout)
        result.pop("seconds", None)
        for model in result["models"].values():
            model.pop("seconds", None)
        out.append((done.returncode, result, _rows(engine, "atk2_cmp"),
                    rejects.read_text() if rejects.exists() else ""))
        drop_table(engine, "atk2_cmp")
    return out


def test_rejects_spread_across_batches_match_the_row_path(
        sqlite_engine: sa.Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rows = []
    for i in range(120_000):
        price = "oops" if i % 9973 == 5 else "1.00"
        key = "" if i % 15013 == 7 else str(i)
        rows.append(f"{key},d{i},{price},1,1\n")
    body = "k,description,price,department,active\n" + "".join(rows)
    ddl = PRODUCTS.replace("upc", "k")
    columnar, by_row = _both_paths(monkeypatch, sqlite_engine, ddl, body, tmp_path,
                                   "--on-error", "skip")
    assert columnar == by_row
    assert columnar[0] == 0
    rejected = read_rejects(tmp_path / "rejects-True.csv")
    assert len(rejected) == 13 + 8
    # in file order on both paths, whatever rejected the row (a bad value, an empty key)
    lines = [int(r["row"]) for r in rejected]
    assert lines == sorted(lines)


TYPES = {
    "ts": {"sqlite": "timestamp", "postgresql": "timestamp", "mysql": "datetime(6)"},
    "uuid": {"sqlite": "varchar(36)", "postgresql": "uuid", "mysql": "uuid"},
}
BODIES = {
    "ts": ("k,v\n2024-01-01 10:00:00,a\n,b\nsoon,c\n2024-01-01 10:00:00,d\n"
           "2024-02-30 00:00,e\n 2024-03-01 ,f\nNULL,g\n2024-01-01T10:00:00+02:00,h\n"),
    "uuid": ("k,v\n6f1c3f0e-3b7a-4a53-9f3d-2a9c9b8e7d61,a\n,b\nnot-a-uuid,c\n"
             "6F1C3F0E-3B7A-4A53-9F3D-2A9C9B8E7D61,d\nNULL,e\n  ,f\n"
             "{12345678-1234-5678-1234-567812345678},g\n"),
}


@pytest.mark.parametrize("key_type", ["ts", "uuid"])
@pytest.mark.parametrize("args", [(), ("--on-error", "skip", "--null", "NULL"),
                                  ("--on-error", "skip", "--on-duplicate", "last")])
def test_a_python_valued_key_matches_the_row_path(
        any_engine: sa.Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        key_type: str, args: tuple[str, ...]) -> None:
    ddl = f"CREATE TABLE {{t}} (k {TYPES[key_type][any_engine.dialect.name]} primary key," \
          " v varchar(5))"
    columnar, by_row = _both_paths(monkeypatch, any_engine, ddl, BODIES[key_type],
                                   tmp_path, *args)
    assert columnar == by_row
    assert columnar[0] in (0, 1)
