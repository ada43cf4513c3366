"""The columnar path (engines/arrow_reading.py) against the row path it replaces.

The same CSV file, target table and options go through ``syncline sync`` twice — once
as it runs (CSV read, coerced and staged as Arrow batches) and once with the columnar
path switched off (the row path: per-value rule book, rows staged through the driver) —
each on its own copy of the target. The outcome (exit code, counts, errors with their
row, key, column and value, warnings), the rejects file and the final table must be the
same. Files are small and nasty: bad numbers, decimals with too many places, booleans
that are not, dates that are not, too-long text, empty and blank keys, duplicates,
quoted commas and line breaks inside values, whitespace; with --on-error=skip and
abort, --on-duplicate, --delete, --keep-whitespace.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import drop_table, engine_url
from helpers import run_cli

KEYS = ["a", "b", "c", " a", "d ", "", "  ", "é", "x,y", "k\nl"]
NUMBERS = ["1", " 2 ", "+3", "-4", "5.0", "5.5", "1e3", "1_0", "abc", "", "99999999999",
           "٣"]
PRICES = ["1.5", "415.09", "12.345", "12.340", ".5", "5.", "-0.5", "1,5", "", " 7 ",
          "12345678.9", "1e2"]
FLAGS = ["1", "0", "true", "False", "YES", "n", "on", "2", "maybe", "", " t "]
DAYS = ["2024-01-31", "2024-02-30", "2024-1-5", "", " 2023-12-01 ", "20240101",
        "0001-01-01", "9999-12-31"]
TEXTS = ["x", " padded ", "", "quote \" in", "comma, in", "line\nbreak", "tab\tin",
         "naïve", "ten chars!", "eleven chars"]
#: a datetime column has no Arrow type: its values stay Python values on the columnar path
TIMES = ["2024-01-31 10:00:00", "2024-01-31T10:00:00+02:00", "", "soon", "2024-02-30 10:00",
         " 2024-01-01 ", "2024-03-31 02:30:00.1234567"]
COLUMNS = ("k", "n", "price", "flag", "day", "t", "ts")
TABLE_SQL = ("CREATE TABLE {name} (k VARCHAR(20) PRIMARY KEY, n INTEGER,"
             " price NUMERIC(10,2), flag BOOLEAN, day DATE, t VARCHAR(10){ts})")
TARGET_ROWS = [("a", 1, "1.50", True, "2024-01-31", "x", "2024-01-31 10:00:00"),
               ("b", 2, "2.00", False, None, None, None),
               ("zz", 3, None, None, "2023-12-01", "old", "2020-01-01 00:00:00")]

rows = st.lists(st.tuples(st.sampled_from(KEYS), st.sampled_from(NUMBERS),
                          st.sampled_from(PRICES), st.sampled_from(FLAGS),
                          st.sampled_from(DAYS), st.sampled_from(TEXTS),
                          st.sampled_from(TIMES)),
                min_size=0, max_size=25)
choices = st.fixed_dictionaries({
    "on_error": st.sampled_from(["abort", "skip"]),
    "on_duplicate": st.sampled_from(["error", "first", "last"]),
    "delete": st.booleans(),
    "keep_whitespace": st.booleans(),
    "timed": st.booleans(),
})


def _write(path: Path, body: list[tuple[str, ...]], timed: bool) -> None:
    width = len(COLUMNS) if timed else len(COLUMNS) - 1
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS[:width])
    writer.writerows(r[:width] for r in body)
    path.write_text(out.getvalue(), encoding="utf-8", newline="")


def _target(engine: sa.Engine, name: str, timed: bool = False) -> None:
    drop_table(engine, name)
    width = len(COLUMNS) if timed else len(COLUMNS) - 1
    ts = (", ts DATETIME(6)" if engine.dialect.name in ("mysql", "mariadb")
          else ", ts TIMESTAMP") if timed else ""
    with engine.begin() as conn:
        conn.exec_driver_sql(TABLE_SQL.format(name=name, ts=ts))
        conn.execute(sa.table(name, *(sa.column(c) for c in COLUMNS[:width])).insert(),
                     [dict(zip(COLUMNS[:width], r[:width], strict=True))
                      for r in TARGET_ROWS])


def _table(engine: sa.Engine, name: str) -> list[tuple[Any, ...]]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.exec_driver_sql(f"SELECT * FROM {name} ORDER BY k")]


def _outcome(proc: Any) -> dict[str, Any]:
    import json

    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    data: dict[str, Any] = json.loads(lines[-1])
    data.pop("seconds", None)
    for model in (data.get("models") or {}).values():
        model.pop("seconds", None)
    return {"exit": proc.returncode, "json": data}


@pytest.fixture
def row_path(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A switch: inside ``with row_path():`` the columnar path is off."""
    import contextlib

    import syncline.engines.database as database

    @contextlib.contextmanager
    def off() -> Iterator[None]:
        with monkeypatch.context() as patch:
            patch.setattr(database, "arrow_plan", lambda plan: None)
            yield

    yield off


