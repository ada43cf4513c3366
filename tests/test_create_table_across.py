"""``--create-table`` from one database to another creates columns that hold every source
value exactly, or refuses before creating anything (issue 8 item 5)."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa

from conftest import drop_table, engine_url
from helpers import run_cli

LONG = "x" * 69_999 + "é"  # 70,000 characters: more than MariaDB's TEXT holds
AMOUNT = Decimal("123456789012345678901234.123456789")
AT = dt.datetime(2024, 3, 1, 12, 34, 56, 789123, tzinfo=dt.timezone(dt.timedelta(hours=2)))
DOC = {"a": [1, 2.5, "x"], "b": None, "c": {"d": "é"}}


@pytest.fixture
def pg_source(pg_engine: sa.Engine) -> Iterator[str]:
    """A PostgreSQL table with the types that lost data: timestamptz, timestamp(3),
    unconstrained numeric, numeric(12,2), text, varchar without length, jsonb."""
    name = f"src_{uuid.uuid4().hex[:10]}"
    with pg_engine.begin() as conn:
        conn.execute(sa.text(
            f"CREATE TABLE {name} (id integer PRIMARY KEY, at timestamptz, at3 timestamp(3),"
            " amount numeric, price numeric(12,2), body text, label varchar, doc jsonb)"))
        conn.execute(sa.text(
            f"INSERT INTO {name} VALUES (1, :at, :at3, :amount, 1234567890.12, :body,"
            " 'héllo', CAST(:doc AS jsonb)), (2, NULL, NULL, NULL, NULL, NULL, NULL, NULL)"),
            {"at": AT, "at3": dt.datetime(2024, 3, 1, 12, 34, 56, 789000), "amount": AMOUNT,
             "body": LONG, "doc": json.dumps(DOC)})
    yield name
    drop_table(pg_engine, name)


def _sync(source: str, target: str, table: str, *more: str, source_table: str | None = None
          ) -> tuple[int, dict[str, object]]:
    reading = () if "--source-query" in more else ("--source-table", source_table or table)
    done = run_cli("sync", source, target, "--table", table, "--key", "id", *reading,
                   "--create-table", "--json", *more)
    assert "Traceback" not in done.stderr, done.stderr
    return done.returncode, json.loads(done.stdout.strip().splitlines()[-1])


def _counts(result: dict[str, object], table: str) -> tuple[int, int, int]:
    model = result["models"][table]  # type: ignore[index]
    return model["created"], model["updated"], model["unchanged"]


def _rows(engine: sa.Engine, table: str) -> dict[int, tuple[object, ...]]:
    with engine.connect() as conn:
        return {r[0]: tuple(r[1:]) for r in conn.execute(sa.text(
            f"SELECT id, at, at3, amount, price, body, label, doc FROM {table}"))}


def test_postgresql_to_mariadb(pg_engine: sa.Engine, mysql_engine: sa.Engine,
                               pg_source: str) -> None:
    target = f"dst_{uuid.uuid4().hex[:10]}"
    try:
        code, result = _sync(engine_url(pg_engine), engine_url(mysql_engine), target,
                             source_table=pg_source)
        assert code == 0, result
        assert _counts(result, target) == (2, 0, 0)
        rows = _rows(mysql_engine, target)
        at, at3, amount, price, body, label, doc = rows[1]
        # the instant, in UTC (the default --zone), with every fraction digit
        assert at == AT.astimezone(dt.UTC).replace(tzinfo=None)
        assert at3 == dt.datetime(2024, 3, 1, 12, 34, 56, 789000)
        assert Decimal(amount) == AMOUNT  # type: ignore[arg-type]
        assert price == Decimal("1234567890.12")
        assert body == LONG and label == "héllo"
        assert json.loads(doc) == DOC  # type: ignore[arg-type]
        assert rows[2] == (None,) * 7
        code, again = _sync(engine_url(pg_engine), engine_url(mysql_engine), target,
                            source_table=pg_source)
        assert code == 0, again
        assert _counts(again, target) == (0, 0, 2)
    finally:
        drop_table(mysql_engine, target)


def test_postgresql_to_sqlite(pg_engine: sa.Engine, pg_source: str, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'target.db'}"
    target = "copied"
    code, result = _sync(engine_url(pg_engine), url, target, source_table=pg_source)
    # SQLite stores a decimal of more than 15 digits as a float: refused, nothing created
    assert code == 1, result
    message = str(result["error"]["message"])  # type: ignore[index]
    assert result["error"]["type"] == "ConfigError", result  # type: ignore[index]
    assert "'amount' (NUMERIC)" in message, message
    engine = sa.create_engine(url)
    try:
        assert not sa.inspect(engine).has_table(target)
        query = ("SELECT id, at, at3, 0 AS amount, price, body, label, doc"
                 f" FROM {pg_source}")
        code, result = _sync(engine_url(pg_engine), url, target, "--source-query", query)
        assert code == 0, result
        assert _counts(result, target) == (2, 0, 0)
        with engine.connect() as conn:
            row = conn.execute(sa.text(
                f"SELECT at, at3, price, body, label, doc FROM {target} WHERE id = 1")).one()
        assert str(row[0]).startswith("2024-03-01 10:34:56.789123")
        assert str(row[1]).startswith("2024-03-01 12:34:56.789")
        assert Decimal(str(row[2])) == Decimal("1234567890.12")
        assert row[3] == LONG and row[4] == "héllo" and json.loads(row[5]) == DOC
        code, again = _sync(engine_url(pg_engine), url, target, "--source-query", query)
        assert code == 0 and _counts(again, target) == (0, 0, 2), again
    finally:
        engine.dispose()


def test_mariadb_to_postgresql(mysql_engine: sa.Engine, pg_engine: sa.Engine) -> None:
    source = f"src_{uuid.uuid4().hex[:10]}"
    target = f"dst_{uuid.uuid4().hex[:10]}"
    with mysql_engine.begin() as conn:
        conn.execute(sa.text(
            f"CREATE TABLE {source} (id INT PRIMARY KEY, at DATETIME(6), amount DECIMAL(65,30),"
            " big BIGINT UNSIGNED, body LONGTEXT, label VARCHAR(20), flag TINYINT(1),"
            " doc JSON)"))
        conn.execute(sa.text(
            f"INSERT INTO {source} VALUES (1, '2024-03-01 12:34:56.789123',"
            " 12345678901234567890123456789012345.123456789012345678901234567891,"
            " 18446744073709551615, :body, 'héllo', 1, :doc),"
            " (2, NULL, NULL, NULL, NULL, NULL, NULL, NULL)"),
            {"body": LONG, "doc": json.dumps(DOC)})
    try:
        code, result = _sync(engine_url(mysql_engine), engine_url(pg_engine), target,
                             source_table=source)
        assert code == 0, result
        assert _counts(result, target) == (2, 0, 0)
        with pg_engine.connect() as conn:
            row = conn.execute(sa.text(
                f"SELECT at, amount, big, body, label, flag FROM {target} WHERE id = 1")).one()
        assert row[0] == dt.datetime(2024, 3, 1, 12, 34, 56, 789123)
        assert row[1] == Decimal(
            "12345678901234567890123456789012345.123456789012345678901234567891")
        assert row[2] == 18446744073709551615
        assert row[3] == LONG and row[4] == "héllo" and row[5] in (True, 1)
        code, again = _sync(engine_url(mysql_engine), engine_url(pg_engine), target,
                            source_table=source)
        assert code == 0 and _counts(again, target) == (0, 0, 2), again
    finally:
        drop_table(pg_engine, target)
        drop_table(mysql_engine, source)


def test_a_type_the_target_lacks_is_refused_before_creating(pg_engine: sa.Engine,
                                                            mysql_engine: sa.Engine) -> None:
    source = f"src_{uuid.uuid4().hex[:10]}"
    target = f"dst_{uuid.uuid4().hex[:10]}"
    with pg_engine.begin() as conn:
        conn.execute(sa.text(f"CREATE TABLE {source} (id integer PRIMARY KEY, tags text[],"
                             " wide numeric(80,2))"))
        conn.execute(sa.text(f"INSERT INTO {source} VALUES (1, ARRAY['a'], 1.5)"))
    try:
        code, result = _sync(engine_url(pg_engine), engine_url(mysql_engine), target,
                             source_table=source)
        assert code == 1, result
        message = str(result["error"]["message"])  # type: ignore[index]
        assert result["error"]["type"] == "ConfigError", result  # type: ignore[index]
        assert "'tags' (TEXT[])" in message and "nothing was created" in message, message
        assert not sa.inspect(mysql_engine).has_table(target)
    finally:
        drop_table(mysql_engine, target)
        drop_table(pg_engine, source)


def test_csv_text_longer_than_mariadb_text(mysql_engine: sa.Engine, tmp_path: Path) -> None:
    """An inferred text column becomes LONGTEXT on MariaDB: 70,000 characters fit."""
    from helpers import write_csv

    csv_path = write_csv(tmp_path / "long.csv", ["id", "body"], [[1, LONG], [2, "short"]])
    target = f"dst_{uuid.uuid4().hex[:10]}"
    try:
        done = run_cli("sync", str(csv_path), engine_url(mysql_engine), "--table", target,
                       "--key", "id", "--create-table", "--json")
        assert done.returncode == 0, done.stdout + done.stderr
        with mysql_engine.connect() as conn:
            assert conn.execute(sa.text(f"SELECT body FROM {target} WHERE id = 1")
                                ).scalar() == LONG
    finally:
        drop_table(mysql_engine, target)
