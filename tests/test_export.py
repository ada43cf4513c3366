"""``syncline export``: a file as the target (docs/exporters.md, issue 12 items 3-4)."""

from __future__ import annotations

import csv
import json
import sys
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
import sqlalchemy as sa

from conftest import drop_table, engine_url
from helpers import Paused, report, run_cli, run_json

COLUMNS = ("upc", "name", "qty", "price", "active", "sold_at", "born")
ROWS: list[tuple[Any, ...]] = [
    ("b2", "Banana", 3, Decimal("12.50"), True, datetime(2024, 1, 2, 10, 30), date(2020, 1, 1)),
    ("a1", "Apple", -5, Decimal("0.99"), False, None, None),
    ("c3", "Cherry, \"red\"", None, None, None, datetime(2023, 12, 31, 23, 59, 59),
     date(1999, 12, 31)),
]
FORMATS = ("csv", "jsonl", "xlsx", "parquet")


def make_products(engine: sa.Engine, name: str, rows: list[tuple[Any, ...]]) -> sa.Table:
    table = sa.Table(
        name, sa.MetaData(),
        sa.Column("upc", sa.String(20), primary_key=True), sa.Column("name", sa.Text),
        sa.Column("qty", sa.Integer), sa.Column("price", sa.Numeric(10, 2)),
        sa.Column("active", sa.Boolean), sa.Column("sold_at", sa.DateTime),
        sa.Column("born", sa.Date))
    with engine.begin() as conn:
        table.drop(conn, checkfirst=True)
        table.create(conn)
        if rows:
            conn.execute(table.insert(), [dict(zip(COLUMNS, r, strict=True)) for r in rows])
    return table


def execute(engine: sa.Engine, statement: Any) -> None:
    with engine.begin() as conn:
        conn.execute(statement)


@pytest.fixture
def shop(sqlite_engine: sa.Engine) -> Iterator[tuple[sa.Engine, sa.Table]]:
    yield sqlite_engine, make_products(sqlite_engine, "products", ROWS)


def export(engine: sa.Engine, dest: Path, *args: str, expect: int = 0) -> dict[str, Any]:
    data = run_json("export", engine_url(engine), str(dest), "--source-table", "products",
                    "--key", "upc", *args, expect=expect)
    return data


def counts(data: dict[str, Any]) -> dict[str, int]:
    model = next(iter(data["models"].values()))
    return {k: model[k] for k in ("created", "updated", "deleted", "unchanged")}


# -- reading each format back with its own library -----------------------------------------
def read_csv(path: Path) -> list[dict[str, Any]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def read_xlsx(path: Path, *, formulas: bool = False) -> list[dict[str, Any]]:
    import openpyxl

    book = openpyxl.load_workbook(path, read_only=True, data_only=not formulas)
    rows = list(book.worksheets[0].iter_rows(values_only=True))
    book.close()
    width = len(rows[0])  # a row's trailing empty cells are not stored
    return [dict(zip(rows[0], (*row, *[None] * (width - len(row))), strict=True))
            for row in rows[1:]]


def read_parquet(path: Path) -> list[dict[str, Any]]:
    import pyarrow.parquet as pq

    rows: list[dict[str, Any]] = pq.read_table(path).to_pylist()
    return rows


READERS: dict[str, Callable[[Path], list[dict[str, Any]]]] = {
    "csv": read_csv, "jsonl": read_jsonl, "xlsx": read_xlsx, "parquet": read_parquet}


def as_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC).isoformat()
    return str(value)


def expected(fmt: str, row: tuple[Any, ...]) -> dict[str, Any]:
    """A table row as the format holds it: typed as far as the format allows."""
    upc, name, qty, price, active, sold_at, born = row
    if fmt == "csv":  # text only; datetimes with the run's zone (UTC)
        return {c: as_text(v) for c, v in zip(COLUMNS, row, strict=True)}
    if fmt == "jsonl":  # JSON numbers and booleans; decimals exactly, as text; ISO dates
        return {"upc": upc, "name": name, "qty": qty,
                "price": None if price is None else str(price), "active": active,
                "sold_at": None if sold_at is None else sold_at.replace(tzinfo=UTC).isoformat(),
                "born": None if born is None else born.isoformat()}
    if fmt == "xlsx":  # numbers are floats; dates are datetimes at midnight
        return {"upc": upc, "name": name, "qty": qty,
                "price": None if price is None else float(price), "active": active,
                "sold_at": sold_at,
                "born": None if born is None else datetime(born.year, born.month, born.day)}
    return dict(zip(COLUMNS, row, strict=True))  # parquet: every type as it is


