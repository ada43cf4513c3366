"""Fail closed, end to end through the CLI: RELIABILITY.md rows 1-12 (issue 3).

Every test runs ``syncline sync`` (in this process, through Click's test runner) and
checks, where it applies:

* **E** - the exit code the README documents, one ``Error: ...`` line on stderr naming the
  file, row, key, column and value involved, and never a traceback;
* **L** - the target table is exactly as before the refused run (rows compared before and
  after), or exactly the fully applied result.

Cases are batched per test and row counts are modest; 10,000 rows only where the case is
about a big table.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from conftest import drop_table, engine_url
from helpers import (
    PRODUCT_HEADER,
    count,
    expect_error,
    ok_json,
    products,
    read_rejects,
    run_cli,
    seed_products,
    table_rows,
    write_csv,
)

BIG = 10_000


# -- helpers ---------------------------------------------------------------------------

def snapshot(engine: sa.Engine, name: str) -> list[tuple[Any, ...]]:
    """Every row of any table, in a stable order, for before/after comparisons."""
    table = sa.Table(name, sa.MetaData(), autoload_with=engine)
    with engine.connect() as conn:
        rows = conn.execute(sa.select(table)).all()
    return sorted((tuple(r) for r in rows), key=repr)


def changes(counts: dict[str, Any]) -> tuple[int, int, int]:
    return counts["created"], counts["updated"], counts["deleted"]


def write_text(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


def simple_table(engine: sa.Engine, name: str, *columns: sa.Column[Any]) -> sa.Table:
    table = sa.Table(name, sa.MetaData(), *columns)
    table.create(engine)
    return table


# -- 1: empty or truncated source with deletes on; max-* limits --------------------------


def test_mass_delete_guard_refuses_empty_and_truncated_source(
        any_engine: sa.Engine, table_name: str, tmp_path: Path) -> None:
    """Row 1: header-only and truncated exports with --delete are refused, nothing deleted."""
    url = engine_url(any_engine)
    rows = products(BIG)
    common = [url, "--table", table_name, "--key", "upc", "--delete"]
    empty = write_csv(tmp_path / "empty.csv", PRODUCT_HEADER, [])
    truncated = write_csv(tmp_path / "truncated.csv", PRODUCT_HEADER, rows[:100])
    try:
        seed_products(any_engine, table_name, rows)
        before = table_rows(any_engine, table_name)
        assert len(before) == BIG

        expect_error(run_cli("sync", str(empty), *common), 4,
                     "mass-delete", "--allow-mass-delete", f"--max-delete {BIG}", table_name,
                     f"refusing to delete {BIG} of {BIG}", "Nothing was written")
        assert table_rows(any_engine, table_name) == before

        # a truncated export (100 of 10,000 rows), as a dry run: the same refusal and exit
        # code, with the would-be count (the CLI calls are the costly part, so the real run
        # of the truncated file is not repeated: it takes the same path as the empty one)
        expect_error(run_cli("sync", str(truncated), *common, "--dry-run"), 4,
                     "mass-delete", "--allow-mass-delete", "--max-delete 9900",
                     f"refusing to delete 9900 of {BIG}")
        assert table_rows(any_engine, table_name) == before

        # an explicit limit lets it through
        counts = ok_json("sync", str(empty), *common, "--max-delete", str(BIG))
        assert changes(counts) == (0, 0, BIG)
        assert count(any_engine, table_name) == 0
    finally:
        drop_table(any_engine, table_name)


def test_mass_delete_guard_memory_engine(sqlite_engine: sa.Engine, table_name: str,
                                        tmp_path: Path) -> None:
    """Row 1: with the in-memory engine the guard holds (the contrast to MASS_DELETE_BUG)."""
    empty = write_csv(tmp_path / "empty.csv", PRODUCT_HEADER, [])
    try:
        seed_products(sqlite_engine, table_name, products(100))
        before = table_rows(sqlite_engine, table_name)
        expect_error(run_cli("sync", str(empty), engine_url(sqlite_engine), "--table",
                             table_name, "--key", "upc", "--delete", "--engine", "memory"), 4,
                     "mass-delete", "--allow-mass-delete", "--max-delete 100",
                     "refusing to delete 100 of 100")
        assert table_rows(sqlite_engine, table_name) == before
    finally:
        drop_table(sqlite_engine, table_name)


def test_max_limits_refuse_and_write_nothing(sqlite_engine: sa.Engine, table_name: str,
                                             tmp_path: Path) -> None:
    """Row 1: --max-create/--max-update/--max-total refuse with exit 4, nothing written."""
    url = engine_url(sqlite_engine)
    rows = products(50)
    new = [list(r) for r in rows]
    for r in new[:5]:
        r[1] += " (new)"                     # 5 updates
    new += [[f"9{i:011d}", f"New {i}", "1.00", "1", "1"] for i in range(5)]  # 5 creates
    source = write_csv(tmp_path / "v2.csv", PRODUCT_HEADER, new)
    common = ["sync", str(source), url, "--table", table_name, "--key", "upc"]
    try:
        seed_products(sqlite_engine, table_name, rows)
        before = table_rows(sqlite_engine, table_name)
        # each limit is judged on its own: one run names all three refusals
        expect_error(run_cli(*common, "--max-create", "4", "--max-update", "4",
                             "--max-total", "9"), 4,
                     "5 rows would be created, more than --max-create 4",
                     "5 rows would be updated, more than --max-update 4",
                     "10 changes, more than --max-total 9", "nothing was written")
        assert table_rows(sqlite_engine, table_name) == before
        # a limit that is not exceeded lets the run through
        assert changes(ok_json(*common, "--max-total", "10")) == (5, 5, 0)
    finally:
        drop_table(sqlite_engine, table_name)


# -- 2: source read fails midway ---------------------------------------------------------

def test_read_failure_midway_changes_nothing(sqlite_engine: sa.Engine, table_name: str,
                                             tmp_path: Path) -> None:
    """Row 2: a malformed line 5,001 aborts the run; no deletes from a partial read."""
    url = engine_url(sqlite_engine)
    rows = products(BIG)
    good = write_csv(tmp_path / "good.csv", PRODUCT_HEADER, rows)
    lines = good.read_text(encoding="utf-8").splitlines(keepends=True)
    assert len(lines) == BIG + 1  # header is line 1: line 5,001 is data row 5,000

    quote = list(lines)
    quote[5000] = f'{rows[4999][0]},"Unterminated description,1.00,1,1\r\n'
    unterminated = tmp_path / "unterminated.csv"
    unterminated.write_text("".join(quote), encoding="utf-8", newline="")

    width = list(lines)
    width[5000] = f"{rows[4999][0]},Too few fields,1.00\r\n"
    short = tmp_path / "short.csv"
    short.write_text("".join(width), encoding="utf-8", newline="")

    common = [url, "--table", table_name, "--key", "upc", "--delete", "--allow-mass-delete"]
    try:
        seed_products(sqlite_engine, table_name, rows)
        # one changed row, so a run that read only half the file would both update and delete
        with sqlite_engine.begin() as conn:
            conn.execute(sa.text(f"UPDATE {table_name} SET description = 'old'"
                                 f" WHERE upc = '{rows[0][0]}'"))
        before = table_rows(sqlite_engine, table_name)

        expect_error(run_cli("sync", str(unterminated), *common), 1,
                     "line 5001", "unterminated", str(unterminated))
        assert table_rows(sqlite_engine, table_name) == before

        expect_error(run_cli("sync", str(short), *common), 1,
                     "line 5001", "expected 5 fields", "found 3", str(short))
        assert table_rows(sqlite_engine, table_name) == before

        # a SQL source table that does not exist
        expect_error(run_cli("sync", url, *common, "--source-table", "no_such_table"), 1,
                     "no_such_table")
        assert table_rows(sqlite_engine, table_name) == before
    finally:
        drop_table(sqlite_engine, table_name)


# -- 3: duplicate keys -------------------------------------------------------------------

def test_duplicate_keys(any_engine: sa.Engine, table_name: str, tmp_path: Path) -> None:
    """Row 3: duplicates (also differing only by surrounding whitespace) fail before
    writing, listing keys and rows; first/last only when asked."""
    url = engine_url(any_engine)
    source = write_csv(tmp_path / "dup.csv", ["code", "name"], [
        ["a", "first a"],      # line 2
        ["b", "first b"],      # line 3
        ["a", "second a"],     # line 4
        [" b ", "second b"],   # line 5
        ["z", "single"],       # line 6
    ])
    common = [url, "--table", table_name, "--key", "code"]
    try:
        simple_table(any_engine, table_name, sa.Column("code", sa.String(20), primary_key=True),
                     sa.Column("name", sa.String(50)))

        expect_error(run_cli("sync", str(source), *common), 1,
                     "2 duplicate key(s)", "'a' on rows 2, 4", "'b' on rows 3, 5",
                     "--on-duplicate", str(source))
        assert snapshot(any_engine, table_name) == []

        assert changes(ok_json("sync", str(source), *common, "--on-duplicate=last")) \
            == (3, 0, 0)
        assert dict(snapshot(any_engine, table_name)) == {
            "a": "second a", "b": "second b", "z": "single"}

        assert changes(ok_json("sync", str(source), *common, "--on-duplicate=first")) \
            == (0, 2, 0)
        assert dict(snapshot(any_engine, table_name)) == {
            "a": "first a", "b": "first b", "z": "single"}
    finally:
        drop_table(any_engine, table_name)


CASE_ROWS = [["abc", "lower"], ["z", "zz"], ["ABC", "upper"]]  # lines 2, 3, 4


def test_keys_differing_by_case_are_distinct_on_sqlite(sqlite_engine: sa.Engine,
                                                       table_name: str, tmp_path: Path) -> None:
    """Row 3: SQLite compares text by bytes, so 'abc' and 'ABC' are two records."""
    source = write_csv(tmp_path / "case.csv", ["code", "name"], CASE_ROWS)
    try:
        simple_table(sqlite_engine, table_name,
                     sa.Column("code", sa.String(20), primary_key=True),
                     sa.Column("name", sa.String(50)))
        counts = ok_json("sync", str(source), engine_url(sqlite_engine), "--table", table_name,
                         "--key", "code")
        assert changes(counts) == (3, 0, 0)
        assert dict(snapshot(sqlite_engine, table_name)) == {
            "abc": "lower", "z": "zz", "ABC": "upper"}
    finally:
        drop_table(sqlite_engine, table_name)


def test_keys_differing_by_case_are_duplicates_on_mariadb(mysql_engine: sa.Engine,
                                                          table_name: str,
                                                          tmp_path: Path) -> None:
    """Row 3: MariaDB compares text case-insensitively, so 'abc'/'ABC' are one key."""
    url = engine_url(mysql_engine)
    source = write_csv(tmp_path / "case.csv", ["code", "name"], CASE_ROWS)
    common = ["sync", str(source), url, "--table", table_name, "--key", "code"]
    try:
        simple_table(mysql_engine, table_name,
                     sa.Column("code", sa.String(20), primary_key=True),
                     sa.Column("name", sa.String(50)))
        expect_error(run_cli(*common), 1, "1 duplicate key(s)", "on rows 2, 4", str(source))
        assert snapshot(mysql_engine, table_name) == []
        assert changes(ok_json(*common, "--on-duplicate=last")) == (2, 0, 0)
        assert sorted(snapshot(mysql_engine, table_name)) == [("ABC", "upper"), ("z", "zz")]
    finally:
        drop_table(mysql_engine, table_name)


def test_duplicate_composite_keys(sqlite_engine: sa.Engine, table_name: str,
                                  tmp_path: Path) -> None:
    """Row 3: a composite key duplicated after whitespace stripping is an error too."""
    url = engine_url(sqlite_engine)
    composite = write_csv(tmp_path / "dup2.csv", ["sku", "site", "qty"], [
        ["s1", "1", "10"], ["s1", "2", "20"], ["s2", "1", "30"], ["s1 ", " 2", "40"],
    ])
    try:
        simple_table(sqlite_engine, table_name,
                     sa.Column("sku", sa.String(20), primary_key=True),
                     sa.Column("site", sa.Integer, primary_key=True), sa.Column("qty", sa.Integer))
        expect_error(run_cli("sync", str(composite), url, "--table", table_name,
                             "--key", "sku,site"),
                     1, "1 duplicate key(s)", "('s1', 2) on rows 3, 5", str(composite))
        assert snapshot(sqlite_engine, table_name) == []
    finally:
        drop_table(sqlite_engine, table_name)


# -- 4: NULL / empty / blank keys --------------------------------------------------------

def test_blank_keys_rejected_and_rerun_converges(sqlite_engine: sa.Engine, table_name: str,
                                                 tmp_path: Path) -> None:
    """Row 4: empty, blank and half-NULL composite keys are errors with row numbers;
    --on-error=skip --rejects applies the rest, and a rerun changes nothing."""
    url = engine_url(sqlite_engine)
    source = write_csv(tmp_path / "keys.csv", ["sku", "site", "qty"], [
        ["s1", "1", "10"],     # line 2
        ["", "1", "11"],       # line 3: empty
        ["s2", "1", "12"],     # line 4
        ["   ", "2", "13"],    # line 5: blank
        ["s3", "", "14"],      # line 6: one NULL part
        ["s4", "2", "15"],     # line 7
    ])
    rejects = tmp_path / "r.csv"
    common = ["sync", str(source), url, "--table", table_name, "--key", "sku,site"]
    try:
        simple_table(sqlite_engine, table_name,
                     sa.Column("sku", sa.String(20), primary_key=True),
                     sa.Column("site", sa.Integer, primary_key=True), sa.Column("qty", sa.Integer))

        expect_error(run_cli(*common), 1, "3 source row(s) have an empty key", "rows 3, 5, 6",
                     "sku, site", "--on-error=skip --rejects")
        assert snapshot(sqlite_engine, table_name) == []

        skip = [*common, "--on-error=skip", "--rejects", str(rejects), "--max-rejected", "3"]
        counts = ok_json(*skip)
        assert changes(counts) == (3, 0, 0)
        assert snapshot(sqlite_engine, table_name) == [("s1", 1, 10), ("s2", 1, 12),
                                                         ("s4", 2, 15)]
        rejected = read_rejects(rejects)
        assert [r["row"] for r in rejected] == ["3", "5", "6"]
        assert all("key is empty" in r["reason"] for r in rejected), rejected
        assert [r["qty"] for r in rejected] == ["11", "13", "14"]

        again = ok_json(*skip)
        assert changes(again) == (0, 0, 0) and again["unchanged"] == 3
        assert len(read_rejects(rejects)) == 3
    finally:
        drop_table(sqlite_engine, table_name)


# -- 5: encodings ------------------------------------------------------------------------

def test_encodings_bom_latin1_crlf_and_a_bad_byte(sqlite_engine: sa.Engine, table_name: str,
                                                  tmp_path: Path) -> None:
    """Row 5: BOM stripped, --encoding honoured, CRLF fine, a bad byte stops the run."""
    url = engine_url(sqlite_engine)
    common = [url, "--table", table_name, "--key", "code"]
    bom_crlf = tmp_path / "bom.csv"
    bom_crlf.write_bytes(b"\xef\xbb\xbf" + "code,name\r\nk1,Café\r\nk2,plain\r\n".encode())
    latin = write_text(tmp_path / "latin.csv", "code,name\nk3,Crème brûlée\nk1,Café\n",
                       "latin-1")
    big_rows = "".join(f"b{i:05d},name {i}\n" for i in range(2, BIG + 1))
    bad_text = ("code,name\n" + big_rows).encode()
    lines = bad_text.split(b"\n")
    lines[5000] = lines[5000].replace(b"name", b"n\xe9me")  # line 5,001
    bad = tmp_path / "bad.csv"
    bad.write_bytes(b"\n".join(lines))
    offset = bad.read_bytes().index(b"\xe9")
    try:
        simple_table(sqlite_engine, table_name,
                     sa.Column("code", sa.String(20), primary_key=True),
                     sa.Column("name", sa.String(50)))

        assert changes(ok_json("sync", str(bom_crlf), *common)) == (2, 0, 0)
        assert snapshot(sqlite_engine, table_name) == [("k1", "Café"), ("k2", "plain")]

        counts = ok_json("sync", str(latin), *common, "--encoding", "latin-1")
        assert changes(counts) == (1, 0, 0) and counts["unchanged"] == 1
        assert snapshot(sqlite_engine, table_name) == [
            ("k1", "Café"), ("k2", "plain"), ("k3", "Crème brûlée")]
        before = snapshot(sqlite_engine, table_name)

        expect_error(run_cli("sync", str(bad), *common, "--delete", "--allow-mass-delete"), 1,
                     "line 5001", f"byte offset {offset}", "0xe9", "--encoding", str(bad))
        assert snapshot(sqlite_engine, table_name) == before
    finally:
        drop_table(sqlite_engine, table_name)


# -- 6: delimiter, embedded newlines -----------------------------------------------------

def test_wrong_delimiter_suggests_delimiter(sqlite_engine: sa.Engine, table_name: str,
                                            tmp_path: Path) -> None:
    """Row 6: a ';' file read with ',' is caught by the header check, with a hint."""
    url = engine_url(sqlite_engine)
    common = [url, "--table", table_name, "--key", "code"]
    semi = write_text(tmp_path / "semi.csv", "code;name;qty\nk1;one;1\nk2;two;2\n")
    try:
        simple_table(sqlite_engine, table_name,
                     sa.Column("code", sa.String(20), primary_key=True),
                     sa.Column("name", sa.String(50)), sa.Column("qty", sa.Integer))
        assert changes(ok_json("sync", str(semi), *common, "--delimiter", ";")) == (2, 0, 0)
        before = snapshot(sqlite_engine, table_name)
        expect_error(run_cli("sync", str(semi), *common), 1, "--delimiter ';'", str(semi))
        assert snapshot(sqlite_engine, table_name) == before
    finally:
        drop_table(sqlite_engine, table_name)


def test_embedded_newline_keeps_row_numbers(sqlite_engine: sa.Engine, table_name: str,
                                            tmp_path: Path) -> None:
    """Row 6: a quoted newline is data, and the rows after it keep their line numbers."""
    url = engine_url(sqlite_engine)
    common = [url, "--table", table_name, "--key", "code"]
    multi = write_text(tmp_path / "multi.csv",
                       'code,name,qty\nk1,one,1\nk2,"two\nlines",2\nk3,three,x\n')
    fixed = write_text(tmp_path / "fixed.csv", multi.read_text().replace(",x\n", ",3\n"))
    try:
        simple_table(sqlite_engine, table_name,
                     sa.Column("code", sa.String(20), primary_key=True),
                     sa.Column("name", sa.String(50)), sa.Column("qty", sa.Integer))

        # k2 spans lines 3-4, so k3 starts on line 5
        expect_error(run_cli("sync", str(multi), *common), 1, "row 5", "qty", "'x'",
                     "key 'k3'", str(multi))
        assert snapshot(sqlite_engine, table_name) == []

        assert changes(ok_json("sync", str(fixed), *common)) == (3, 0, 0)
        assert snapshot(sqlite_engine, table_name) == [
            ("k1", "one", 1), ("k2", "two\nlines", 2), ("k3", "three", 3)]
    finally:
        drop_table(sqlite_engine, table_name)


# -- 7: header drift ---------------------------------------------------------------------

def test_header_drift(sqlite_engine: sa.Engine, table_name: str, tmp_path: Path) -> None:
    """Row 7: a missing required column is an error before any row; an extra column warns,
    or is an error with --strict-columns."""
    url = engine_url(sqlite_engine)
    common = [url, "--table", table_name, "--key", "code"]
    # 'name' is missing, and row 2 would be a bad value if rows were read at all
    missing = write_csv(tmp_path / "missing.csv", ["code", "qty"], [["k1", "bad"]])
    extra = write_csv(tmp_path / "extra.csv", ["code", "name", "qty", "colour"],
                      [["k1", "one", "1", "red"]])
    try:
        simple_table(sqlite_engine, table_name,
                     sa.Column("code", sa.String(20), primary_key=True),
                     sa.Column("name", sa.String(50), nullable=False),
                     sa.Column("qty", sa.Integer))

        err = expect_error(run_cli("sync", str(missing), *common), 1,
                           "required column 'name' is missing from the header", str(missing))
        assert "bad" not in err, err  # refused at the header, before any row
        assert snapshot(sqlite_engine, table_name) == []

        proc = run_cli("sync", str(extra), *common)
        assert proc.returncode == 0, proc.stderr
        assert "Warning: column 'colour' is not in table" in proc.stdout + proc.stderr
        assert snapshot(sqlite_engine, table_name) == [("k1", "one", 1)]

        expect_error(run_cli("sync", str(extra), *common, "--strict-columns"), 1,
                     "column 'colour' is not in table", str(extra))
        assert snapshot(sqlite_engine, table_name) == [("k1", "one", 1)]
    finally:
        drop_table(sqlite_engine, table_name)


# -- 8: decimals -------------------------------------------------------------------------

def test_decimals_fit_or_fail(any_engine: sa.Engine, table_name: str, tmp_path: Path) -> None:
    """Row 8: no float, no rounding; overflow and extra decimals are errors; compare at scale."""
    url = engine_url(any_engine)
    common = [url, "--table", table_name, "--key", "code"]
    bad = write_csv(tmp_path / "bad.csv", ["code", "big", "small"], [
        ["k1", "1.00", "1.00"],
        ["k2", "123456789012345678.99", "1.00"],   # line 3: too big for numeric(12,2)
        ["k3", "1.00", "1.234"],                   # line 4: too many decimals
    ])
    first = write_csv(tmp_path / "first.csv", ["code", "big", "small"], [["k1", "0.10", "1.4"]])
    again = write_csv(tmp_path / "again.csv", ["code", "big", "small"], [["k1", ".1", "1.40"]])
    try:
        simple_table(any_engine, table_name, sa.Column("code", sa.String(20), primary_key=True),
                     sa.Column("big", sa.Numeric(12, 2)), sa.Column("small", sa.Numeric(10, 2)))

        err = expect_error(run_cli("sync", str(bad), *common), 1, "2 row error(s)",
                           "row 3", "big", "123456789012345678.99", "numeric(12,2)",
                           "row 4", "small", "1.234", str(bad),
                           "key 'k2'", "key 'k3'")
        assert "1.23'" not in err, err
        assert snapshot(any_engine, table_name) == []

        assert changes(ok_json("sync", str(first), *common)) == (1, 0, 0)
        assert [(c, Decimal(b), Decimal(s)) for c, b, s in snapshot(any_engine, table_name)] \
            == [("k1", Decimal("0.10"), Decimal("1.40"))]
        counts = ok_json("sync", str(again), *common)
        assert changes(counts) == (0, 0, 0) and counts["unchanged"] == 1
    finally:
        drop_table(any_engine, table_name)


# -- 9: numeric-looking text, booleans ---------------------------------------------------

def test_text_stays_text_and_boolean_spellings(sqlite_engine: sa.Engine, table_name: str,
                                               tmp_path: Path) -> None:
    """Row 9: '66' stays '66'; t/f/yes/no/1/0/true/false read; 'maybe' is an error."""
    url = engine_url(sqlite_engine)
    common = [url, "--table", table_name, "--key", "code"]
    spellings = {"t": True, "f": False, "yes": True, "no": False, "1": True, "0": False,
                 "true": True, "false": False, "TRUE": True, " No ": False}
    good = write_csv(tmp_path / "good.csv", ["code", "label", "flag"],
                     [[f"k{i}", "66" if i == 0 else "007", s]
                      for i, s in enumerate(spellings)])
    maybe = write_csv(tmp_path / "maybe.csv", ["code", "label", "flag"],
                      [["k0", "66", "t"], ["k1", "x", "maybe"]])
    try:
        simple_table(sqlite_engine, table_name,
                     sa.Column("code", sa.String(20), primary_key=True),
                     sa.Column("label", sa.String(20)), sa.Column("flag", sa.Boolean))

        assert changes(ok_json("sync", str(good), *common)) == (len(spellings), 0, 0)
        got = {c: (label, flag) for c, label, flag in snapshot(sqlite_engine, table_name)}
        assert got["k0"] == ("66", True)
        assert got["k1"][0] == "007"
        assert {k: bool(v[1]) for k, v in got.items()} == {
            f"k{i}": v for i, v in enumerate(spellings.values())}
        before = snapshot(sqlite_engine, table_name)

        expect_error(run_cli("sync", str(maybe), *common), 1, "maybe", "flag", "row 3",
                     "key 'k1'", str(maybe))
        assert snapshot(sqlite_engine, table_name) == before  # k1 not turned False
    finally:
        drop_table(sqlite_engine, table_name)


# -- 10 and 11: time zones, timestamp precision ------------------------------------------

def test_datetime_round_trip_is_an_empty_diff(any_engine: sa.Engine, table_name: str,
                                              tmp_path: Path) -> None:
    """Rows 10-11: naive values read in --timezone; re-syncing gives 0 changes, also when
    the source has microseconds the target (MariaDB DATETIME) cannot hold."""
    url = engine_url(any_engine)
    common = [url, "--table", table_name, "--key", "code", "--timezone", "Europe/Berlin"]
    source = write_csv(tmp_path / "times.csv", ["code", "at"], [
        ["k1", "2024-01-15 10:30:00"],
        ["k2", "2024-07-01T12:00:00.123456"],       # microseconds
        ["k3", "2024-03-31 02:30:00"],              # DST gap in Berlin
        ["k4", "2024-10-27 02:30:00"],              # DST overlap in Berlin
        ["k5", "2024-06-01T08:00:00+00:00"],        # aware: 10:00 in Berlin
    ])
    mysql = any_engine.dialect.name in ("mysql", "mariadb")
    try:
        simple_table(any_engine, table_name, sa.Column("code", sa.String(20), primary_key=True),
                     sa.Column("at", sa.DateTime))

        assert changes(ok_json("sync", str(source), *common)) == (5, 0, 0)
        got = dict(snapshot(any_engine, table_name))
        assert got["k1"] == dt.datetime(2024, 1, 15, 10, 30)
        assert got["k2"] == dt.datetime(2024, 7, 1, 12, 0, 0, 0 if mysql else 123456)
        assert got["k3"] == dt.datetime(2024, 3, 31, 3, 30)
        assert got["k4"] == dt.datetime(2024, 10, 27, 2, 30)
        assert got["k5"] == dt.datetime(2024, 6, 1, 10, 0)

        again = ok_json("sync", str(source), *common)
        assert changes(again) == (0, 0, 0) and again["unchanged"] == 5
    finally:
        drop_table(any_engine, table_name)


# -- 12: row errors, all reported; skip with a rejects file ------------------------------

def test_row_errors_reported_together_or_skipped_to_rejects(
        sqlite_engine: sa.Engine, table_name: str, tmp_path: Path) -> None:
    """Row 12: rows 30 and 70 of 100 are bad: exit 1, both listed, nothing written;
    --on-error=skip --rejects writes the 98 and the 2 with reasons."""
    url = engine_url(sqlite_engine)
    rows = products(100)
    rows[29][2] = "12,50"          # data row 30 -> line 31
    rows[69][3] = "dept7"          # data row 70 -> line 71
    source = write_csv(tmp_path / "rows.csv", PRODUCT_HEADER, rows)
    rejects = tmp_path / "rejects.csv"
    common = ["sync", str(source), url, "--table", table_name, "--key", "upc"]
    try:
        seed_products(sqlite_engine, table_name, [["x00000000001", "keep", "1.00", "1", "1"]])
        before = table_rows(sqlite_engine, table_name)

        err = expect_error(run_cli(*common, "--delete", "--allow-mass-delete"), 1,
                           "2 row error(s)", "nothing was written", "row 31", "row 71",
                           "price", "'12,50'", "department", "'dept7'", str(source),
                           f"key '{rows[29][0]}'", f"key '{rows[69][0]}'")
        assert err.count("row 31") >= 1 and err.count("row 71") >= 1
        assert table_rows(sqlite_engine, table_name) == before

        # skip without a rejects file: never a silent drop
        expect_error(run_cli(*common, "--on-error=skip"), 1, "--rejects")
        assert table_rows(sqlite_engine, table_name) == before
        assert not rejects.exists()

        counts = ok_json(*common, "--on-error=skip", "--rejects", str(rejects))
        assert counts["created"] == 98
        keys = [r[0] for r in table_rows(sqlite_engine, table_name)]
        assert rows[29][0] not in keys and rows[69][0] not in keys
        assert len(keys) == 99 and "x00000000001" in keys
        rejected = read_rejects(rejects)
        assert [(r["row"], r["upc"]) for r in rejected] == [("31", rows[29][0]),
                                                            ("71", rows[69][0])]
        assert "12,50" in rejected[0]["reason"] and "dept7" in rejected[1]["reason"]
    finally:
        drop_table(sqlite_engine, table_name)


def test_target_constraint_violation_rolls_back(pg_engine: sa.Engine, table_name: str,
                                                tmp_path: Path) -> None:
    """Row 12: the database refuses a row (CHECK, NOT NULL): exit 1 naming the table,
    the whole run rolled back."""
    url = engine_url(pg_engine)
    common = [url, "--table", table_name, "--key", "code"]
    check = write_csv(tmp_path / "check.csv", ["code", "name", "qty"],
                      [["k1", "one", "5"], ["k2", "two", "6"], ["k3", "three", "-1"]])
    null = write_csv(tmp_path / "null.csv", ["code", "name", "qty"],
                     [["k1", "one", "7"], ["k4", "", "1"]])
    try:
        with pg_engine.begin() as conn:
            conn.execute(sa.text(
                f'CREATE TABLE "{table_name}" (code varchar(20) PRIMARY KEY,'
                " name varchar(50) NOT NULL, qty integer CHECK (qty >= 0))"))
            conn.execute(sa.text(f"INSERT INTO \"{table_name}\" VALUES ('k1', 'one', 1)"))
        before = snapshot(pg_engine, table_name)

        expect_error(run_cli("sync", str(check), *common), 1,
                     f"cannot write to table {table_name}", "check constraint")
        assert snapshot(pg_engine, table_name) == before

        expect_error(run_cli("sync", str(null), *common), 1,
                     f"cannot write to table {table_name}", '"name"', "not-null")
        assert snapshot(pg_engine, table_name) == before
    finally:
        drop_table(pg_engine, table_name)

