"""Text case on a target that compares text case-insensitively (MariaDB's default collation).

The key 'abc' matches the source's 'ABC' (the database says they are one key), and the
target must end up spelled as the source; a value that changes only in case is a change.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from conftest import drop_table, engine_url
from helpers import run_json, write_csv


@pytest.mark.parametrize("engine", ["memory", "database"])
def test_case_only_changes_converge(mysql_engine: sa.Engine, table_name: str, tmp_path: Path,
                                    engine: str) -> None:
    with mysql_engine.begin() as conn:
        conn.exec_driver_sql(f"CREATE TABLE {table_name} (code VARCHAR(10) PRIMARY KEY,"
                             " name VARCHAR(20))")
        conn.exec_driver_sql(f"INSERT INTO {table_name} VALUES ('abc', 'apple'), ('x', 'same')")
    source = write_csv(tmp_path / "s.csv", ["code", "name"], [["ABC", "Apple"], ["x", "same"]])
    args = ["sync", str(source), engine_url(mysql_engine), "--table", table_name,
            "--key", "code", "--delete", "--engine", engine]
    try:
        first = run_json(*args)["models"][table_name]
        assert (first["created"], first["updated"], first["deleted"]) == (0, 1, 0)
        with mysql_engine.connect() as conn:
            rows = conn.exec_driver_sql(f"SELECT code, name FROM {table_name} ORDER BY code")
            assert [tuple(r) for r in rows] == [("ABC", "Apple"), ("x", "same")]
        again = run_json(*args)["models"][table_name]
        assert (again["created"], again["updated"], again["deleted"]) == (0, 0, 0)
    finally:
        drop_table(mysql_engine, table_name)