def table_rows(engine: sa.Engine, table: sa.Table) -> list[tuple[Any, ...]]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(sa.select(table).order_by(table.c.upc))]


@pytest.mark.parametrize("fmt", FORMATS)
def test_each_format_round_trips_value_for_value(shop: tuple[sa.Engine, sa.Table],
                                                 tmp_path: Path, fmt: str) -> None:
    engine, table = shop
    dest = tmp_path / f"products.{fmt}"
    assert counts(export(engine, dest)) == {"created": 3, "updated": 0, "deleted": 0,
                                            "unchanged": 0}
    got = READERS[fmt](dest)
    want = [expected(fmt, row) for row in table_rows(engine, table)]
    assert got == want
    for got_row, want_row in zip(got, want, strict=True):  # typed, not only equal
        assert {k: type(v) for k, v in got_row.items()} == \
            {k: type(v) for k, v in want_row.items()}
    # exporting again finds nothing to do, and leaves the file as it is
    before = dest.read_bytes(), dest.stat().st_mtime_ns
    assert counts(export(engine, dest))["unchanged"] == 3
    assert (dest.read_bytes(), dest.stat().st_mtime_ns) == before


@pytest.mark.parametrize("fmt", FORMATS)
def test_re_export_reports_creates_updates_deletes_and_rewrites_the_file(
        shop: tuple[sa.Engine, sa.Table], tmp_path: Path, fmt: str) -> None:
    engine, table = shop
    dest = tmp_path / f"products.{fmt}"
    export(engine, dest)
    execute(engine, table.insert().values(upc="d4", name="Date", qty=7))
    execute(engine, table.update().where(table.c.upc == "a1").values(qty=6))
    execute(engine, table.delete().where(table.c.upc == "c3"))
    # without --delete the file keeps c3, as sync keeps target records
    assert counts(export(engine, dest, "--diff")) == {
        "created": 1, "updated": 1, "deleted": 0, "unchanged": 1}
    assert [r["upc"] for r in READERS[fmt](dest)] == ["a1", "b2", "c3", "d4"]
    data = export(engine, dest, "--delete", "--diff")
    assert counts(data) == {"created": 0, "updated": 0, "deleted": 1, "unchanged": 3}
    assert READERS[fmt](dest) == [expected(fmt, r) for r in table_rows(engine, table)]


def test_the_diff_is_reported_like_sync(shop: tuple[sa.Engine, sa.Table],
                                        tmp_path: Path) -> None:
    engine, table = shop
    dest = tmp_path / "products.csv"
    export(engine, dest)
    execute(engine, table.update().where(table.c.upc == "a1").values(qty=6))
    proc = run_cli("export", engine_url(engine), str(dest), "--source-table", "products",
                   "--key", "upc", "--dry-run", "--diff")
    assert proc.returncode == 0, report(proc)
    assert "~ products 'a1': qty: -5 -> 6" in proc.stdout
    assert "Dry run" in proc.stdout


def test_rows_are_written_in_key_order(sqlite_engine: sa.Engine, tmp_path: Path) -> None:
    make_products(sqlite_engine, "products",
                  [(f"k{n:03d}", "x", n, None, None, None, None) for n in (5, 1, 300, 42, 7)])
    dest = tmp_path / "products.csv"
    export(sqlite_engine, dest)
    assert [r["upc"] for r in read_csv(dest)] == ["k001", "k005", "k007", "k042", "k300"]


def test_dry_run_and_check_touch_nothing(shop: tuple[sa.Engine, sa.Table],
                                         tmp_path: Path) -> None:
    engine, table = shop
    dest = tmp_path / "products.csv"
    data = export(engine, dest, "--dry-run")
    assert counts(data)["created"] == 3 and not data["committed"]
    assert list(tmp_path.iterdir()) == [tmp_path / "target.db"]  # no file, no temp file
    export(engine, dest)
    execute(engine, table.delete().where(table.c.upc == "a1"))
    before = dest.read_bytes(), dest.stat().st_mtime_ns
    assert counts(export(engine, dest, "--delete", "--dry-run"))["deleted"] == 1
    assert counts(export(engine, dest, "--delete", "--check", expect=3))["deleted"] == 1
    assert (dest.read_bytes(), dest.stat().st_mtime_ns) == before


