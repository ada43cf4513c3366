"""CSV files as a source: streamed in batches, failing closed on anything suspicious.

The header is the first non-blank row; its names are stripped of surrounding whitespace
and must be unique and non-empty. Values are yielded as the raw strings of the file (no
stripping, no conversion: that is :mod:`syncline.types`' job). A record's row number is
the line of the file it *starts* on (the header is line 1 in a usual file); a completely
empty line is skipped but still counts as a line.

Fail closed:

- bytes the encoding cannot decode -> :class:`SourceDecodeError` with the line, the byte
  offset and the bytes themselves; a byte-order mark that contradicts the encoding too;
- an unterminated quote, a malformed quoted field, or a record whose field count differs
  from the header's -> :class:`SourceParseError` with the line the record starts on;
- an empty file, an empty or duplicate header name, a missing key or required column
  -> :class:`HeaderError` (with a ``--delimiter`` hint when the header looks split with
  the wrong delimiter);
- a file that may still be being written -> :class:`SourceError` ("incomplete"): its last
  line has no line break (unless ``allow_no_final_newline``), or its size, modification
  time or identity changed while it was read. The check runs when the last batch has
  been read, so a run never computes deletes from a partial file;
- a path that is not a regular file (a named pipe, a device, a directory) ->
  :class:`SourceError` at once: a pipe would block the run, and can only be read once.

Speed: records are parsed by :mod:`csv` on a text stream and picked with
:func:`operator.itemgetter` a whole batch at a time; per-row Python code runs only for
batches that hold blank lines, multi-line records or errors. Memory is bounded by one
batch: the file is never read whole.
"""

from __future__ import annotations

import codecs
import csv
import io
import os
import stat
from collections.abc import Iterable, Iterator, Sequence
from itertools import islice, repeat
from operator import itemgetter
from typing import IO, Any

from syncline.errors import (
    ConfigError,
    HeaderError,
    SourceDecodeError,
    SourceError,
    SourceParseError,
)
from syncline.sources.base import BATCH, Batch, SourceColumn

__all__ = ["CsvSource"]

