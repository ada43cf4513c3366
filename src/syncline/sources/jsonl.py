"""A JSON Lines file (``.jsonl``, ``.ndjson``) as a source: one JSON object per line.

Values are typed as JSON types them, and numbers stay exact: ``415.09`` is read as the
decimal 415.09, never through a binary float. The first record names the columns; every
later record must have the same fields (in any order) — a record with a field the first
lacks, or without one the first has, is an error naming its line and the field (a JSON
export whose shape drifts is refused, as a CSV file whose header drifts is). ``null`` is
NULL; a field given twice in one record is refused. Row numbers are line numbers. Blank
lines are skipped. A last line without a line break is refused (the file may still be
being written) unless ``allow_no_final_newline``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Sequence
from decimal import Decimal
from typing import Any

from syncline.errors import HeaderError, SourceDecodeError, SourceParseError
from syncline.sources.base import BATCH, Batch, SourceColumn


class _Twice(ValueError):
    """A field given twice in one object."""


def _fields(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    record = dict(pairs)
    if len(record) != len(pairs):
        seen: set[str] = set()
        for name, _ in pairs:
            if name in seen:
                raise _Twice(name)
            seen.add(name)
    return record


_decoder = json.JSONDecoder(parse_float=Decimal, object_pairs_hook=_fields)


class JsonLinesSource:
    """Records of a JSON Lines file (see the module's docstring)."""

    #: values are typed: text is copied exactly
    typed = True

    def __init__(self, path: str | os.PathLike[str], *, encoding: str = "utf-8",
                 batch_size: int = BATCH, allow_no_final_newline: bool = False) -> None:
        self.name = os.fspath(path)
        self.encoding = encoding
        self.batch_size = batch_size
        self.allow_no_final_newline = allow_no_final_newline
        self._names: list[str] | None = None

    def columns(self) -> list[SourceColumn]:
        if self._names is None:
            for _line, record in self._records():
                self._names = list(record)
                break
            else:
                raise HeaderError("file has no records: its first record names the columns",
                                  file=self.name)
        return [SourceColumn(n) for n in self._names]

    def read(self, fields: Sequence[str]) -> Iterator[Batch]:
        names = [c.name for c in self.columns()]
        expected = set(names)
        batch: Batch = []
        for line, record in self._records():
            if record.keys() != expected:
                extra = sorted(record.keys() - expected)
                lacking = [n for n in names if n not in record]
                what = (f"has field {extra[0]!r} that the first record lacks" if extra
                        else f"lacks field {lacking[0]!r} that the first record has")
                raise SourceParseError(f"line {line}: the record {what} (every record must"
                                       " have the same fields; use null for no value)",
                                       file=self.name, row=line,
                                       field=extra[0] if extra else lacking[0])
            batch.append((line, tuple(record[f] for f in fields)))
            if len(batch) >= self.batch_size:
                yield batch
                batch = []
        if batch:
            yield batch

    def _records(self) -> Iterator[tuple[int, dict[str, Any]]]:
        with open(self.name, "rb") as stream:
            line = 0
            for raw in stream:
                line += 1
                if not raw.endswith(b"\n") and not self.allow_no_final_newline and raw.strip():
                    raise SourceParseError(
                        f"line {line}: the last line has no line break: the file may still be"
                        " being written (pass --allow-no-final-newline if it is complete)",
                        file=self.name, row=line)
                try:
                    text = raw.decode(self.encoding)
                except UnicodeDecodeError as exc:
                    raise SourceDecodeError(f"line {line}: bytes that are not {self.encoding}"
                                            f" at byte {exc.start} of the line",
                                            file=self.name, row=line) from None
                if line == 1:
                    text = text.lstrip("\ufeff")
                if not text.strip():
                    continue
                try:
                    record = _decoder.decode(text)
                except _Twice as twice:
                    raise SourceParseError(f"line {line}: the record has field"
                                           f" {twice.args[0]!r} twice (which one is meant?)",
                                           file=self.name, row=line,
                                           field=twice.args[0]) from None
                except json.JSONDecodeError as exc:
                    raise SourceParseError(f"line {line}: not JSON: {exc.msg} at column"
                                           f" {exc.colno}", file=self.name, row=line) from None
                if not isinstance(record, dict):
                    raise SourceParseError(f"line {line}: a JSON {type(record).__name__}, not"
                                           " an object (one object per line)",
                                           file=self.name, row=line)
                yield line, record
