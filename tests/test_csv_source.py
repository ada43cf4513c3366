"""CsvSource: header checks, encodings, parse errors and row numbers, on real files."""

from __future__ import annotations

import codecs
import csv
import io
import random
import tracemalloc
from pathlib import Path

import pytest

from syncline.errors import (
    ConfigError,
    HeaderError,
    SourceDecodeError,
    SourceError,
    SourceParseError,
)
from syncline.sources.base import Source, SourceColumn
from syncline.sources.csv import CsvSource


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


def records(source: CsvSource, fields: list[str]) -> list[tuple[int, tuple[str, ...]]]:
    return [record for batch in source.read(fields) for record in batch]


@pytest.fixture
def simple(tmp_path: Path) -> Path:
    text = 'id,name,price\nA1, Apple ,1.50\nB2,Pear,\nC3,"Fig, dried",3\n'
    return write(tmp_path / "p.csv", text)


# -- the basics --------------------------------------------------------------------------


def test_is_a_source_with_the_path_as_name(simple: Path) -> None:
    source = CsvSource(simple)
    assert isinstance(source, Source)
    assert source.name == str(simple)
    assert CsvSource(str(simple)).name == str(simple)


def test_columns_come_from_the_header(simple: Path) -> None:
    assert CsvSource(simple).columns() == [
        SourceColumn("id"), SourceColumn("name"), SourceColumn("price")
    ]


def test_values_are_raw_strings_in_fields_order_with_start_lines(simple: Path) -> None:
    assert records(CsvSource(simple), ["price", "id", "name"]) == [
        (2, ("1.50", "A1", " Apple ")),
        (3, ("", "B2", "Pear")),
        (4, ("3", "C3", "Fig, dried")),
    ]


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        (["id", "name", "price"], ("A1", " Apple ", "1.50")),
        (["name"], (" Apple ",)),
        (["id", "id"], ("A1", "A1")),
        ([], ()),
    ],
)
def test_any_selection_of_fields_gives_tuples(
    simple: Path, fields: list[str], expected: tuple[str, ...]
) -> None:
    first = records(CsvSource(simple), fields)[0]
    assert first == (2, expected)
    assert type(first[1]) is tuple


def test_a_field_not_in_the_header_is_refused_at_once(simple: Path) -> None:
    with pytest.raises(HeaderError) as info:
        CsvSource(simple).read(["id", "sku"])  # not even iterated
    assert "'sku'" in str(info.value)
    assert info.value.file == str(simple)
    assert info.value.field == "sku"


def test_header_names_are_stripped(tmp_path: Path) -> None:
    path = write(tmp_path / "h.csv", " id ,\tname\n1,x\n")
    assert [c.name for c in CsvSource(path).columns()] == ["id", "name"]
    assert records(CsvSource(path), ["name"]) == [(2, ("x",))]


@pytest.mark.parametrize(("size", "count", "sizes"), [(3, 7, [3, 3, 1]), (3, 6, [3, 3]),
                                                      (10, 2, [2]), (1, 3, [1, 1, 1])])
def test_batches_are_full_except_the_last_and_never_empty(
    tmp_path: Path, size: int, count: int, sizes: list[int]
) -> None:
    path = write(tmp_path / "b.csv", "id\n" + "".join(f"{i}\n" for i in range(count)))
    batches = list(CsvSource(path, batch_size=size).read(["id"]))
    assert [len(b) for b in batches] == sizes
    assert [r for b in batches for r in b] == [(i + 2, (str(i),)) for i in range(count)]


def test_blank_lines_are_skipped_but_counted_and_batches_stay_full(tmp_path: Path) -> None:
    path = write(tmp_path / "b.csv", "\n\nid,v\n1,a\n\n2,b\n\n\n3,c\n4,d\n5,e\n\n")
    source = CsvSource(path, batch_size=2)
    batches = list(source.read(["id", "v"]))
    assert [len(b) for b in batches] == [2, 2, 1]
    assert [r for b in batches for r in b] == [
        (4, ("1", "a")), (6, ("2", "b")), (9, ("3", "c")), (10, ("4", "d")), (11, ("5", "e"))
    ]