#: delimiters a wrongly split header is re-tried with, to suggest ``--delimiter``
_CANDIDATE_DELIMITERS = (",", ";", "\t", "|")
_DELIMITER_ALIASES = {"\\t": "\t", "tab": "\t", "TAB": "\t"}
#: byte-order marks, longest first (a UTF-32-LE mark starts like a UTF-16-LE one)
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
_RESCAN_CHUNK = 1 << 20
_SNIFF_BYTES = 64 * 1024
#: longest field accepted, in characters (the csv module's default is 131,072): a real
#: value may be long (a JSON document, a base64 image), but an unterminated quote must not
#: swallow a 1 GB file into memory before it is reported
FIELD_SIZE_LIMIT = 64 * 1024 * 1024
_FILE_KINDS = (
    (stat.S_ISFIFO, "a named pipe (FIFO)"),
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


class CsvSource:
    """A CSV file, read in batches of ``(line, values)`` records.

    ``encoding`` is any Python text codec; ``utf-8`` (the default) also strips a UTF-8
    byte-order mark. ``delimiter`` is one character (``\\t`` and ``tab`` mean a tab).
    ``allow_no_final_newline`` accepts a file whose last line has no line break (by
    default such a file is refused as possibly still being written).
    """

    name: str

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        encoding: str = "utf-8",
        delimiter: str = ",",
        batch_size: int = BATCH,
        allow_no_final_newline: bool = False,
    ) -> None:
        self.name = os.fspath(path)
        self.allow_no_final_newline = allow_no_final_newline
        self.encoding = encoding
        self._codec = _resolve_codec(encoding)
        self.delimiter = _resolve_delimiter(delimiter)
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ConfigError(
                f"batch_size must be a positive integer, not {batch_size!r}",
                field="batch_size",
                value=batch_size,
            )
        self.batch_size = batch_size
        self._header: list[str] | None = None
        self._header_line = 1
        self._opened_stat: os.stat_result | None = None

    def __repr__(self) -> str:
        return (
            f"CsvSource({self.name!r}, encoding={self.encoding!r}, "
            f"delimiter={self.delimiter!r}, batch_size={self.batch_size})"
        )

    # -- header ------------------------------------------------------------------------

    def columns(self) -> list[SourceColumn]:
        """The header's column names, in file order (reads the header only; cached)."""
        return [SourceColumn(name) for name in self._columns()]

    def _columns(self) -> list[str]:
        header = self._header
        if header is None:
            with self._open() as stream:
                reader = self._reader(stream)
                with self._translate_errors():
                    header = self._header = self._read_header(reader)
        return header

    def check_header(
        self,
        *,
        key: Sequence[str],
        required: Sequence[str],
        known: Sequence[str],
        strict: bool = False,
        table: str | None = None,
    ) -> list[str]:
        """Judge the header before any row is read; return warnings for unknown columns.

        Raises :class:`HeaderError` when a ``key`` or ``required`` column is missing, or
        (``strict``) when the header has a column not in ``known``. ``table`` only names
        the target in messages.
        """
        header = self._columns()
        present = set(header)
        missing_key = [name for name in key if name not in present]
        missing_required = [
            name for name in required if name not in present and name not in key
        ]
        if missing_key or missing_required:
            parts = []
            if missing_key:
                parts.append(f"key {_plural('column', missing_key)} {_names(missing_key)}")
            if missing_required:
                parts.append(
                    f"required {_plural('column', missing_required)} {_names(missing_required)}"
                )
            missing = missing_key + missing_required
            verb = "is" if len(missing) == 1 else "are"
            message = (
                f"{' and '.join(parts)} {verb} missing from the header "
                f"(header: {_names(header)})"
            )
            hints = self._header_hints(missing, header)
            if hints:
                message += ": " + "; ".join(hints)
            raise HeaderError(message, file=self.name, row=self._header_line, field=missing[0])

        known_set = set(known)
        unknown = [name for name in header if name not in known_set]
        where = f"table {table}" if table else "the target"
        if unknown and strict:
            one = len(unknown) == 1
            raise HeaderError(
                f"{_plural('column', unknown)} {_names(unknown)} {'is' if one else 'are'} not "
                f"in {where} (--strict-columns: remove {'it' if one else 'them'} from the "
                "file, or run without --strict-columns to ignore with a warning)",
                file=self.name,
                row=self._header_line,
                field=unknown[0],
            )
        return [f"column {name!r} is not in {where} and is ignored" for name in unknown]

    def _header_hints(self, missing: list[str], header: list[str]) -> list[str]:
        hints = []
        delimiter = self._guess_delimiter(missing, header)
        if delimiter is not None:
            hints.append(
                f"the file looks {_show_delimiter(delimiter)}-delimited: "
                f"try --delimiter {_show_delimiter(delimiter)}"
            )
        folded = {name.casefold(): name for name in header}
        for name in missing:
            other = folded.get(name.casefold())
            if other is not None:
                hints.append(f"the header has {other!r} (column names are case-sensitive)")
        return hints

    def _guess_delimiter(self, missing: list[str], header: list[str]) -> str | None:
        """Another delimiter the file seems to use, or ``None``."""
        candidates = [d for d in _CANDIDATE_DELIMITERS if d != self.delimiter]
        # 1. the header split with another delimiter holds the missing columns
        best: tuple[int, str] | None = None
        for candidate in candidates:
            names = self._reparse_header(candidate)
            if names is None:
                continue
            found = sum(1 for name in missing if name in names)
            if found and (best is None or found > best[0]):
                best = (found, candidate)
        if best is not None:
            return best[1]
        # 2. one header cell that holds another delimiter
        if len(header) == 1:
            counts = [(header[0].count(d), d) for d in candidates if d in header[0]]
            if counts:
                return max(counts)[1]
        # 3. the start of the file sniffs as another delimiter
        sample = self._sample_text()
        if sample:
            try:
                dialect = csv.Sniffer().sniff(sample, delimiters="".join(_CANDIDATE_DELIMITERS))
            except csv.Error:
                return None
            sniffed = str(dialect.delimiter)
            if sniffed != self.delimiter and len(self._reparse_header(sniffed) or ()) > len(header):
                return sniffed
        return None

    def _reparse_header(self, delimiter: str) -> list[str] | None:
        try:
            with self._open() as stream:
                reader = csv.reader(stream, delimiter=delimiter, strict=True)
                for row in reader:
                    if row:
                        return [cell.strip() for cell in row]
        except (SourceError, csv.Error, UnicodeDecodeError):
            return None
        return None

    def _sample_text(self) -> str:
        try:
            with self._open() as stream:
                sample = stream.read(_SNIFF_BYTES)
        except (SourceError, UnicodeDecodeError):
            return ""
        # whole lines only: a cut line would confuse the sniffer
        cut = sample.rfind("\n")
        return sample[: cut + 1] if cut >= 0 else sample

    def _read_header(self, reader: Any) -> list[str]:
        for row in reader:
            if row:
                break
        else:
            raise HeaderError("file is empty: it has no header row", file=self.name)
        self._header_line = _start_line(reader.line_num, row)
        names = [cell.strip() for cell in row]
        names[0] = names[0].lstrip("\ufeff").strip()
        empty = [str(i) for i, name in enumerate(names, 1) if not name]
        if empty:
            raise HeaderError(
                f"the header has an empty column name at {_plural('position', empty)} "
                f"{', '.join(empty)} (header: {_names(names)})",
                file=self.name,
                row=self._header_line,
            )
        positions: dict[str, list[int]] = {}
        for i, name in enumerate(names, 1):
            positions.setdefault(name, []).append(i)
        duplicates = {name: at for name, at in positions.items() if len(at) > 1}
        if duplicates:
            described = ", ".join(
                f"{name!r} (columns {', '.join(map(str, at))})" for name, at in duplicates.items()
            )
            raise HeaderError(
                f"the header has duplicate column names: {described}",
                file=self.name,
                row=self._header_line,
                field=next(iter(duplicates)),
            )
        return names

    # -- records -----------------------------------------------------------------------

    def read(self, fields: Sequence[str]) -> Iterator[Batch]:
        """All records in batches of ``batch_size``; values are raw strings in ``fields`` order.

        A field that is not in the header raises :class:`HeaderError` at once.
        """
        header = self._columns()
        position = {name: i for i, name in enumerate(header)}
        absent = [name for name in fields if name not in position]
        if absent:
            raise HeaderError(
                f"{_plural('field', absent)} {_names(absent)} not in the header "
                f"(header: {_names(header)})",
                file=self.name,
                row=self._header_line,
                field=absent[0],
            )
        return self._batches([position[name] for name in fields], list(header))

    @property
    def field_size_limit(self) -> int:
        """The longest field accepted, in characters (:data:`FIELD_SIZE_LIMIT`)."""
        return FIELD_SIZE_LIMIT

    def read_arrow(self, fields: Sequence[str]) -> Iterator[Any]:
        """The records of :meth:`read` as ``(lines, pyarrow.RecordBatch)`` pairs of raw
        text (:mod:`syncline.sources.csv_arrow`), for the columnar path."""
        from syncline.sources.csv_arrow import arrow_batches

        return arrow_batches(self, fields)

    def _batches(self, indexes: list[int], header: list[str]) -> Iterator[Batch]:
        with self._open() as stream:
            self._opened_stat = os.fstat(stream.fileno())
            reader = self._reader(stream)
            with self._translate_errors():
                if self._read_header(reader) != header:
                    raise HeaderError(
                        "the header changed while the file was being read", file=self.name
                    )
                yield from self._records(reader, indexes, len(header))
            self._check_complete(stream, reader.line_num)

    def _records(self, reader: Any, indexes: list[int], width: int) -> Iterator[Batch]:
        pick = _Picker(indexes, width)
        size = self.batch_size
        only_width = {width}
        line = reader.line_num  # the last line consumed so far
        pending: Batch = []
        while True:
            # tuples at once: the parser's lists die young, and tuples of strings drop
            # out of the garbage collector's sight (a third less time than keeping lists)
            rows: list[tuple[str, ...]] = list(map(tuple, islice(reader, size - len(pending))))
            if not rows:
                break
            end = reader.line_num
            if end - line == len(rows) and set(map(len, rows)) == only_width:
                # the usual batch: one line per record, all the header's width
                records: Batch = list(zip(range(line + 1, end + 1), pick(rows), strict=True))
            else:
                records = self._irregular(rows, line, end, pick, width)
            line = end
            if pending:
                pending.extend(records)
                records = pending
            if len(records) == size:
                yield records
                pending = []
            else:
                pending = records
        if pending:
            yield pending

    def _irregular(
        self,
        rows: list[tuple[str, ...]],
        line: int,
        end: int,
        pick: _Picker,
        width: int,
    ) -> Batch:
        """Number and check a batch with blank lines, multi-line records or bad widths."""
        multiline = end - line != len(rows)
        starts: list[int] = []
        kept: list[tuple[str, ...]] = []
        for row in rows:
            start = line + 1
            line += _lines_spanned(row, self.delimiter) if multiline else 1
            count = len(row)
            if count == width:
                starts.append(start)
                kept.append(row)
            elif count:
                raise SourceParseError(
                    f"line {start}: expected {width} {_plural('field', width)} as in the "
                    f"header, found {count}",
                    file=self.name,
                    row=start,
                )
        return list(zip(starts, pick(kept), strict=True))

    # -- files and errors --------------------------------------------------------------

    def _open(self) -> IO[str]:
        try:
            # O_NONBLOCK: opening a named pipe must not wait for a writer; the mode is
            # checked on the open descriptor, so the path cannot be swapped in between
            fd = os.open(self.name, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        except OSError as exc:
            raise SourceError(
                f"cannot open the file: {exc.strerror or exc}", file=self.name
            ) from exc
        try:
            mode = os.fstat(fd).st_mode
            if not stat.S_ISREG(mode):
                kind = next((what for test, what in _FILE_KINDS if test(mode)), "not a file")
                raise SourceError(
                    f"the source is not a regular file but {kind}: syncline must see a "
                    "complete file (it reads the header first, then the rows), so save the "
                    "data to a file first",
                    file=self.name,
                )
            if hasattr(os, "set_blocking"):
                os.set_blocking(fd, True)
            raw = open(fd, "rb")  # owns fd now; closed with the text wrapper returned
        except BaseException:
            os.close(fd)
            raise
        try:
            self._check_bom(raw.peek(4)[:4])
            return io.TextIOWrapper(raw, encoding=self._codec, errors="strict", newline="")
        except BaseException:
            raw.close()
            raise

    def _check_complete(self, stream: IO[str], last_line: int) -> None:
        """Refuse a file that may still be being written (see the module docstring)."""
        fd = stream.fileno()
        opened = self._opened_stat
        now = os.fstat(fd)
        try:
            named = os.stat(self.name)
        except OSError:
            named = None
        if opened is not None and (
            (now.st_size, now.st_mtime_ns) != (opened.st_size, opened.st_mtime_ns)
            or named is None or (named.st_dev, named.st_ino) != (now.st_dev, now.st_ino)
        ):
            after = "gone" if named is None else f"{named.st_size} bytes"
            raise SourceError(
                f"the file changed while it was being read ({opened.st_size} bytes when "
                f"opened, now {after}): it is incomplete or still being written. Nothing "
                "was written; run again once the file is complete",
                file=self.name,
            )
        if self.allow_no_final_newline or now.st_size == 0:
            return
        tail = os.pread(fd, 4, max(now.st_size - 4, 0))
        if not tail.endswith(_line_ends(self._codec)):
            raise SourceError(
                f"the file looks incomplete: its last line (line {last_line}) does not end "
                "with a line break, as a file that is still being written often does. "
                "Nothing was written. If the file is complete, pass "
                "--allow-no-final-newline (library: allow_no_final_newline=True)",
                file=self.name,
                row=last_line,
            )

    def _reader(self, stream: IO[str]) -> Any:
        csv.field_size_limit(FIELD_SIZE_LIMIT)  # process-wide; every reader here sets it
        return csv.reader(stream, delimiter=self.delimiter, strict=True)

    def _check_bom(self, start: bytes) -> None:
        """Refuse a byte-order mark that says another encoding: it means mojibake."""
        family = next((family for bom, family in _BOMS if start.startswith(bom)), None)
        if family is None:
            return
        codec = self._codec
        if family == "utf-8" and codec == "utf-8-sig":
            return
        if family == "utf-16" and codec.startswith("utf-16"):
            return
        if family == "utf-32" and (codec.startswith("utf-32") or codec.startswith("utf-16")):
            # FF FE 00 00 is also a UTF-16-LE mark followed by U+0000
            return
        raise SourceDecodeError(
            f"the file starts with a {family.upper()} byte-order mark but the encoding is "
            f"{self.encoding}: use --encoding {family}",
            file=self.name,
            row=1,
        )

    def _translate_errors(self) -> _ErrorTranslator:
        return _ErrorTranslator(self)

    def _decode_error(self, exc: UnicodeDecodeError) -> SourceDecodeError:
        found = self._find_bad_bytes()
        if found is None:  # pragma: no cover - the rescan disagrees with the text reader
            return SourceDecodeError(
                f"cannot decode the file as {self.encoding} ({exc.reason}): "
                "use --encoding to name the file's encoding",
                file=self.name,
            )
        offset, line, bad = found
        shown = " ".join(f"0x{byte:02x}" for byte in bad)
        what = "byte" if len(bad) == 1 else "bytes"
        return SourceDecodeError(
            f"cannot decode {what} {shown} at byte offset {offset} (line {line}) as "
            f"{self.encoding}: use --encoding to name the file's encoding",
            file=self.name,
            row=line,
            value=shown,
        )

    def _find_bad_bytes(self) -> tuple[int, int, bytes] | None:
        """Re-scan the file in binary: (byte offset, line, bytes) of the first bad bytes.

        Slow path, run only after the text reader met a decode error; reads in chunks so
        memory stays bounded.
        """
        codec = self._codec
        with open(self.name, "rb") as raw:
            fed = 0
            if codec == "utf-8-sig":
                codec = "utf-8"
                if raw.read(3) == codecs.BOM_UTF8:
                    fed = 3
                else:
                    raw.seek(0)
            decoder = codecs.getincrementaldecoder(codec)("strict")
            lines = _LineCounter()
            while True:
                chunk = raw.read(_RESCAN_CHUNK)
                state = decoder.getstate()
                try:
                    lines.feed(decoder.decode(chunk, not chunk))
                except UnicodeDecodeError as exc:
                    offset = fed - len(state[0]) + exc.start
                    before = offset - fed  # bytes of this chunk before the bad ones
                    if before > 0:
                        decoder.setstate(state)
                        try:
                            lines.feed(decoder.decode(chunk[:before], False))
                        except UnicodeDecodeError:  # pragma: no cover - codec quirk
                            pass
                    bad = bytes(exc.object[exc.start : exc.end])
                    raw.seek(offset)
                    if offset < 0 or raw.read(len(bad)) != bad:  # pragma: no cover
                        return None
                    return offset, lines.count + 1, bad
                if not chunk:
                    return None
                fed += len(chunk)

    def _parse_error(self, exc: csv.Error) -> SourceParseError:
        """Re-read up to the error to find the line the bad record starts on."""
        start = end = None
        reason = str(exc)
        with self._open() as stream:
            reader = self._reader(stream)
            last = 0
            try:
                for _row in reader:
                    last = reader.line_num
            except csv.Error as again:
                start, end, reason = last + 1, reader.line_num, str(again)
        if start is None or end is None:  # pragma: no cover - the error did not repeat
            return SourceParseError(f"malformed CSV: {reason}", file=self.name)
        if reason == "unexpected end of data":
            message = (
                f"line {start}: unterminated quoted field: the record starting on line {start} "
                f"is still inside quotes at the end of the file (line {end})"
            )
        elif reason.startswith("field larger than field limit"):
            where = f"line {start}" if start == end else f"lines {start} to {end}"
            message = (
                f"line {start}: a field of the record starting on line {start} is longer "
                f"than {FIELD_SIZE_LIMIT:,} characters, the limit for one value (read "
                f"{where} so far): usually a quote opened on line {start} that is never "
                "closed; otherwise the value is too big for syncline"
            )
        else:
            where = f"line {start}" if start == end else f"line {start} (to line {end})"
            message = f"{where}: malformed CSV: {reason}"
        return SourceParseError(message, file=self.name, row=start)


class _ErrorTranslator:
    """Turns codec and csv errors met while reading into syncline's errors."""

    def __init__(self, source: CsvSource) -> None:
        self.source = source

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: object, exc: BaseException | None, tb: object) -> None:
        if isinstance(exc, UnicodeDecodeError):
            raise self.source._decode_error(exc) from None
        if isinstance(exc, csv.Error):
            raise self.source._parse_error(exc) from None


