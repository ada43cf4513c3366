"""CSV records as Arrow record batches, for the columnar path (see ``CsvSource.read_arrow``).

Yields ``(lines, batch)``: ``lines`` a ``pyarrow.Int64Array`` of the line each record starts
on, ``batch`` a ``pyarrow.RecordBatch`` of the raw text of ``fields`` (``pa.string()``, no
nulls: an empty field is ""): exactly the records, lines and errors of :meth:`CsvSource.read`.

:mod:`pyarrow.csv` parses the records after the header once a scan of the bytes (C-speed
``bytes`` methods and a regular expression, a chunk at a time) has proved that it reads the
file as :mod:`csv` does: UTF-8 or ASCII that Python's codec decodes, an ASCII delimiter; no
lone ``\\r`` (a line for :mod:`csv`, even inside quotes); no blank line before the last
record; every quote that opens a field closes, followed by a delimiter, a line break or the
end (``"ab"c`` is an error for :mod:`csv`, ``abc`` for pyarrow); no value starting the
records with a byte-order mark (pyarrow drops it). A record then starts on the line after
the previous one's, plus the line breaks inside its values.

Any other file is read by :meth:`CsvSource.read` (the slow path), which also gives the
exact error when pyarrow fails (a wrong field count, a record longer than a block): the
records already yielded are skipped and its error, if any, raised. A field longer than
``FIELD_SIZE_LIMIT`` cannot reach pyarrow's output: its record would not fit in two blocks.
The end-of-read checks (file changed, no final line break) are ``_check_complete``'s; after
a fallback, the file the Python reader opened must also be the one pyarrow began with.
"""

from __future__ import annotations

import codecs
import csv
import functools
import io
import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pyarrow as pa

ArrowBatch = tuple["pa.Array", "pa.RecordBatch"]

_CHUNK = 1 << 20
_HEADER_MAX = 1 << 20
_MIN_BLOCK = 64 << 10
_MAX_BLOCK = 16 << 20
#: rows per batch pyarrow's block size aims at: the row path's batch (sources.base.BATCH),
#: so memory is bounded by a few batches (two read ahead, one staged) from ~50k rows on
_TARGET_ROWS = 10_000
_BLANK = re.compile(b"\n\r?\n")
_NEWLINE = re.compile(b"\n")
_CODECS = {"utf-8-sig": "utf-8", "ascii": "ascii"}


def arrow_batches(source: Any, fields: Sequence[str]) -> Iterator[ArrowBatch]:
    """The records of ``source`` (a :class:`CsvSource`) as Arrow batches."""
    slow = source.read(fields)  # the header checks, now, exactly as read() makes them
    return _batches(source, list(fields), slow)


@dataclass
class _Plan:
    """What the scan proved: where the records start and how to number them."""

    offset: int  # byte offset of the first record
    first_line: int  # the line it starts on
    quoted: bool  # the records hold quotes, so maybe line breaks inside values
    records: bool  # there is anything but line breaks after the header
    block_size: int


def _batches(source: Any, fields: list[str], slow: Iterator[Any]) -> Iterator[ArrowBatch]:
    import pyarrow as pa

    done = 0
    opened = None
    if source._codec in _CODECS and source.delimiter.isascii():
        with source._open() as stream:
            fd = stream.fileno()
            source._opened_stat = opened = os.fstat(fd)
            plan = _scan(source, fd, opened.st_size)
            if plan is not None:
                try:
                    for lines, batch in _parse(source, fd, opened.st_size, plan, fields):
                        done += len(lines)
                        yield lines, batch
                except pa.ArrowException:
                    pass  # the slow path gives the error, or reads on after `done`
                else:
                    source._check_complete(stream, _last_line(fd, opened.st_size))
                    return
    yield from _converted(slow, fields, done)
    if done and opened is not None:
        _same_file(source, opened)


def _same_file(source: Any, opened: os.stat_result) -> None:
    """After a fallback: the Python reader read the file pyarrow began with. It skips the
    records pyarrow yielded and checks that the file did not change while *it* read it;
    a file rewritten or replaced before it opened it would mix two files' records."""
    from syncline.errors import SourceError

    now = source._opened_stat  # as the Python reader opened it
    if now is not None and (now.st_dev, now.st_ino, now.st_size, now.st_mtime_ns) == (
            opened.st_dev, opened.st_ino, opened.st_size, opened.st_mtime_ns):
        return
    after = "gone" if now is None else f"{now.st_size} bytes"
    raise SourceError(
        f"the file changed while it was being read ({opened.st_size} bytes when "
        f"opened, now {after}): it is incomplete or still being written. Nothing "
        "was written; run again once the file is complete",
        file=source.name,
    )


