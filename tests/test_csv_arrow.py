"""CsvSource.read_arrow (csv_arrow.arrow_batches): the very records, lines and errors of read().

A differential test against ``read()`` on generated files, and focused tests for what a
small generated file cannot reach (pyarrow blocks, big files, a file appended to).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from unittest import mock

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from syncline.errors import SourceError, SourceParseError, SynclineError
from syncline.sources import csv_arrow
from syncline.sources.csv import CsvSource

Record = tuple[int, tuple[str, ...]]


def python_records(source: CsvSource, fields: list[str]) -> list[Record]:
    return [record for batch in source.read(fields) for record in batch]


def arrow_records(source: CsvSource, fields: list[str]) -> list[Record]:
    out: list[Record] = []
    for lines, batch in source.read_arrow(fields):
        assert batch.num_rows == len(lines)
        assert batch.schema.names == fields
        assert all(column.type == pa.string() and column.null_count == 0
                   for column in batch.columns)
        assert isinstance(lines, pa.Int64Array) and lines.null_count == 0
        values = zip(*(column.to_pylist() for column in batch.columns), strict=True)
        rows = list(values) if fields else [()] * len(lines)
        out.extend(zip(lines.to_pylist(), rows, strict=True))
    return out


def outcome(read: Any, source: CsvSource, fields: list[str]) -> Any:
    try:
        return ("records", read(source, fields))
    except SynclineError as exc:
        return ("error", type(exc), str(exc), exc.row, exc.file,
                getattr(exc, "field", None), getattr(exc, "value", None))


def same(path: Path, fields: list[str], **options: Any) -> Any:
    """Assert read_arrow gives what read gives; return that outcome."""
    expected = outcome(python_records, CsvSource(path, **options), fields)
    assert outcome(arrow_records, CsvSource(path, **options), fields) == expected
    return expected


@contextmanager
def fast_only() -> Iterator[None]:
    """Fail if the Python reader is used: the file must take pyarrow's path."""
    def refuse(*args: Any) -> Any:
        raise AssertionError("fell back to CsvSource.read")
        yield  # pragma: no cover

    with mock.patch.object(csv_arrow, "_converted", refuse):
        yield