def test_guards_refuse_and_leave_the_file(shop: tuple[sa.Engine, sa.Table],
                                          tmp_path: Path) -> None:
    engine, table = shop
    dest = tmp_path / "products.jsonl"
    export(engine, dest)
    before = dest.read_bytes()
    execute(engine, table.delete())  # an empty source: the mass-delete guard
    data = export(engine, dest, "--delete", expect=4)
    assert data["error"]["type"] == "GuardError" and not data["committed"]
    assert dest.read_bytes() == before
    assert export(engine, dest, "--delete", "--max-delete", "1", expect=4)["error"]
    assert dest.read_bytes() == before
    assert counts(export(engine, dest, "--delete", "--allow-mass-delete"))["deleted"] == 3
    assert dest.read_text() == ""


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_formula_cells_are_neutralised(sqlite_engine: sa.Engine, tmp_path: Path,
                                       fmt: str) -> None:
    hostile = ["=HYPERLINK(\"http://x\")", "+1+1", "-2+3", "@SUM(A1)", "'quoted", "plain"]
    make_products(sqlite_engine, "products",
                  [(f"k{i}", v, None, None, None, None, None) for i, v in enumerate(hostile)])
    dest = tmp_path / f"products.{fmt}"
    export(sqlite_engine, dest)
    names = [r["name"] for r in READERS[fmt](dest)]
    assert names == ["'=HYPERLINK(\"http://x\")", "'+1+1", "'-2+3", "'@SUM(A1)", "''quoted",
                     "plain"]
    # read back exactly as written: nothing to do
    assert counts(export(sqlite_engine, dest))["unchanged"] == len(hostile)
    # --allow-formulas writes them as they are (XLSX: as formulas)
    raw = tmp_path / f"raw.{fmt}"
    export(sqlite_engine, raw, "--allow-formulas")
    if fmt == "csv":
        assert [r["name"] for r in read_csv(raw)] == hostile
    else:
        assert read_xlsx(raw, formulas=True)[0]["name"] == hostile[0]
    # numbers are never escaped: -5 stays a number
    make_products(sqlite_engine, "products", [("k", "n", -5, Decimal("-1.50"), None, None,
                                                None)])
    export(sqlite_engine, dest, "--delete", "--allow-mass-delete")
    row = READERS[fmt](dest)[0]
    assert row["qty"] in ("-5", -5) and row["price"] in ("-1.50", -1.5)


def test_a_value_the_format_cannot_hold_leaves_the_file(sqlite_engine: sa.Engine,
                                                        tmp_path: Path) -> None:
    make_products(sqlite_engine, "products", [("k", "bell \x07", None, None, None, None, None)])
    dest = tmp_path / "products.xlsx"
    data = export(sqlite_engine, dest, expect=1)
    assert data["error"]["type"] == "OutputError" and not dest.exists()
    assert [p.name for p in tmp_path.iterdir()] == ["target.db"]  # no temporary file left


def test_dest_that_is_the_source_is_refused(tmp_path: Path) -> None:
    source = tmp_path / "products.csv"
    source.write_text("upc,name\na1,Apple\n", encoding="utf-8")
    proc = run_cli("export", str(source), str(source), "--key", "upc")
    assert proc.returncode == 1, report(proc)
    assert "is the source file" in proc.stderr
    assert source.read_text(encoding="utf-8") == "upc,name\na1,Apple\n"
    # a SQLite database whose file name looks like an export
    db = tmp_path / "shop.jsonl"
    engine = sa.create_engine(f"sqlite:///{db}")
    make_products(engine, "products", ROWS)
    engine.dispose()
    before = db.read_bytes()
    proc = run_cli("export", f"sqlite:///{db}", str(db), "--source-table", "products",
                   "--key", "upc")
    assert proc.returncode == 1 and "is the source database" in proc.stderr, report(proc)
    assert db.read_bytes() == before
    proc = run_cli("export", f"sqlite:///{db}", str(tmp_path), "--source-table", "products",
                   "--key", "upc")
    assert proc.returncode == 1, report(proc)


