"""An Excel (``.xlsx``, ``.xlsm``, ``.xls``) or OpenDocument (``.ods``) sheet as a source,
read with python-calamine (``pip install 'syncline[xlsx]'``).

The first non-empty row of the sheet (``--sheet NAME``, default the first) is the header:
names must be non-empty text and unique. Cells are typed as the workbook types them:
numbers (Excel keeps every number as a binary double; a whole number is read as an
integer, any other number by its shortest exact decimal spelling, so 415.09 is 415.09),
text (copied exactly), booleans, dates and times. An empty cell is NULL. Row numbers are
the sheet's own row numbers, as Excel shows them.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from decimal import Decimal
from typing import Any

from syncline.errors import ConfigError, HeaderError, SourceParseError
from syncline.sources.base import BATCH, Batch, SourceColumn


def _calamine() -> Any:
    try:
        import python_calamine
    except ImportError:
        raise ConfigError("reading spreadsheets needs python-calamine: pip install"
                          " 'syncline[xlsx]'") from None
    return python_calamine


def _cell(value: Any) -> Any:
    if value == "":
        return None
    if isinstance(value, float):
        if value.is_integer():
            return int(value)
        return Decimal(repr(value))  # the shortest spelling that reads back as this double
    return value


class ExcelSource:
    """Records of one sheet of a workbook (see the module's docstring)."""

    typed = True

    def __init__(self, path: str | os.PathLike[str], *, sheet: str | None = None,
                 batch_size: int = BATCH) -> None:
        self.name = os.fspath(path)
        self.sheet = sheet
        self.batch_size = batch_size
        self._header: tuple[int, list[str]] | None = None

    def _rows(self) -> Iterator[tuple[int, list[Any]]]:
        calamine = _calamine()
        try:
            book = calamine.CalamineWorkbook.from_path(self.name)
            if self.sheet is None:
                sheet = book.get_sheet_by_index(0)
            elif self.sheet in book.sheet_names:
                sheet = book.get_sheet_by_name(self.sheet)
            else:
                raise ConfigError(f"{self.name} has no sheet {self.sheet!r} (sheets:"
                                  f" {', '.join(book.sheet_names)})", file=self.name)
            first = (sheet.start or (0, 0))[0] + 1
            yield from enumerate(sheet.iter_rows(), start=first)
        except (calamine.CalamineError, calamine.ZipError, calamine.XmlError,
                calamine.PasswordError, OSError, ValueError) as exc:
            raise SourceParseError(f"not a readable workbook: {exc}", file=self.name) from None

    def columns(self) -> list[SourceColumn]:
        return [SourceColumn(n) for n in self._columns()[1]]

    def _columns(self) -> tuple[int, list[str]]:
        if self._header is None:
            for number, row in self._rows():
                if any(c != "" for c in row):
                    self._header = (number, self._names(number, row))
                    break
            else:
                raise HeaderError("the sheet is empty: it has no header row", file=self.name)
        return self._header

    def _names(self, number: int, row: list[Any]) -> list[str]:
        names = [c.strip() if isinstance(c, str) else c for c in row]
        while names and names[-1] == "":
            names.pop()
        bad = [str(i) for i, n in enumerate(names, 1) if not isinstance(n, str) or not n]
        if bad:
            raise HeaderError(f"row {number}: the header has an empty or non-text column name"
                              f" at position {', '.join(bad)}", file=self.name, row=number)
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise HeaderError(f"row {number}: the header has duplicate column names:"
                              f" {', '.join(map(repr, twice))}", file=self.name, row=number,
                              field=twice[0])
        return names

    def read(self, fields: Sequence[str]) -> Iterator[Batch]:
        header_row, names = self._columns()
        index = [names.index(f) for f in fields]
        width = len(names)
        batch: Batch = []
        for number, row in self._rows():
            if number <= header_row:
                continue
            if all(c == "" for c in row):
                continue  # an empty row (Excel keeps formatted empty rows)
            beyond = [c for c in row[width:] if c != ""]
            if beyond:
                raise SourceParseError(f"row {number}: a value right of the last named column"
                                       f" ({beyond[0]!r})", file=self.name, row=number,
                                       value=beyond[0])
            batch.append((number, tuple(_cell(row[i]) if i < len(row) else None
                                        for i in index)))
            if len(batch) >= self.batch_size:
                yield batch
                batch = []
        if batch:
            yield batch