def test_header_only_reads_no_records(tmp_path: Path) -> None:
    path = write(tmp_path / "h.csv", "id,name\n")
    assert list(CsvSource(path).read(["id", "name"])) == []
    # without a line break the header may be half-written: read only when allowed
    unterminated = write(tmp_path / "h2.csv", "id,name")
    assert list(CsvSource(unterminated, allow_no_final_newline=True).read(["id"])) == []
    with pytest.raises(SourceError, match="incomplete"):
        list(CsvSource(unterminated).read(["id"]))


def test_a_file_reads_the_same_twice(simple: Path) -> None:
    source = CsvSource(simple)
    assert records(source, ["id"]) == records(source, ["id"])


# -- header errors -----------------------------------------------------------------------


@pytest.mark.parametrize("text", ["", "\n", "\r\n\r\n\n"])
def test_an_empty_file_has_no_header(tmp_path: Path, text: str) -> None:
    path = write(tmp_path / "e.csv", text)
    with pytest.raises(HeaderError, match="file is empty") as info:
        CsvSource(path).columns()
    assert info.value.file == str(path)
    with pytest.raises(HeaderError, match="file is empty"):
        CsvSource(path).read(["id"])


def test_duplicate_header_names_are_named(tmp_path: Path) -> None:
    path = write(tmp_path / "d.csv", "id,name, id,price,name\n1,2,3,4,5\n")
    with pytest.raises(HeaderError) as info:
        CsvSource(path).columns()
    message = str(info.value)
    assert "duplicate" in message
    assert "'id' (columns 1, 3)" in message
    assert "'name' (columns 2, 5)" in message
    assert info.value.file == str(path)


def test_empty_header_names_are_named(tmp_path: Path) -> None:
    path = write(tmp_path / "d.csv", "id,,price, \n1,2,3,4\n")
    with pytest.raises(HeaderError, match="empty column name at positions 2, 4"):
        CsvSource(path).columns()


def test_header_changed_between_columns_and_read(tmp_path: Path) -> None:
    path = write(tmp_path / "c.csv", "id,name\n1,x\n")
    source = CsvSource(path)
    batches = source.read(["id"])
    write(path, "id,label\n1,x\n")
    with pytest.raises(HeaderError, match="header changed"):
        list(batches)


# -- check_header ------------------------------------------------------------------------


def test_check_header_warns_about_unknown_columns(tmp_path: Path) -> None:
    path = write(tmp_path / "w.csv", "id,name,foo,bar\n")
    warnings = CsvSource(path).check_header(
        key=["id"], required=["name"], known=["id", "name", "price"], table="products"
    )
    assert warnings == [
        "column 'foo' is not in table products and is ignored",
        "column 'bar' is not in table products and is ignored",
    ]
    assert CsvSource(path).check_header(key=["id"], required=[], known=["id", "name", "foo",
                                                                        "bar"]) == []


def test_check_header_strict_refuses_unknown_columns(tmp_path: Path) -> None:
    path = write(tmp_path / "w.csv", "id,name,foo\n")
    with pytest.raises(HeaderError, match="'foo' is not in table products") as info:
        CsvSource(path).check_header(
            key=["id"], required=[], known=["id", "name"], strict=True, table="products"
        )
    assert info.value.field == "foo"
    assert info.value.file == str(path)


def test_check_header_refuses_a_missing_key_column(tmp_path: Path) -> None:
    path = write(tmp_path / "k.csv", "code,name\nA,x\n")
    with pytest.raises(HeaderError) as info:
        CsvSource(path).check_header(key=["id"], required=[], known=["id", "name"])
    assert "key column 'id' is missing from the header" in str(info.value)
    assert "--delimiter" not in str(info.value)
    assert info.value.field == "id"
    assert info.value.row == 1


def test_check_header_refuses_missing_required_columns(tmp_path: Path) -> None:
    path = write(tmp_path / "k.csv", "id,name\n")
    with pytest.raises(HeaderError, match="required columns 'price', 'qty' are missing"):
        CsvSource(path).check_header(
            key=["id"], required=["name", "price", "qty"], known=["id", "name", "price", "qty"]
        )


