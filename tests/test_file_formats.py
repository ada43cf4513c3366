"""JSON Lines, Parquet and spreadsheet sources (issue 14, item 2): typed values and NULLs
land exactly, a re-sync finds nothing to change, bad cells are named with their row and
column, and malformed files are refused with their line."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from conftest import engine_url
from helpers import run_cli, run_json

ROWS: list[dict[str, Any]] = [
    {"upc": 1, "name": " padded ", "price": Decimal("415.09"), "day": dt.date(2024, 1, 2)},
    {"upc": 2, "name": "plain", "price": Decimal("3.00"), "day": None},
    {"upc": 3, "name": None, "price": Decimal("0.10"), "day": dt.date(1999, 12, 31)},
]


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    with open(path, "w") as f:
        for r in rows:
            f.write(json.dumps(r, default=str).replace('"415.09"', "415.09") + "\n")
    return path


def write_xlsx(path: Path, rows: list[dict[str, Any]], sheet: str = "Items") -> Path:
    import openpyxl

    book = openpyxl.Workbook()
    ws = book.active
    assert ws is not None
    ws.title = sheet
    ws.append(list(rows[0]))
    for r in rows:
        ws.append([float(v) if isinstance(v, Decimal) else v for v in r.values()])
    book.create_sheet("Other").append(["nothing"])
    book.save(path)
    return path


def write_parquet(path: Path, rows: list[dict[str, Any]]) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table({
        "upc": pa.array([r["upc"] for r in rows], pa.int64()),
        "name": pa.array([r["name"] for r in rows], pa.string()),
        "price": pa.array([r["price"] for r in rows], pa.decimal128(10, 2)),
        "day": pa.array([r["day"] for r in rows], pa.date32()),
    })
    pq.write_table(table, path)
    return path


WRITERS = {"jsonl": write_jsonl, "xlsx": write_xlsx, "parquet": write_parquet}


def make_items(engine: sa.Engine, table: str) -> None:
    with engine.begin() as conn:
        conn.execute(sa.text(f"CREATE TABLE {table} (upc INTEGER PRIMARY KEY,"
                             " name VARCHAR(40), price NUMERIC(10,2), day DATE)"))


def items(engine: sa.Engine, table: str) -> list[tuple[Any, ...]]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(sa.text(
            f"SELECT upc, name, price, day FROM {table} ORDER BY upc"))]


@pytest.mark.parametrize("kind", list(WRITERS))
def test_typed_values_land_exactly_and_resync_is_quiet(kind: str, tmp_path: Path,
                                                       any_engine: sa.Engine,
                                                       table_name: str) -> None:
    path = WRITERS[kind](tmp_path / f"items.{kind}", ROWS)
    make_items(any_engine, table_name)
    try:
        url = engine_url(any_engine)
        first = run_json("sync", str(path), url, "--table", table_name, "--key", "upc",
                         "--json")
        assert first["models"][table_name]["created"] == 3
        got = items(any_engine, table_name)
        assert [(r[0], r[1]) for r in got] == [(1, " padded "), (2, "plain"), (3, None)]
        assert [Decimal(str(r[2])).quantize(Decimal("0.01")) for r in got] == [
            Decimal("415.09"), Decimal("3.00"), Decimal("0.10")]
        assert [None if r[3] is None else str(r[3])[:10] for r in got] == [
            "2024-01-02", None, "1999-12-31"]
        again = run_json("sync", str(path), url, "--table", table_name, "--key", "upc",
                         "--json")
        counts = again["models"][table_name]
        assert (counts["created"], counts["updated"], counts["unchanged"]) == (0, 0, 3)
    finally:
        with any_engine.begin() as conn:
            conn.execute(sa.text(f"DROP TABLE {table_name}"))


@pytest.mark.parametrize("kind", list(WRITERS))
def test_a_bad_cell_is_named_with_row_and_column(kind: str, tmp_path: Path) -> None:
    bad = [dict(r) for r in ROWS]
    path = tmp_path / f"items.{kind}"
    if kind == "parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        pq.write_table(pa.table({"upc": [1, 2], "price": ["1.50", "lots"]}), path)
        where = "row 2"
    elif kind == "jsonl":
        bad[1]["price"] = "lots"
        write_jsonl(path, bad)
        where = "row 2"  # the line number
    else:
        bad[1]["price"] = "lots"
        write_xlsx(path, bad)
        where = "row 3"  # the sheet's own numbering: the header is row 1
    target = tmp_path / "shop.db"
    engine = sa.create_engine(f"sqlite:///{target}")
    make_items(engine, "items")
    ran = run_cli("sync", str(path), f"sqlite:///{target}", "--table", "items", "--key", "upc")
    assert ran.returncode != 0
    assert where in ran.stderr and "price" in ran.stderr and "lots" in ran.stderr, ran.stderr
    assert items(engine, "items") == []  # nothing written
    engine.dispose()


def test_jsonl_refuses_drift_bad_lines_and_a_cut_last_line(tmp_path: Path) -> None:
    target = tmp_path / "shop.db"
    engine = sa.create_engine(f"sqlite:///{target}")
    make_items(engine, "items")
    url = f"sqlite:///{target}"
    cases = {
        '{"upc": 1, "price": 1}\n{"upc": 2}\n': ("line 2", "lacks field 'price'"),
        '{"upc": 1, "price": 1}\n{"upc": 2, "price": 1, "colour": "red"}\n':
            ("line 2", "field 'colour'"),
        '{"upc": 1, "price": 1}\n{"upc": 2, "price": \n': ("line 2", "not JSON"),
        '{"upc": 1, "price": 1}\n[2, 1]\n': ("line 2", "not an object"),
        # a field given twice: JSON parsers keep the last one silently
        '{"upc": 1, "price": 1}\n{"upc": 2, "price": 1, "price": 9}\n':
            ("line 2", "field 'price' twice"),
        '{"upc": 1, "price": 1}\n{"upc": 2, "price": 1}': ("line 2", "no line break"),
    }
    for text, needles in cases.items():
        path = tmp_path / "items.jsonl"
        path.write_text(text)
        ran = run_cli("sync", str(path), url, "--table", "items", "--key", "upc")
        assert ran.returncode != 0, text
        for needle in needles:
            assert needle in ran.stderr, (text, ran.stderr)
    assert items(engine, "items") == []
    engine.dispose()


def test_sheet_and_format_options(tmp_path: Path) -> None:
    target = tmp_path / "shop.db"
    engine = sa.create_engine(f"sqlite:///{target}")
    make_items(engine, "items")
    url = f"sqlite:///{target}"
    book = write_xlsx(tmp_path / "book.xlsx", ROWS, sheet="Prices")
    ran = run_cli("sync", str(book), url, "--table", "items", "--key", "upc",
                  "--sheet", "Nope")
    assert ran.returncode != 0 and "no sheet 'Nope'" in ran.stderr
    assert "Prices, Other" in ran.stderr
    run_cli("sync", str(book), url, "--table", "items", "--key", "upc", "--sheet", "Prices",
            check=True)
    assert len(items(engine, "items")) == 3
    # a JSON Lines file with another extension, by --format
    odd = write_jsonl(tmp_path / "export.txt", ROWS[:1])
    ran = run_json("sync", str(odd), url, "--table", "items", "--key", "upc",
                   "--format", "jsonl", "--json")
    assert ran["models"]["items"]["unchanged"] == 1
    ran = run_cli("sync", str(odd), url, "--table", "items", "--key", "upc", "--sheet", "x",
                  "--format", "jsonl")
    assert ran.returncode != 0 and "--sheet is for spreadsheets" in ran.stderr
    engine.dispose()


def test_spreadsheet_header_must_be_named_and_unique(tmp_path: Path) -> None:
    import openpyxl

    target = tmp_path / "shop.db"
    engine = sa.create_engine(f"sqlite:///{target}")
    make_items(engine, "items")
    for header, needle in ((["upc", "price", "upc"], "duplicate column names: 'upc'"),
                           (["upc", None, "price"], "empty or non-text column name")):
        book = openpyxl.Workbook()
        ws = book.active
        assert ws is not None
        ws.append(header)
        ws.append([1, 2, 3])
        book.save(tmp_path / "h.xlsx")
        ran = run_cli("sync", str(tmp_path / "h.xlsx"), f"sqlite:///{target}", "--table",
                      "items", "--key", "upc")
        assert ran.returncode != 0 and needle in ran.stderr, ran.stderr
    engine.dispose()


def test_not_a_parquet_or_workbook_file(tmp_path: Path) -> None:
    target = tmp_path / "shop.db"
    engine = sa.create_engine(f"sqlite:///{target}")
    make_items(engine, "items")
    for name in ("items.parquet", "items.xlsx"):
        (tmp_path / name).write_text("upc,price\n1,2\n")
        ran = run_cli("sync", str(tmp_path / name), f"sqlite:///{target}", "--table", "items",
                      "--key", "upc")
        assert ran.returncode != 0
        assert "not a readable" in ran.stderr and "Traceback" not in ran.stderr, ran.stderr
    engine.dispose()
