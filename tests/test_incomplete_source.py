"""A source file that is not (yet) the whole source: RELIABILITY.md row 38, issue 7 item 7.

- a CSV still being written (its last line has no line break, or it grows while it is
  read) is refused as incomplete, naming the file, before anything is written;
- a file legitimately without a final line break needs ``--allow-no-final-newline``;
- a named pipe (or any non-regular file) is refused at once instead of hanging;
- an empty or header-only source never deletes without an explicit override, however
  small the target table is.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from conftest import drop_table, engine_url
from helpers import (
    CliResult,
    expect_error,
    item_rows,
    make_table,
    old_rows,
    report,
    run_cli,
    run_process,
    syncline_command,
)
from syncline.errors import SourceError
from syncline.sources.csv import CsvSource

HEADER = "upc,name,qty"


def lines(n: int, start: int = 0, word: str = "new") -> list[str]:
    return [f"U{i:05d},{word} {i},{i}" for i in range(start, start + n)]


def sync(source: Path, engine: sa.Engine, table: str, *more: str) -> CliResult:
    return run_cli("sync", str(source), engine_url(engine), "--table", table, "--key", "upc",
                   *more)


# -- a file still being written ----------------------------------------------------------


def test_half_written_csv_is_refused(sqlite_engine: sa.Engine, table_name: str,
                                     tmp_path: Path) -> None:
    """850 of 1,000 rows plus half a line: refused with and without --delete (the half
    value would be committed either way); the table is unchanged."""
    make_table(sqlite_engine, table_name, old_rows(1000))
    before = item_rows(sqlite_engine, table_name)
    half = tmp_path / "half.csv"
    half.write_text("\n".join([HEADER, *lines(850)]) + "\nU00850,new 850,8", encoding="utf-8")
    for more in (["--delete"], []):
        stderr = expect_error(sync(half, sqlite_engine, table_name, *more), 1,
                              str(half), "incomplete", "line 852", "--allow-no-final-newline")
        assert "Nothing was written" in stderr or "nothing was written" in stderr
        assert item_rows(sqlite_engine, table_name) == before
    # CRLF without a final line break: the same refusal
    crlf = tmp_path / "crlf.csv"
    crlf.write_bytes("\r\n".join([HEADER, *lines(3)]).encode())
    expect_error(sync(crlf, sqlite_engine, table_name), 1, str(crlf), "incomplete")
    assert item_rows(sqlite_engine, table_name) == before


def test_no_final_newline_is_read_with_the_flag(sqlite_engine: sa.Engine, table_name: str,
                                                tmp_path: Path) -> None:
    """A complete export without a final line break (CRLF, as Excel writes) loads when the
    user says so; a file with one never needs the flag."""
    make_table(sqlite_engine, table_name, old_rows(1))
    crlf = tmp_path / "crlf.csv"
    crlf.write_bytes("\r\n".join([HEADER, *lines(3)]).encode())
    proc = sync(crlf, sqlite_engine, table_name, "--allow-no-final-newline")
    assert proc.returncode == 0, report(proc)
    assert item_rows(sqlite_engine, table_name) == [
        (f"U{i:05d}", f"new {i}", i) for i in range(3)]


@pytest.mark.parametrize(("written", "read"), [
    ("utf-8", "utf-8"), ("utf-8-sig", "utf-8"), ("utf-16", "utf-16"), ("utf-16-le", "utf-16-le"),
    ("utf-16-be", "utf-16-be"), ("utf-32", "utf-32"), ("latin-1", "latin-1"),
    ("cp1252", "cp1252")])
@pytest.mark.parametrize("end", ["\n", "\r\n", "\r", ""])
def test_final_line_break_in_any_encoding(tmp_path: Path, written: str, read: str,
                                          end: str) -> None:
    path = tmp_path / "f.csv"
    path.write_bytes(("id,name\r\n1,\u00e9\r\n2,\u00fc" + end).encode(written))
    source = CsvSource(path, encoding=read)
    if end:
        assert [r for b in source.read(["id", "name"]) for r in b] == [
            (2, ("1", "\u00e9")), (3, ("2", "\u00fc"))]
    else:
        with pytest.raises(SourceError, match="incomplete") as caught:
            list(source.read(["id", "name"]))
        assert caught.value.file == str(path)
        assert caught.value.row == 3
        lenient = CsvSource(path, encoding=read, allow_no_final_newline=True)
        assert len([r for b in lenient.read(["id", "name"]) for r in b]) == 2


def test_a_header_only_file_without_a_line_break_is_incomplete(tmp_path: Path) -> None:
    path = tmp_path / "h.csv"
    path.write_text("id,na", encoding="utf-8")
    with pytest.raises(SourceError, match="incomplete"):
        list(CsvSource(path).read(["id"]))


def test_a_file_that_grows_during_the_read_is_refused(sqlite_engine: sa.Engine,
                                                      table_name: str, tmp_path: Path) -> None:
    """The run pauses between two batches while the writer appends: the run must notice
    that the file changed under it and refuse, writing nothing. (120,000 rows: the
    columnar reader yields batches of some 30,000, so there is a "between two".)"""
    make_table(sqlite_engine, table_name, old_rows(100))
    before = item_rows(sqlite_engine, table_name)
    growing = tmp_path / "growing.csv"
    growing.write_text("\n".join([HEADER, *lines(120_000)]) + "\n", encoding="utf-8")
    pause_file = tmp_path / "paused.pid"
    env = dict(os.environ, SYNCLINE_TEST_PAUSE_AT="mid_read",
               SYNCLINE_TEST_PAUSE_FILE=str(pause_file), SYNCLINE_TEST_PAUSE_SECONDS="2")
    child = subprocess.Popen(
        [*syncline_command(), "sync", str(growing), engine_url(sqlite_engine),
         "--table", table_name, "--key", "upc", "--delete", "--allow-mass-delete", "--json"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while not (pause_file.exists() and pause_file.read_text().strip()):
            assert child.poll() is None, child.communicate()
            assert time.monotonic() < deadline, "the child never reached mid_read"
            time.sleep(0.02)
        with open(growing, "a", encoding="utf-8") as handle:
            handle.write("\n".join(lines(5, start=20_000)) + "\n")
        stdout, stderr = child.communicate(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.returncode == 1, f"exit {child.returncode}\n{stdout}\n{stderr}"
    assert "changed while it was being read" in stderr, stderr
    assert str(growing) in stderr, stderr
    assert "Traceback" not in stderr
    assert item_rows(sqlite_engine, table_name) == before


# -- files that are not regular files ------------------------------------------------------


def test_a_named_pipe_is_refused_not_waited_on(sqlite_engine: sa.Engine, table_name: str,
                                               tmp_path: Path) -> None:
    make_table(sqlite_engine, table_name, old_rows(3))
    fifo = tmp_path / "pipe.csv"
    os.mkfifo(fifo)
    started = time.monotonic()
    try:
        # a process: opening a pipe can block for good, and only a child can be stopped
        proc = run_process("sync", str(fifo), engine_url(sqlite_engine), "--table", table_name,
                           "--key", "upc", timeout=30)
    except subprocess.TimeoutExpired:
        pytest.fail("syncline hung on a named pipe")
    assert time.monotonic() - started < 30
    expect_error(proc, 1, str(fifo), "not a regular file", "named pipe")
    with pytest.raises(SourceError, match=r"not a regular file .*directory"):
        CsvSource(tmp_path).columns()


# -- an empty source against a small table ---------------------------------------------------


def test_empty_source_never_deletes_without_an_override(any_engine: sa.Engine, table_name: str,
                                                        tmp_path: Path) -> None:
    """A header-only file against 5 rows (under the mass-delete guard's 10-row floor) is
    refused on both engines; --max-delete 5 or --allow-mass-delete lets it through."""
    empty = tmp_path / "empty.csv"
    empty.write_text(HEADER + "\n", encoding="utf-8")
    try:
        make_table(any_engine, table_name, old_rows(5))
        before = item_rows(any_engine, table_name)
        for engine_name in ("database", "memory"):
            expect_error(sync(empty, any_engine, table_name, "--delete", "--engine",
                              engine_name), 4,
                         "source has no records", "--max-delete 5", "--allow-mass-delete",
                         "Nothing was written")
            assert item_rows(any_engine, table_name) == before
        proc = sync(empty, any_engine, table_name, "--delete", "--max-delete", "5", "--json")
        assert proc.returncode == 0, report(proc)
        assert json.loads(proc.stdout)["models"][table_name]["deleted"] == 5
        assert item_rows(any_engine, table_name) == []
    finally:
        drop_table(any_engine, table_name)


# -- long fields (issue 7 item 15) ----------------------------------------------------------


def test_a_long_field_is_read_and_an_endless_one_is_named(sqlite_engine: sa.Engine,
                                                          table_name: str,
                                                          tmp_path: Path) -> None:
    """A 200,000-character value is a value (it used to be blamed on an unterminated
    quote); a field past the limit names its line, the lines read and the limit."""
    sa.Table(table_name, sa.MetaData(), sa.Column("upc", sa.String(20), primary_key=True),
             sa.Column("name", sa.Text), sa.Column("qty", sa.Integer)).create(sqlite_engine)
    long_value = "x" * 200_000
    path = tmp_path / "long.csv"
    path.write_text(f'{HEADER}\nU00000,"{long_value}",1\nU00001,short,2\n', encoding="utf-8")
    proc = sync(path, sqlite_engine, table_name, "--json")
    assert proc.returncode == 0, report(proc)
    with sqlite_engine.connect() as conn:
        stored = conn.execute(sa.text(f'SELECT name FROM "{table_name}" WHERE upc = :u'),
                              {"u": "U00000"}).scalar()
    assert stored == long_value


def test_a_field_over_the_limit_names_line_and_limit(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    from syncline.errors import SourceParseError
    from syncline.sources import csv as csv_module

    monkeypatch.setattr(csv_module, "FIELD_SIZE_LIMIT", 1000)
    path = tmp_path / "open-quote.csv"
    body = "\n".join(f"U{i},x{i},{i}" for i in range(300))
    path.write_text(f'{HEADER}\nA,b,1\nB,"never closed,2\n{body}\n', encoding="utf-8")
    try:
        with pytest.raises(SourceParseError, match="longer than 1,000 characters") as caught:
            list(CsvSource(path).read(["upc"]))
    finally:
        import csv

        csv.field_size_limit(csv_module.FIELD_SIZE_LIMIT)
    assert caught.value.row == 3
    assert "quote opened on line 3" in str(caught.value)