class _Picker:
    """Picks the wanted fields of a whole list of rows at C speed."""

    def __init__(self, indexes: list[int], width: int) -> None:
        self.indexes = indexes
        self.identity = indexes == list(range(width))
        self.getter: Any = itemgetter(*indexes) if indexes else None

    def __call__(self, rows: list[tuple[str, ...]]) -> Iterable[tuple[str, ...]]:
        if self.identity:
            return rows
        if not self.indexes:
            return repeat((), len(rows))
        if len(self.indexes) == 1:
            # itemgetter of one index gives the value itself: zip makes it a 1-tuple
            return zip(map(self.getter, rows))
        return map(self.getter, rows)


class _LineCounter:
    """Counts line ends (``\\n``, ``\\r\\n`` or ``\\r``) over text fed in pieces."""

    def __init__(self) -> None:
        self.count = 0
        self._after_cr = False

    def feed(self, text: str) -> None:
        if not text:
            return
        self.count += text.count("\n") + text.count("\r") - text.count("\r\n")
        if self._after_cr and text[0] == "\n":
            self.count -= 1
        self._after_cr = text[-1] == "\r"


def _line_ends(codec: str) -> tuple[bytes, ...]:
    """The bytes a line break ends with in ``codec`` (both byte orders where it has two)."""
    base = "utf-8" if codec == "utf-8-sig" else codec
    names = [base + "-le", base + "-be"] if base in ("utf-16", "utf-32") else [base]
    ends = []
    for name in names:
        for char in "\n\r":
            try:
                ends.append(char.encode(name))
            except (UnicodeError, LookupError):  # pragma: no cover - a codec without them
                continue
    return tuple(ends) or (b"\n", b"\r")