# -- the scan --------------------------------------------------------------------------


def _scan(source: Any, fd: int, size: int) -> _Plan | None:
    head = os.pread(fd, min(size, _HEADER_MAX), 0)
    offset = _header_end(source, head, len(head) == size)
    if offset is None or os.pread(fd, 3, offset) == codecs.BOM_UTF8:
        return None  # pyarrow would drop a byte-order mark that starts the first value
    checked = _check_data(source, fd, offset, size)
    if checked is None:
        return None
    sample = os.pread(fd, _CHUNK, offset)
    row_bytes = len(sample) // (sample.count(b"\n") or 1) + 1
    # a record must fit in two blocks, so a field longer than csv's limit is an error
    block = min(max(row_bytes * _TARGET_ROWS, _MIN_BLOCK), _MAX_BLOCK,
                source.field_size_limit // 4)
    return _Plan(offset, head.count(b"\n", 0, offset) + 1, *checked, block)


def _last_line(fd: int, size: int) -> int:
    """The number of the file's last line, counted only when a message needs it."""
    if not size or os.pread(fd, 1, size - 1) == b"\n":
        return 0  # _check_complete will not name it
    count = 1
    for start in range(0, size, _CHUNK):
        count += os.pread(fd, min(_CHUNK, size - start), start).count(b"\n")
    return count


def _header_end(source: Any, head: bytes, whole: bool) -> int | None:
    """The byte offset just after the header record, or ``None`` when unsure."""
    start = 3 if source._codec == "utf-8-sig" and head.startswith(codecs.BOM_UTF8) else 0
    ends = [start]

    def lines() -> Iterator[str]:
        while ends[-1] < len(head):
            end = head.find(b"\n", ends[-1]) + 1 or (len(head) if whole else 0)
            if not end:
                return  # the header goes on past what was read
            line = head[ends[-1] : end]
            if line.count(b"\r") != line.count(b"\r\n"):
                raise ValueError("a lone carriage return")
            ends.append(end)
            yield line.decode(_CODECS[source._codec])

    try:
        row = next((row for row in source._reader(lines()) if row), None)
    except (csv.Error, ValueError):  # UnicodeDecodeError is a ValueError
        return None
    if row is None:
        return None
    names = [cell.strip() for cell in row]
    names[0] = names[0].lstrip("\ufeff").strip()
    return ends[-1] if names == source._columns() else None


def _patterns(delimiter: str) -> tuple[re.Pattern[bytes], re.Pattern[bytes], re.Pattern[bytes]]:
    d = rb"\x%02x" % ord(delimiter)
    quoted = rb'"[^"]*+(?:""[^"]*+)*+"'
    # outside quotes a quote is literal unless it starts a field
    literal = rb'(?<=[^' + d + rb'\r\n])"'
    gap = rb'(?:[^"]++|' + literal + rb")*+"
    # the same, stopping at a blank line (a line break followed by another)
    gap_nl = rb'(?:[^"\n]++|\n(?![\r\n])|' + literal + rb")*+"
    tail = rb"(?:" + quoted + rb"(?=[" + d + rb"\r\n]|\Z)%s)*+"
    return (
        re.compile(gap + tail.replace(b"%s", gap)),
        re.compile(gap_nl + tail.replace(b"%s", gap_nl)),
        re.compile(quoted),
    )


def _check_data(source: Any, fd: int, offset: int, size: int) -> tuple[bool, bool] | None:
    """Scan the records' bytes: ``(any quotes, any records)``, or ``None`` for the slow path."""
    fields, fields_nl, quoted_field = _patterns(source.delimiter)
    text_codec = _CODECS[source._codec]
    quoted = records = trailing = False
    carry = b""
    pos = offset
    while True:
        chunk = os.pread(fd, min(_CHUNK, size - pos), pos) if pos < size else b""
        pos += len(chunk)
        final = not chunk or pos >= size
        buf = carry + chunk
        cut = len(buf) if final else buf.rfind(b"\n") + 1
        region, carry = buf[:cut], buf[cut:]
        if trailing:
            if region.strip(b"\r\n"):
                return None  # a record after a blank line
        elif region:
            if b"\r" in region and region.count(b"\r") != region.count(b"\r\n"):
                return None
            if not region.isascii():
                try:
                    region.decode(text_codec)
                except UnicodeDecodeError:
                    return None
            # where the records stop following the rules (at most the end)
            if region[:1] in (b"\r", b"\n"):  # a blank line first
                end = 0
            elif b'"' in region:
                quoted = records = True
                match = (fields_nl if _BLANK.search(region) else fields).match(region)
                end = match.end() if match else 0
            else:
                records = True
                blank = _BLANK.search(region)
                end = blank.start() if blank else len(region)
            if end < len(region):
                if region[end] in b"\r\n":  # a blank line: only more may follow
                    if region[end:].strip(b"\r\n"):
                        return None
                    trailing = True
                elif not final and quoted_field.match(region, end) is None:
                    carry = region[end:] + carry  # a quoted value going on: scan it again
                else:
                    return None  # junk after a closing quote, or quotes never closed
        if len(carry) > _MAX_BLOCK:
            return None
        if final:
            return quoted, records


# -- parsing ---------------------------------------------------------------------------


def _parse(
    source: Any, fd: int, size: int, plan: _Plan, fields: list[str]
) -> Iterator[ArrowBatch]:
    """The records after the header, parsed by pyarrow and numbered as ``plan`` says."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.csv as pcsv

    if not plan.records:
        return
    header: list[str] = source._columns()
    if plan.quoted:  # all columns: a line break in any value moves the next records down
        wanted: list[str] = []
    else:
        wanted = [name for name in header if name in set(fields)] or header[:1]
    reader = pcsv.open_csv(
        pa.PythonFile(_Window(fd, plan.offset, size), mode="r"),
        read_options=pcsv.ReadOptions(column_names=header, block_size=plan.block_size),
        parse_options=pcsv.ParseOptions(delimiter=source.delimiter, ignore_empty_lines=True,
                                        newlines_in_values=plan.quoted),
        convert_options=pcsv.ConvertOptions(
            check_utf8=False,  # the scan decoded every byte with Python's codec
            column_types=dict.fromkeys(header, pa.string()),
            strings_can_be_null=False,
            quoted_strings_can_be_null=False,
            include_columns=wanted,
        ),
    )
    line = plan.first_line
    for batch in reader:
        count = batch.num_rows
        if not count:
            continue
        lines = pc.add(_arange(count), line)
        if plan.quoted:  # add the line breaks inside the values of the records before
            breaks = [
                pc.count_substring(column, "\n").cast(pa.int64())
                for column in batch.columns
                if _NEWLINE.search(column.buffers()[2] or b"")  # C speed, and usually none
            ]
            if breaks:
                inside = functools.reduce(pc.add, breaks)
                lines = pc.add(lines, pc.subtract(pc.cumulative_sum(inside), inside))
                line += pc.sum(inside).as_py()
        line += count
        yield lines, batch.select(fields)


def _converted(batches: Iterator[Any], fields: list[str], skip: int) -> Iterator[ArrowBatch]:
    """The slow path: ``read()``'s batches as Arrow, less the first ``skip`` records."""
    import pyarrow as pa

    for batch in batches:
        if skip >= len(batch):
            skip -= len(batch)
            continue
        records, skip = batch[skip:], 0
        numbers = pa.array([row for row, _ in records], pa.int64())
        if fields:
            values = zip(*(values for _, values in records), strict=True)
            columns = [pa.array(column, pa.string()) for column in values]
            yield numbers, pa.RecordBatch.from_arrays(columns, names=fields)
        else:  # no columns, but as many rows as records
            yield numbers, pa.RecordBatch.from_arrays([pa.nulls(len(records))], ["-"]).select([])


_ARANGE: list[Any] = []


def _arange(count: int) -> Any:
    """``0 .. count-1`` as an Int64Array (a slice of one kept array)."""
    import pyarrow as pa

    if not _ARANGE or len(_ARANGE[0]) < count:
        _ARANGE[:] = [pa.array(range(max(count, 1 << 16)), pa.int64())]
    return _ARANGE[0][:count]


class _Window(io.RawIOBase):
    """Bytes ``start`` to ``end`` of an open file, read with ``pread``: pyarrow never sees
    what was appended after the scan."""

    def __init__(self, fd: int, start: int, end: int) -> None:
        super().__init__()
        self.fd, self.pos, self.end = fd, start, end

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = os.pread(self.fd, min(len(buffer), max(self.end - self.pos, 0)), self.pos)
        buffer[: len(data)] = data
        self.pos += len(data)
        return len(data)