def test_unknown_format_and_missing_extra_are_clear_errors(
        shop: tuple[sa.Engine, sa.Table], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    engine, _ = shop
    proc = run_cli("export", engine_url(engine), str(tmp_path / "p.txt"), "--source-table",
                   "products", "--key", "upc")
    assert proc.returncode == 1 and ".csv, .jsonl, .xlsx, .parquet" in proc.stderr
    monkeypatch.setitem(sys.modules, "openpyxl", None)
    proc = run_cli("export", engine_url(engine), str(tmp_path / "p.xlsx"), "--source-table",
                   "products", "--key", "upc")
    assert proc.returncode == 1, report(proc)
    assert "pip install 'syncline[xlsx]'" in proc.stderr
    assert not (tmp_path / "p.xlsx").exists()


def test_row_errors_write_nothing(shop: tuple[sa.Engine, sa.Table], tmp_path: Path) -> None:
    engine, _ = shop
    dest = tmp_path / "products.csv"
    export(engine, dest)
    before = dest.read_bytes()
    with engine.begin() as conn:  # SQLite stores anything in an INTEGER column
        conn.execute(sa.text("UPDATE products SET qty = 'many' WHERE upc = 'a1'"))
    data = export(engine, dest, expect=1)
    assert data["error"]["type"] == "RowErrors" and data["error"]["field"] == "qty"
    assert "rejected rows are never dropped silently" in export(
        engine, dest, "--on-error=skip", expect=1)["error"]["message"]
    assert dest.read_bytes() == before


def test_a_file_that_is_not_an_export_is_refused(shop: tuple[sa.Engine, sa.Table],
                                                 tmp_path: Path) -> None:
    engine, _ = shop
    dest = tmp_path / "products.csv"
    dest.write_text("sku,name\n1,x\n", encoding="utf-8")
    data = export(engine, dest, expect=1)
    assert "no column upc" in data["error"]["message"]
    assert dest.read_text(encoding="utf-8") == "sku,name\n1,x\n"


def test_query_source_and_csv_source(shop: tuple[sa.Engine, sa.Table], tmp_path: Path) -> None:
    engine, _ = shop
    dest = tmp_path / "cheap.jsonl"
    data = run_json("export", engine_url(engine), str(dest), "--key", "upc", "--source-query",
                    "SELECT upc, qty FROM products WHERE qty IS NOT NULL")
    assert counts(data)["created"] == 2
    assert read_jsonl(dest) == [{"upc": "a1", "qty": -5}, {"upc": "b2", "qty": 3}]
    assert counts(run_json("export", engine_url(engine), str(dest), "--key", "upc",
                           "--source-query", "SELECT upc, qty FROM products WHERE qty"
                           " IS NOT NULL"))["unchanged"] == 2
    source = tmp_path / "in.csv"
    source.write_text("upc,qty\nz,1\ny,2\n", encoding="utf-8")
    out = tmp_path / "out.parquet"
    assert counts(run_json("export", str(source), str(out), "--key", "upc"))["created"] == 2
    assert read_parquet(out) == [{"upc": "y", "qty": 2}, {"upc": "z", "qty": 1}]


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_sigkill_mid_write_leaves_the_old_file_or_the_new(sqlite_engine: sa.Engine,
                                                          tmp_path: Path, fmt: str) -> None:
    table = make_products(sqlite_engine, "products",
                          [(f"k{n:05d}", "old", n, None, None, None, None) for n in range(2000)])
    dest = tmp_path / f"products.{fmt}"
    export(sqlite_engine, dest)
    old = dest.read_bytes()
    execute(sqlite_engine, table.update().values(name="new"))
    args = ["export", engine_url(sqlite_engine), str(dest), "--source-table", "products",
            "--key", "upc"]
    with Paused(args, "mid_export", tmp_path) as child:
        child.wait_paused()
        child.kill()
    assert dest.read_bytes() == old, "killed while writing: the old file must be intact"
    # the next run writes the new file whole
    assert counts(export(sqlite_engine, dest))["updated"] == 2000
    assert {r["name"] for r in READERS[fmt](dest)} == {"new"}


def test_postgresql_table_to_csv(pg_engine: sa.Engine, table_name: str,
                                 tmp_path: Path) -> None:
    table = make_products(pg_engine, table_name, ROWS)
    try:
        dest = tmp_path / "pg.csv"
        data = run_json("export", engine_url(pg_engine), str(dest), "--source-table",
                        table_name, "--key", "upc")
        assert counts(data)["created"] == 3
        assert read_csv(dest) == [expected("csv", r) for r in table_rows(pg_engine, table)]
        execute(pg_engine, table.update().where(table.c.upc == "b2").values(
            price=Decimal("13.00")))
        data = run_json("export", engine_url(pg_engine), str(dest), "--source-table",
                        table_name, "--key", "upc")
        assert counts(data) == {"created": 0, "updated": 1, "deleted": 0, "unchanged": 2}
        assert read_csv(dest)[1]["price"] == "13.00"
    finally:
        drop_table(pg_engine, table_name)


# -- a target that is a web API (examples/syncline_examples/webapi.py) ---------------------
class FlakyApi:
    """Records by key behind GET/PUT/DELETE; fails requests as told."""

    def __init__(self) -> None:
        self.records: dict[str, dict[str, Any]] = {}
        #: per "METHOD key": answers to give before the request succeeds (e.g. [503, 429])
        self.failures: dict[str, list[int]] = {}
        #: "METHOD key" that always fail with 500
        self.broken: set[str] = set()
        self.requests: list[str] = []
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        api = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _answer(self, status: int, body: bytes = b"") -> None:
                self.send_response(status)
                if status == 429:
                    self.send_header("Retry-After", "0")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _change(self, method: str) -> None:
                key = unquote(self.path.removeprefix("/records/"))
                name = f"{method} {key}"
                api.requests.append(name)
                size = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(size)
                if name in api.broken:
                    return self._answer(500)
                pending = api.failures.get(name)
                if pending:
                    return self._answer(pending.pop(0))
                if method == "PUT":
                    api.records[key] = json.loads(body)
                    return self._answer(200)
                if api.records.pop(key, None) is None:
                    return self._answer(404)
                return self._answer(204)

            def do_GET(self) -> None:
                api.requests.append("GET")
                self._answer(200, json.dumps(list(api.records.values())).encode())

            def do_PUT(self) -> None:
                self._change("PUT")

            def do_DELETE(self) -> None:
                self._change("DELETE")

        return Handler


@pytest.fixture
def api() -> Iterator[FlakyApi]:
    flaky = FlakyApi()
    flaky.thread.start()
    try:
        yield flaky
    finally:
        flaky.server.shutdown()
        flaky.server.server_close()
        flaky.thread.join(timeout=10)


def run_api(api: FlakyApi, records: list[dict[str, Any]], **options: Any) -> Any:
    from syncline import Importer, IterableSource, RunOptions, TargetHandler
    from syncline_examples.webapi import WebApiTarget

    importer = Importer(table="products", key=("upc",), source=IterableSource(records))
    target = WebApiTarget(api.url, attempts=4, backoff=0.01)
    return TargetHandler(importer, target).run(RunOptions(**options))


def test_web_api_target_retries_and_converges(api: FlakyApi) -> None:
    from syncline import PartlyAppliedError

    records = [{"upc": f"k{n}", "name": f"item {n}", "qty": n} for n in range(6)]
    api.failures = {"PUT k1": [503, 429], "PUT k4": [502]}
    result = run_api(api, records)
    assert result.committed and result.models["products"].created == 6
    assert api.records == {r["upc"]: r for r in records}
    assert api.requests.count("PUT k1") == 3 and api.requests.count("PUT k4") == 2
    # a dry run sends no change
    api.requests.clear()
    changed = [*records[:3], {"upc": "k3", "name": "item 3", "qty": 30}, records[4]]
    assert run_api(api, changed, dry_run=True, delete=True).models["products"].updated == 1
    assert api.requests == ["GET"]
    # one change keeps failing: the run fails and says exactly what was applied
    api.broken = {"PUT k3"}
    changed.append({"upc": "k9", "name": "new", "qty": 9})
    with pytest.raises(PartlyAppliedError) as failed:
        run_api(api, changed, delete=True)
    assert failed.value.applied == {"created": [["k9"]], "updated": [], "deleted": []}
    assert "cannot roll back" in str(failed.value)
    assert not failed.value.result.committed
    assert "k9" in api.records and api.records["k3"]["qty"] == 3 and "k5" in api.records
    # the API is fixed: running again sends only what is still different, and converges
    api.broken = set()
    api.requests.clear()
    again = run_api(api, changed, delete=True).models["products"]
    assert (again.created, again.updated, again.deleted) == (0, 1, 1)
    assert api.requests == ["GET", "PUT k3", "DELETE k5"]
    assert api.records == {r["upc"]: r for r in changed}
    assert run_api(api, changed, delete=True).models["products"].unchanged == 6