def _lines_spanned(row: Sequence[str], delimiter: str) -> int:
    """How many lines a parsed record took in the file: 1 + the line ends in its values."""
    if not row:
        return 1
    text = delimiter.join(row)
    return 1 + text.count("\n") + text.count("\r") - text.count("\r\n")


def _start_line(end_line: int, row: list[str]) -> int:
    return end_line - _lines_spanned(row, ",") + 1


def _resolve_codec(encoding: str) -> str:
    try:
        info = codecs.lookup(encoding)
    except (LookupError, TypeError, ValueError):
        raise ConfigError(
            f"unknown encoding {encoding!r}: name a Python codec such as utf-8, utf-16, "
            "latin-1 or cp1252",
            field="encoding",
            value=encoding,
        ) from None
    if not getattr(info, "_is_text_encoding", True):
        raise ConfigError(
            f"{encoding!r} is not a text encoding", field="encoding", value=encoding
        )
    if info.name == "utf-8":
        return "utf-8-sig"  # strips a byte-order mark, reads plain UTF-8 the same
    return info.name


def _resolve_delimiter(delimiter: str) -> str:
    delimiter = _DELIMITER_ALIASES.get(delimiter, delimiter)
    if not isinstance(delimiter, str) or len(delimiter) != 1 or delimiter in "\"\r\n":
        raise ConfigError(
            f"the delimiter must be one character other than a quote or a line end, "
            f"not {delimiter!r}",
            field="delimiter",
            value=delimiter,
        )
    return delimiter


def _show_delimiter(delimiter: str) -> str:
    return "'\\t'" if delimiter == "\t" else f"'{delimiter}'"


def _names(names: Sequence[str]) -> str:
    return ", ".join(repr(name) for name in names)


def _plural(word: str, items: Sequence[object] | int) -> str:
    count = items if isinstance(items, int) else len(items)
    return word if count == 1 else word + "s"