def _both(engine: sa.Engine, tmp_path: Path, body: list[tuple[str, ...]],
          options: dict[str, Any], row_path: Any, name: str) -> None:
    """Both paths, one after the other, on the same table made afresh (names appear in
    the messages)."""
    source = tmp_path / "in.csv"
    timed = options["timed"]
    _write(source, body, timed)
    results = []
    for columnar in (True, False):
        _target(engine, name, timed)
        rejects = tmp_path / "rejects.csv"
        rejects.unlink(missing_ok=True)
        args = ["sync", str(source), engine_url(engine), "--table", name, "--key", "k",
                f"--on-error={options['on_error']}",
                f"--on-duplicate={options['on_duplicate']}", "--json"]
        if options["on_error"] == "skip":
            args += ["--rejects", str(rejects)]
        if options["delete"]:
            args += ["--delete", "--allow-mass-delete"]
        if options["keep_whitespace"]:
            args.append("--keep-whitespace")
        if columnar:
            proc = run_cli(*args)
        else:
            with row_path():
                proc = run_cli(*args)
        outcome = _outcome(proc)
        outcome["table"] = _table(engine, name)
        outcome["rejects"] = rejects.read_text("utf-8") if rejects.exists() else None
        results.append(outcome)
    columnar_result, row_result = results
    assert columnar_result == row_result


@settings(max_examples=60, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=rows, options=choices)
def test_the_columnar_path_agrees_with_the_row_path_on_sqlite(
        tmp_path: Path, body: list[tuple[str, ...]], options: dict[str, Any],
        row_path: Any) -> None:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'target.db'}")
    try:
        _both(engine, tmp_path, body, options, row_path, "t")
    finally:
        engine.dispose()


@pytest.mark.parametrize("server", ["pg_engine", "mysql_engine"])
@settings(max_examples=12, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=rows, options=choices)
def test_the_columnar_path_agrees_with_the_row_path_on_servers(
        tmp_path: Path, body: list[tuple[str, ...]], options: dict[str, Any],
        row_path: Any, server: str, request: pytest.FixtureRequest) -> None:
    engine = request.getfixturevalue(server)
    try:
        _both(engine, tmp_path, body, options, row_path, "syncline_arrow_path")
    finally:
        drop_table(engine, "syncline_arrow_path")


def test_the_columnar_path_is_taken_for_a_plain_csv_file(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The switch above switches something: a plain file goes the columnar way."""
    import syncline.engines.database as database

    seen: list[int] = []
    original = database.arrow_blocks

    def counting(*args: Any, **kwargs: Any) -> Iterator[Any]:
        for block in original(*args, **kwargs):
            seen.append(len(block))
            yield block

    source = tmp_path / "in.csv"
    _write(source, [("a", "1", "1.5", "1", "2024-01-31", "x", ""),
                    ("q", "2", "2.5", "0", "", "y", "")], False)
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'target.db'}")
    _target(engine, "t")
    monkeypatch.setattr(database, "arrow_blocks", counting)
    proc = run_cli("sync", str(source), engine_url(engine), "--table", "t", "--key", "k")
    assert proc.returncode == 0, proc.stderr
    assert sum(seen) == 2
    assert ("q", 2) in [(r[0], r[1]) for r in _table(engine, "t")]
    engine.dispose()
