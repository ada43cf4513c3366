"""MariaDB stages rows with LOAD DATA LOCAL INFILE: every awkward value must arrive intact,
and a connection that may not use it falls back to executemany with the same result."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa

from conftest import drop_table
from syncline import Handler, Importer, IterableSource, RunOptions

AWKWARD = [
    {"id": 1, "name": "tab\there", "price": Decimal("1.50"), "ok": True},
    {"id": 2, "name": "new\nline and \r return", "price": None, "ok": False},
    {"id": 3, "name": "back\\slash \\N and \\t", "price": Decimal("-0.01"), "ok": None},
    {"id": 4, "name": None, "price": Decimal("99999999.99"), "ok": True},
    {"id": 5, "name": "ünïcödé ✓ 'quotes' \"double\"", "price": Decimal("0"), "ok": False},
]


@pytest.mark.parametrize("local_infile", [True, False])
def test_awkward_values_arrive_intact(mysql_engine: sa.Engine, table_name: str,
                                      local_infile: bool) -> None:
    with mysql_engine.begin() as conn:
        conn.exec_driver_sql(f"CREATE TABLE {table_name} (id INTEGER PRIMARY KEY,"
                             " name VARCHAR(100), price NUMERIC(10,2), ok BOOLEAN)")
    engine = sa.create_engine(mysql_engine.url, connect_args={"local_infile": local_infile})
    try:
        importer = Importer(table=table_name, key=("id",), source=IterableSource(AWKWARD))
        handler = Handler(target_url=engine, importers=[importer])  # type: ignore[arg-type]
        result = handler.run(RunOptions(engine="database"))
        assert result.models[table_name].created == len(AWKWARD)
        with engine.connect() as conn:
            rows = conn.exec_driver_sql(f"SELECT id, name, price, ok FROM {table_name}"
                                        " ORDER BY id").all()
        expected: list[tuple[Any, ...]] = [
            (r["id"], r["name"], r["price"], None if r["ok"] is None else int(r["ok"]))
            for r in AWKWARD]
        assert [tuple(r) for r in rows] == expected
        again = handler.run(RunOptions(engine="database")).models[table_name]
        assert (again.created, again.updated, again.unchanged) == (0, 0, len(AWKWARD))
    finally:
        engine.dispose()
        drop_table(mysql_engine, table_name)