@contextmanager
def small_blocks(size: int = 64) -> Iterator[None]:
    """pyarrow blocks of ``size`` bytes, and scan chunks a little smaller."""
    with mock.patch.object(csv_arrow, "_MIN_BLOCK", size), \
            mock.patch.object(csv_arrow, "_TARGET_ROWS", 1), \
            mock.patch.object(csv_arrow, "_CHUNK", max(size // 2 - 1, 1)):
        yield


# -- the differential test --------------------------------------------------------------

TOKENS = [
    "a", "b", "x", "1", ",", ";", "\t", " ", '"', '""', "\n", "\r", "\r\n", "é", "\ufeff",
]
BAD_BYTES = [b"\xff", b"\xc3", b"\xed\xa0\x80", b"\xe2\x82"]
HEADER = ["a", "b", "c"]


@st.composite
def csv_files(draw: Any) -> tuple[bytes, str]:
    """CSV files as bytes; half of them "tidy" (no lone CR, no blank line inside, no bad
    bytes) so that pyarrow's path is taken, or refused for its quotes alone."""
    delimiter = draw(st.sampled_from([",", ";", "\t"]))
    tidy = draw(st.booleans())
    tokens = [t for t in TOKENS if not (tidy and "\r" in t and t != "\r\n")]
    text = st.lists(st.sampled_from(tokens), max_size=4).map("".join)
    quotes = st.lists(st.sampled_from(['"', '"', "a", " ", delimiter]), max_size=5).map("".join)
    safe = st.text(st.sampled_from("ab1 é,;\t"), max_size=4)
    ends = ["\n", "\r\n"] if tidy else ["\n", "\n", "\r\n", "\n\n", "\r"]

    def field() -> str:
        kind = draw(st.sampled_from(["plain", "quoted", "quoted", "raw", "quotes"]))
        if kind == "plain":
            return "".join(c for c in draw(safe) if c not in delimiter)
        if kind == "quoted":
            return '"' + draw(text).replace('"', '""') + '"'
        return str(draw(text if kind == "raw" else quotes))

    out = draw(st.sampled_from(["", "", "\ufeff", "\n", "\r\n\n"]))
    out += delimiter.join(HEADER) + draw(st.sampled_from(["\n", "\r\n"]))
    for _ in range(draw(st.integers(0, 8))):
        width = draw(st.sampled_from([3, 3, 3, 3, 3, 2, 4]))
        out += delimiter.join(field() for _ in range(width)) + draw(st.sampled_from(ends))
    if tidy and draw(st.booleans()):
        out += "\n" * draw(st.integers(1, 2))  # blank lines at the end
    if draw(st.integers(0, 3)) == 0:  # a bad byte or more, anywhere after the header
        data = out.encode()
        at = draw(st.integers(len(data) // 2, len(data)))
        return data[:at] + draw(st.sampled_from(BAD_BYTES)) + data[at:], delimiter
    if draw(st.integers(0, 3)) == 0:
        out = out.rstrip("\r\n")
    return out.encode(), delimiter


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    case=csv_files(),
    fields=st.lists(st.sampled_from(HEADER), max_size=4),
    encoding=st.sampled_from(["utf-8", "utf-8", "ascii"]),
    allow_no_final_newline=st.booleans(),
    batch_size=st.sampled_from([1, 2, 1000]),
    blocks=st.sampled_from([None, 16, 64]),
)
def test_read_arrow_is_read(case: tuple[bytes, str], fields: list[str], encoding: str,
                            allow_no_final_newline: bool, batch_size: int,
                            blocks: int | None) -> None:
    data, delimiter = case
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "f.csv"
        path.write_bytes(data)
        options = {"delimiter": delimiter, "encoding": encoding, "batch_size": batch_size,
                   "allow_no_final_newline": allow_no_final_newline}
        if blocks is None:
            same(path, fields, **options)
        else:
            with small_blocks(blocks):
                same(path, fields, **options)


# -- focused tests ----------------------------------------------------------------------


def write(path: Path, text: str) -> Path:
    path.write_bytes(text.encode("utf-8", "surrogateescape"))
    return path


def test_50k_rows_with_quoted_commas_and_line_breaks(tmp_path: Path) -> None:
    lines = ["id,name,note,price"]
    for i in range(50_000):
        note = f'"line one\nline ""two"", {i}"' if i % 7 == 0 else f"note {i}"
        name = f'"Name, {i}"' if i % 3 else f"Name {i}"
        lines.append(f"{i},{name},{note},{i}.50")
    path = write(tmp_path / "big.csv", "\n".join(lines) + "\n")
    with fast_only():
        got = arrow_records(CsvSource(path), ["price", "id", "name"])
    assert got == python_records(CsvSource(path), ["price", "id", "name"])
    assert len(got) == 50_000 and got[-1][0] == 50_000 + 1 + 50_000 // 7 + 1
    with fast_only(), small_blocks(4096):  # many pyarrow blocks, each record in one
        assert arrow_records(CsvSource(path), ["note"]) == python_records(
            CsvSource(path), ["note"])


@pytest.mark.parametrize("delimiter", [";", "\t", "tab"])
def test_delimiters(tmp_path: Path, delimiter: str) -> None:
    d = "\t" if delimiter == "tab" else delimiter
    text = f'k{d}v\n1{d}"a{d}b"\n2{d}x,y\n3{d}"multi\nline"\n4{d}\n'
    path = write(tmp_path / "d.csv", text)
    with fast_only():
        records = same(path, ["v", "k"], delimiter=delimiter)
    assert records == ("records", [(2, (f"a{d}b", "1")), (3, ("x,y", "2")),
                                   (4, ("multi\nline", "3")), (6, ("", "4"))])


def test_records_across_pyarrow_blocks(tmp_path: Path) -> None:
    rows = [f'{i},"{"é" * (i % 13)}\n{i}",{"z" * (i % 17)}' for i in range(3000)]
    path = write(tmp_path / "b.csv", "a,b,c\r\n" + "\r\n".join(rows) + "\r\n\r\n")
    for size in (64, 100, 1000):
        with fast_only(), small_blocks(size):
            assert same(path, ["c", "a", "b", "a"])[0] == "records"


def test_error_after_batches_were_yielded(tmp_path: Path) -> None:
    rows = [f"{i},x" for i in range(5000)] + ["5000,x,extra"] + ["5001,y"]
    path = write(tmp_path / "e.csv", "a,b\n" + "\n".join(rows) + "\n")
    with small_blocks(256):
        batches = CsvSource(path, batch_size=7).read_arrow(["a"])
        first = next(batches)
        assert first[0].to_pylist()[0] == 2
        with pytest.raises(SourceParseError, match="line 5002: expected 2 fields"):
            list(batches)
    with small_blocks(256):
        same(path, ["b"], batch_size=7)


def test_file_appended_during_read_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path / "g.csv", "a,b\n" + "".join(f"{i},x\n" for i in range(100_000)))
    source = CsvSource(path)
    batches = source.read_arrow(["a", "b"])
    seen = len(next(batches)[0])
    with open(path, "a") as out:
        out.write("100000,late\n")
    with pytest.raises(SourceError, match="changed while it was being read") as caught:
        for lines, _ in batches:
            seen += len(lines)
    assert seen == 100_000  # what was appended is not read
    assert caught.value.file == str(path)


@pytest.mark.parametrize("text", [
    'a,b\n"ab"c,d\n',  # junk after a closing quote: an error for csv
    'a,b\n1,"open\n',  # a quote never closed
    'a,b\n1,2\n\n3,4\n',  # a blank line between records
    'a,b\r\n\r\n1,2\n',  # a blank line first
    'a,b\n1,"x\ry"\n2,3\n',  # a lone CR is a line for csv, even inside quotes
    'a,b\n1,2\n3,\udce9\n',  # not UTF-8 (a latin-1 é, written as the byte 0xe9)
    'a,b\n1,2',  # no final line break
    'a,b\n\ufeff1,2\n',  # pyarrow would drop that mark
    'a,b\n1,5" screen\n',  # a literal quote followed by more text
    'a,b\n1,"a, ""b""\n\nc"\n',  # a blank line inside quotes
])
def test_files_pyarrow_reads_otherwise(tmp_path: Path, text: str) -> None:
    path = write(tmp_path / "q.csv", text)
    same(path, ["a", "b"])
    same(path, ["b"], allow_no_final_newline=True)


def test_fifo_is_refused(tmp_path: Path) -> None:
    if not hasattr(os, "mkfifo"):
        pytest.skip("no named pipes here")
    path = tmp_path / "p.csv"
    os.mkfifo(path)
    expected = outcome(python_records, CsvSource(path), [])
    assert expected[0] == "error"
    assert outcome(arrow_records, CsvSource(path), []) == expected


def test_trailing_blank_lines_and_header_after_blank_lines(tmp_path: Path) -> None:
    path = write(tmp_path / "t.csv", '\ufeff\n\r\n"a\nb",c\n1,2\n"3\n",4\n\n\r\n')
    with fast_only():
        assert same(path, ["c", "a\nb"]) == ("records", [(5, ("2", "1")), (6, ("4", "3\n"))])


@pytest.mark.parametrize("bad", ["\udce9", "\udced\udca0\udc80", "\udcc3", "\udcff"])
@pytest.mark.parametrize("encoding", ["utf-8", "ascii"])
def test_bytes_that_do_not_decode_far_from_the_header(tmp_path: Path, bad: str,
                                                      encoding: str) -> None:
    # far enough that the header's read has not decoded them already
    rows = "".join(f"{i},x\n" for i in range(20_000))
    path = write(tmp_path / "u.csv", f"a,b\n{rows}1,{bad}\n2,3\n")
    kind = same(path, ["b"], encoding=encoding)
    assert kind[0] == "error" and kind[1].__name__ == "SourceDecodeError"
    path = write(tmp_path / "v.csv", f"a,b\n{rows}1,é\n")
    assert same(path, ["b"], encoding=encoding)[0] == ("records" if encoding == "utf-8"
                                                        else "error")


@pytest.mark.parametrize("length", [3000, 5000])
def test_a_field_longer_than_the_limit(tmp_path: Path, length: int) -> None:
    rows = "".join(f'{i},"{i}"\n' for i in range(2000))
    path = write(tmp_path / "l.csv", f'a,b\n{rows}1,"{"x" * length}"\n2,3\n')
    with mock.patch("syncline.sources.csv.FIELD_SIZE_LIMIT", 4096):
        kind = same(path, ["a", "b"])
    assert kind[0] == ("records" if length < 4096 else "error")