def test_check_header_hints_at_case(tmp_path: Path) -> None:
    path = write(tmp_path / "k.csv", "ID,name\n")
    hint = r"the header has 'ID' \(column names are case-sensitive\)"
    with pytest.raises(HeaderError, match=hint):
        CsvSource(path).check_header(key=["id"], required=[], known=["id", "name"])


def test_a_utf8_bom_does_not_hide_the_key_column(tmp_path: Path) -> None:
    path = write(tmp_path / "bom.csv", "\ufeffid,name\r\nA1,Äpfel\r\n")
    source = CsvSource(path)
    assert source.check_header(key=["id"], required=[], known=["id", "name"]) == []
    assert records(source, ["id", "name"]) == [(2, ("A1", "Äpfel"))]


@pytest.mark.parametrize(
    ("delimiter", "shown"), [(";", "';'"), ("\t", "'\\t'"), ("|", "'|'")]
)
def test_wrong_delimiter_suggests_the_flag(tmp_path: Path, delimiter: str, shown: str) -> None:
    text = delimiter.join(["id", "name", "price"]) + "\n" + delimiter.join(["1", "x", "2,5"])
    path = write(tmp_path / "s.csv", text + "\n")
    with pytest.raises(HeaderError) as info:
        CsvSource(path).check_header(key=["id"], required=[], known=["id", "name", "price"])
    message = str(info.value)
    assert f"looks {shown}-delimited: try --delimiter {shown}" in message
    # and the suggestion works
    assert CsvSource(path, delimiter=delimiter).check_header(
        key=["id"], required=[], known=["id", "name", "price"]
    ) == []


def test_wrong_delimiter_with_a_comma_in_the_header(tmp_path: Path) -> None:
    path = write(tmp_path / "s.csv", "id;name, long;price\n1;x;2,5\n")
    with pytest.raises(HeaderError, match="try --delimiter ';'"):
        CsvSource(path).check_header(key=["id"], required=["price"], known=["id", "price"])


def test_comma_file_read_as_semicolon_suggests_comma(tmp_path: Path) -> None:
    path = write(tmp_path / "s.csv", "id,name\n1,x\n")
    with pytest.raises(HeaderError, match="try --delimiter ','"):
        CsvSource(path, delimiter=";").check_header(key=["id"], required=[], known=["id"])


def test_wrong_delimiter_found_by_sniffing(tmp_path: Path) -> None:
    # the key column is genuinely absent, but the file is clearly ';'-separated
    path = write(tmp_path / "s.csv", "code;name;price\nA;x;1\nB;y;2\nC;z;3\n")
    with pytest.raises(HeaderError, match="try --delimiter ';'"):
        CsvSource(path).check_header(key=["id"], required=[], known=["id"])


# -- encodings ---------------------------------------------------------------------------


@pytest.mark.parametrize("encoding", ["utf-8", "utf8", "UTF-8", "utf-8-sig"])
def test_utf8_names_strip_the_bom(tmp_path: Path, encoding: str) -> None:
    path = tmp_path / "bom.csv"
    path.write_bytes(codecs.BOM_UTF8 + "id,name\n1,Ünïcödé\n".encode())
    source = CsvSource(path, encoding=encoding)
    assert [c.name for c in source.columns()] == ["id", "name"]
    assert records(source, ["id", "name"]) == [(2, ("1", "Ünïcödé"))]


def test_utf8_without_bom(tmp_path: Path) -> None:
    path = write(tmp_path / "u.csv", "id,name\n1,€\n")
    assert records(CsvSource(path), ["name"]) == [(2, ("€",))]


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be"])
def test_utf16(tmp_path: Path, encoding: str) -> None:
    path = tmp_path / "u16.csv"
    text = "id,name\r\n1,日本\r\n2,\"a\r\nb\"\r\n3,z\r\n"
    path.write_bytes(text.encode(encoding))  # "utf-16" writes a BOM, -le/-be do not
    source = CsvSource(path, encoding=encoding)
    assert [c.name for c in source.columns()] == ["id", "name"]
    assert records(source, ["id", "name"]) == [
        (2, ("1", "日本")), (3, ("2", "a\r\nb")), (5, ("3", "z"))
    ]


