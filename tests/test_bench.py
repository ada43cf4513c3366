"""The benchmark at a tiny N, so that bench/ cannot rot: data, references, syncline, checks."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa

from conftest import engine_url

BENCH = Path(__file__).resolve().parent.parent / "bench"
sys.path.insert(0, str(BENCH))

import generate  # noqa: E402
import targets  # noqa: E402

ROWS = 200


def _read(path: Path) -> dict[str, list[str]]:
    with path.open(newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        assert next(reader) == list(generate.HEADER)
        return {row[0]: row for row in reader}


def test_generator_makes_exactly_the_changes_it_announces(tmp_path: Path) -> None:
    meta = generate.generate(ROWS, tmp_path / "a", seed=7)
    v1, v2 = _read(tmp_path / "a" / "v1.csv"), _read(tmp_path / "a" / "v2.csv")
    assert (meta.v1_rows, meta.v2_rows) == (len(v1), len(v2)) == (200, 200)
    assert len(v2.keys() - v1.keys()) == meta.created == 1
    assert len(v1.keys() - v2.keys()) == meta.deleted == 1
    changed = [k for k in v1.keys() & v2.keys() if v1[k] != v2[k]]
    assert len(changed) == meta.updated == 2
    assert all(sum(a != b for a, b in zip(v1[k], v2[k], strict=True)) == 1 for k in changed)
    keys = list(v1)
    assert keys != sorted(keys)  # a realistic, unsorted export
    assert all(len(k) == 12 and k.isdigit() for k in keys)
    for row in v1.values():
        Decimal(row[2])
        assert 1 <= int(row[3]) <= 50 and row[4] in ("0", "1")

    again = generate.generate(ROWS, tmp_path / "b", seed=7)
    assert again == meta
    for name in ("v1.csv", "v2.csv"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    other = generate.generate(ROWS, tmp_path / "c", seed=8)
    assert (tmp_path / "c" / "v1.csv").read_bytes() != (tmp_path / "a" / "v1.csv").read_bytes()
    assert other.updated == meta.updated


def test_verification_catches_every_kind_of_difference() -> None:
    expected = {"1": ("a", Decimal("1.50"), 3, True), "2": ("b", Decimal("2.00"), 4, False)}
    assert targets.compare(expected, [("1", "a", 1.5, 3, 1), ("2", "b", "2", "4", "0")]) is None
    assert "1 missing" in (targets.compare(expected, [("1", "a", 1.5, 3, 1)]) or "")
    extra = [("1", "a", 1.5, 3, 1), ("2", "b", 2, 4, 0), ("3", "c", 1, 1, 1)]
    assert "1 extra" in (targets.compare(expected, extra) or "")
    for bad in [
        ("2", "B", 2, 4, 0),
        ("2", "b", 2.01, 4, 0),
        ("2", "b", 2, 5, 0),
        ("2", "b", 2, 4, 1),
    ]:
        assert "1 differ" in (targets.compare(expected, [("1", "a", 1.5, 3, 1), bad]) or "")


def _bench(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> dict:
    out = tmp_path / "result.json"
    argv = [sys.executable, str(BENCH / "run.py"), "--rows", str(ROWS), "--workdir", str(tmp_path)]
    proc = subprocess.run(
        [*argv, "--json", str(out), *args],
        capture_output=True,
        text=True,
        env=os.environ | (env or {}),
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    document = json.loads(out.read_text())
    assert not document["failures"]
    assert all(row["ok"] for row in document["results"]), proc.stdout
    return document


def _assert_syncline_counts(document: dict) -> None:
    expected = document["expected"]
    by_scenario = {}
    for row in document["results"]:
        assert row["syncline"]["verified"] and row["reference"]["verified"]
        by_scenario.setdefault(row["scenario"], []).append(row["syncline"]["counts"])
    assert set(by_scenario) == {"initial", "nochange", "v2"}
    for counts in by_scenario["initial"]:
        assert counts["created"] == expected["v1_rows"]
    for counts in by_scenario["nochange"]:
        assert counts["unchanged"] == expected["v1_rows"]
        assert counts["created"] == counts["updated"] == counts["deleted"] == 0
    for counts in by_scenario["v2"]:
        got = (counts["created"], counts["updated"], counts["deleted"])
        assert got == (expected["created"], expected["updated"], expected["deleted"])


def test_bench_sqlite_csv(tmp_path: Path, table_name: str) -> None:
    document = _bench(
        tmp_path,
        *("--targets", "sqlite", "--sources", "csv", "--table", table_name),
        *("--startup-tries", "1"),
    )
    assert len(document["results"]) == 3
    assert document["startup_seconds"] > 0
    _assert_syncline_counts(document)


def test_bench_references_on_servers(
    tmp_path: Path, table_name: str, pg_engine: sa.Engine, mysql_engine: sa.Engine
) -> None:
    env = {
        "SYNCLINE_BENCH_POSTGRES_URL": engine_url(pg_engine),
        "SYNCLINE_BENCH_MYSQL_URL": engine_url(mysql_engine),
    }
    document = _bench(
        tmp_path,
        *("--no-syncline", "--targets", "postgresql,mysql", "--sources", "csv,sql"),
        *("--startup-tries", "0"),
        *("--table", table_name),
        env=env,
    )
    assert len(document["results"]) == 12
    assert all(row["reference"]["verified"] for row in document["results"])


def test_bench_postgresql_target_and_sql_source(
    tmp_path: Path, table_name: str, pg_engine: sa.Engine
) -> None:
    """One run covers both: the source is a PostgreSQL table, the target PostgreSQL."""
    env = {"SYNCLINE_BENCH_POSTGRES_URL": engine_url(pg_engine)}
    document = _bench(
        tmp_path,
        *("--targets", "postgresql", "--sources", "sql", "--table", table_name),
        *("--startup-tries", "0"),
        env=env,
    )
    _assert_syncline_counts(document)


@pytest.mark.parametrize("flag", ["--targets=oracle", "--sources=xlsx"])
def test_bench_rejects_unknown_names(tmp_path: Path, flag: str) -> None:
    proc = subprocess.run(
        [sys.executable, str(BENCH / "run.py"), "--rows", "10", "--workdir", str(tmp_path), flag],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode != 0 and "unknown" in proc.stderr