def test_utf16_le_with_a_bom_strips_it_from_the_header(tmp_path: Path) -> None:
    path = tmp_path / "u16.csv"
    path.write_bytes(codecs.BOM_UTF16_LE + "id,name\n1,x\n".encode("utf-16-le"))
    assert [c.name for c in CsvSource(path, encoding="utf-16-le").columns()] == ["id", "name"]


@pytest.mark.parametrize("encoding", ["latin-1", "iso-8859-1", "cp1252"])
def test_single_byte_encodings(tmp_path: Path, encoding: str) -> None:
    path = write(tmp_path / "l1.csv", "id,name\n1,café crème\n", encoding)
    assert records(CsvSource(path, encoding=encoding), ["name"]) == [(2, ("café crème",))]


def test_latin1_read_as_utf8_is_a_decode_error(tmp_path: Path) -> None:
    path = write(tmp_path / "l1.csv", "id,name\n1,café\n", "latin-1")
    with pytest.raises(SourceDecodeError) as info:
        records(CsvSource(path), ["name"])
    assert str(info.value).startswith(
        "cannot decode byte 0xe9 at byte offset 13 (line 2) as utf-8: use --encoding"
    )
    assert info.value.row == 2
    assert info.value.file == str(path)


@pytest.mark.parametrize("encoding", ["no-such-codec", "base64", ""])
def test_unknown_or_non_text_encoding_is_a_config_error(tmp_path: Path, encoding: str) -> None:
    with pytest.raises(ConfigError) as info:
        CsvSource(tmp_path / "x.csv", encoding=encoding)
    assert info.value.field == "encoding"


def test_a_bom_that_contradicts_the_encoding_fails_closed(tmp_path: Path) -> None:
    path = tmp_path / "bom.csv"
    path.write_bytes(codecs.BOM_UTF8 + b"id,name\n1,x\n")
    with pytest.raises(SourceDecodeError, match=r"UTF-8 byte-order mark .* use --encoding utf-8"):
        CsvSource(path, encoding="latin-1").columns()
    path.write_bytes("id,name\n1,x\n".encode("utf-16"))
    with pytest.raises(SourceDecodeError, match=r"UTF-16 byte-order mark .* --encoding utf-16"):
        CsvSource(path).columns()


def test_bad_byte_on_row_50001_gives_line_and_offset(tmp_path: Path) -> None:
    path = tmp_path / "big.csv"
    lines = ["id,name,price\n"] + [f"{i},Ärtikel {i},{i}.50\n" for i in range(100_000)]
    lines[50_001] = "50000,Bad \xff byte,1.00\n"  # data row 50,001 is line 50,002
    data = b"".join(line.encode("utf-8") for line in lines).replace(b"\xc3\xbf", b"\xff")
    path.write_bytes(data)
    offset = data.index(b"\xff")
    assert offset > 1 << 20  # past the first chunk of the binary re-scan
    source = CsvSource(path, batch_size=1000)
    assert source.check_header(key=["id"], required=[], known=["id", "name", "price"]) == []
    with pytest.raises(SourceDecodeError) as info:
        for _batch in source.read(["id", "name"]):
            pass
    assert str(info.value).startswith(
        f"cannot decode byte 0xff at byte offset {offset} (line 50002) as utf-8: "
        "use --encoding to name the file's encoding"
    )
    assert info.value.row == 50_002
    assert info.value.value == "0xff"
    assert info.value.file == str(path)


def test_bad_byte_after_a_character_split_across_rescan_chunks(tmp_path: Path) -> None:
    head = b"id,name\n"
    euro_line = (1 << 20) - 3  # "3," then the 3 bytes of the euro sign straddle 1 MiB
    count = (euro_line - len(head) - 100) // 4
    pad = euro_line - len(head) - 4 * count - 3
    data = head + b"1,x\n" * count + b"2," + b"y" * pad + b"\n" + "3,€\n".encode()
    assert data[(1 << 20) - 1 : (1 << 20) + 2] == "€".encode()
    data += b"4,ok\n5,\x80\n"
    path = tmp_path / "split.csv"
    path.write_bytes(data)
    with pytest.raises(SourceDecodeError) as info:
        records(CsvSource(path), ["name"])
    offset = data.index(b"\x80")
    line = count + 5  # header, count lines of "1,x", then "2,...", "3,€", "4,ok", "5,\x80"
    assert line == data.count(b"\n", 0, offset) + 1
    assert f"byte 0x80 at byte offset {offset} (line {line})" in str(info.value)


def test_truncated_character_at_the_end(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_bytes(b"id,name\n1,ok\n2,\xe2\x82")
    with pytest.raises(SourceDecodeError, match=r"bytes 0xe2 0x82 at byte offset 15 .line 3."):
        records(CsvSource(path), ["name"])


def test_bad_byte_in_the_header(tmp_path: Path) -> None:
    path = tmp_path / "h.csv"
    path.write_bytes(b"id,n\xffme\n1,x\n")
    with pytest.raises(SourceDecodeError, match=r"byte 0xff at byte offset 4 .line 1."):
        CsvSource(path).columns()


def test_bad_utf16_gives_the_byte_offset(tmp_path: Path) -> None:
    path = tmp_path / "u16.csv"
    good = "id,name\n1,x\n2,".encode("utf-16")  # BOM + text
    path.write_bytes(good + b"\x00\xd8" + "y\n".encode("utf-16-le"))  # lone high surrogate
    with pytest.raises(SourceDecodeError) as info:
        records(CsvSource(path, encoding="utf-16"), ["name"])
    assert f"at byte offset {len(good)} (line 3) as utf-16" in str(info.value)


# -- line endings and parse errors --------------------------------------------------------


def test_crlf_and_lf_read_the_same(tmp_path: Path) -> None:
    lf = write(tmp_path / "lf.csv", "id,name\n1,x\n2,\"a\nb\"\n3,y\n")
    crlf = write(tmp_path / "crlf.csv", "id,name\r\n1,x\r\n2,\"a\r\nb\"\r\n3,y\r\n")
    assert records(CsvSource(lf), ["id", "name"]) == [
        (2, ("1", "x")), (3, ("2", "a\nb")), (5, ("3", "y"))
    ]
    assert records(CsvSource(crlf), ["id", "name"]) == [
        (2, ("1", "x")), (3, ("2", "a\r\nb")), (5, ("3", "y"))
    ]


def test_embedded_newlines_give_start_lines(tmp_path: Path) -> None:
    path = write(
        tmp_path / "n.csv",
        'id,note\n1,"one\ntwo\nthree"\n2,plain\n3,"x\r\ny\rz"\n\n4,"\n"\n5,last\n',
    )
    assert records(CsvSource(path, batch_size=2), ["id"]) == [
        (2, ("1",)), (5, ("2",)), (6, ("3",)), (10, ("4",)), (12, ("5",))
    ]


def _reference(path: Path) -> list[tuple[int, tuple[str, ...]]]:
    """Row numbers the slow, obvious way: csv's line_num before each record."""
    with open(path, encoding="utf-8", newline="") as f:
        reader = csv.reader(f, strict=True)
        out, last, header = [], 0, None
        for row in reader:
            start, last = last + 1, reader.line_num
            if not row:
                continue
            if header is None:
                header = row
                continue
            out.append((start, tuple(row)))
        return out


@pytest.mark.parametrize("seed", range(8))
def test_row_numbers_match_the_obvious_way_on_random_files(tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    pieces = ["a", "b c", "", "x\ny", "p\r\nq", "r\rs", '"', ",", "\n", "é"]
    newline = rng.choice(["\n", "\r\n"])
    buffer = io.StringIO()
    # a lone "\r" in a value is quoted only when the writer's line end holds a "\r"
    if newline == "\r\n":
        writer = csv.writer(buffer, lineterminator=newline)
    else:
        writer = csv.writer(buffer, lineterminator=newline, quoting=csv.QUOTE_ALL)
    writer.writerow(["id", "v", "w"])
    for i in range(rng.randrange(50, 400)):
        if rng.random() < 0.1:
            buffer.write(newline)  # a blank line
        writer.writerow(
            [str(i), "".join(rng.choices(pieces, k=rng.randrange(3))), rng.choice(pieces)]
        )
    path = write(tmp_path / "r.csv", buffer.getvalue())
    size = rng.choice([1, 3, 7, 64])
    batches = list(CsvSource(path, batch_size=size).read(["id", "v", "w"]))
    assert [r for b in batches for r in b] == _reference(path)
    assert all(len(b) == size for b in batches[:-1])
    assert 0 < len(batches[-1]) <= size


def test_unterminated_quote_at_the_end_names_the_line_it_starts_on(tmp_path: Path) -> None:
    path = write(tmp_path / "q.csv", 'id,note\n1,ok\n2,"never closed\n3,more\n4,lines\n')
    with pytest.raises(SourceParseError) as info:
        records(CsvSource(path), ["id"])
    assert str(info.value).startswith("line 3: unterminated quoted field")
    assert info.value.row == 3
    assert info.value.file == str(path)


def test_unterminated_quote_far_into_a_big_file(tmp_path: Path) -> None:
    body = "".join(f"{i},v{i}\n" for i in range(30_000))
    path = write(tmp_path / "q.csv", "id,v\n" + body + '30000,"open\n30001,x\n')
    with pytest.raises(SourceParseError, match=r"^line 30002: unterminated") as info:
        records(CsvSource(path, batch_size=1000), ["id"])
    assert info.value.row == 30_002


def test_text_after_a_closing_quote_is_a_parse_error(tmp_path: Path) -> None:
    path = write(tmp_path / "q.csv", 'id,note\n1,ok\n2,"quoted"text\n')
    with pytest.raises(SourceParseError, match=r"^line 3: malformed CSV") as info:
        records(CsvSource(path), ["id"])
    assert info.value.row == 3


@pytest.mark.parametrize(("line", "found"), [("4,x", 2), ("4,x,y,z", 4), ("4", 1)])
def test_wrong_field_count_names_the_line(tmp_path: Path, line: str, found: int) -> None:
    path = write(tmp_path / "w.csv", f'id,a,b\n1,x,y\n2,"m\nn",y\n\n{line}\n5,x,y\n')
    with pytest.raises(SourceParseError) as info:
        records(CsvSource(path), ["id"])
    assert str(info.value).startswith(f"line 6: expected 3 fields as in the header, found {found}")
    assert info.value.row == 6
    assert info.value.file == str(path)


def test_a_space_only_line_is_not_blank(tmp_path: Path) -> None:
    path = write(tmp_path / "w.csv", "id,a\n1,x\n \n")
    with pytest.raises(SourceParseError, match="line 3: expected 2 fields"):
        records(CsvSource(path), ["id"])


# -- options and files -------------------------------------------------------------------


@pytest.mark.parametrize("delimiter", ["", ";;", '"', "\n"])
def test_bad_delimiter_is_a_config_error(tmp_path: Path, delimiter: str) -> None:
    with pytest.raises(ConfigError) as info:
        CsvSource(tmp_path / "x.csv", delimiter=delimiter)
    assert info.value.field == "delimiter"


@pytest.mark.parametrize("alias", ["\t", "\\t", "tab"])
def test_tab_delimiter_aliases(tmp_path: Path, alias: str) -> None:
    path = write(tmp_path / "t.tsv", "id\tname\n1\ta,b\n")
    assert records(CsvSource(path, delimiter=alias), ["name"]) == [(2, ("a,b",))]


@pytest.mark.parametrize("size", [0, -1, True])
def test_bad_batch_size_is_a_config_error(tmp_path: Path, size: int) -> None:
    with pytest.raises(ConfigError):
        CsvSource(tmp_path / "x.csv", batch_size=size)


def test_a_missing_file_is_a_source_error(tmp_path: Path) -> None:
    path = tmp_path / "nope.csv"
    with pytest.raises(SourceError, match="cannot open the file") as info:
        CsvSource(path).columns()
    assert info.value.file == str(path)


def test_memory_is_bounded_by_the_batch(tmp_path: Path) -> None:
    path = tmp_path / "m.csv"
    row = "x" * 200
    with open(path, "w", encoding="utf-8", newline="") as f:
        f.write("id,payload\n")
        for i in range(60_000):
            f.write(f"{i},{row}\n")
    assert path.stat().st_size > 12_000_000
    source = CsvSource(path, batch_size=1000)
    source.columns()
    tracemalloc.start()
    try:
        count = 0
        for batch in source.read(["id", "payload"]):
            count += len(batch)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == 60_000
    assert peak < 4_000_000, peak  # the whole file as strings would be > 25 MB
