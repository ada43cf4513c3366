"""A file as the target (docs/exporters.md): ``.csv``, ``.jsonl``, ``.xlsx``, ``.parquet``.

:class:`FileTarget` implements :class:`~syncline.targets.protocol.Target`. It reads the
current file (if any) into memory, applies a change set to those records, and on
:meth:`~FileTarget.commit` writes every record, in key order (re-exports diff cleanly
under git), to a temporary file in the same folder, fsyncs it and renames it over the
file: the file is the old one or the new one, never half-written. Nothing is written
before ``commit``; a dry run never calls it.

Spreadsheet cells (CSV, XLSX) that would run as a formula (they start with ``=``, ``+``,
``-``, ``@``, tab or CR) are written with a leading ``'`` (RELIABILITY row 33), and so is
text that starts with ``'`` itself, so that reading the file back strips exactly one
``'`` and gives the value written. ``escape_formulas=False`` (``--allow-formulas``)
writes and reads cells as they are.

``.xlsx`` needs the ``xlsx`` extra (openpyxl), ``.parquet`` the ``parquet`` extra (pyarrow);
both are imported only when such a file is used.
"""

from __future__ import annotations

import csv
import json
import os
import tempfile
from collections.abc import Callable, Generator, Iterator, Sequence
from datetime import date, datetime, time
from decimal import Decimal
from pathlib import Path
from typing import IO, Any

from syncline.columnar import arrow_type
from syncline.diff import ChangeSet, Key, Values
from syncline.errors import ConfigError, OutputError, SourceError, SynclineError
from syncline.faults import pause_point
from syncline.rejects import FORMULA_START, check_path
from syncline.spec import ColumnSpec, TypeOptions
from syncline.targets.protocol import Applied, TargetCapabilities, TargetModel
from syncline.text import to_text

#: the formats, by file suffix, and the extra each needs (None: the core install)
FORMATS: dict[str, str | None] = {".csv": None, ".jsonl": None, ".xlsx": "xlsx",
                                  ".parquet": "parquet"}
#: the largest integer a spreadsheet's float holds exactly; larger ones are written as text
_EXACT_INT = 2 ** 53
#: significant digits a spreadsheet's float holds; longer decimals are written as text
_EXACT_DIGITS = 15


def require_extra(module: str, extra: str) -> Any:
    """Import an optional dependency, or say which extra installs it."""
    import importlib

    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        raise ConfigError(f"{extra} files need the optional package {module.split('.')[0]}:"
                          f" pip install 'syncline[{extra}]'") from exc


def _escaped(text: str) -> str:
    return "'" + text if text.startswith((*FORMULA_START, "'")) else text


def _unescaped(text: str) -> str:
    return text[1:] if text.startswith("'") else text


class FileTarget:
    """A ``.csv``/``.jsonl``/``.xlsx``/``.parquet`` file holding one model's records."""

    def __init__(self, path: str | os.PathLike[str], *, escape_formulas: bool = True) -> None:
        self.path = Path(path)
        self.name = str(path)
        self.format = self.path.suffix.lower()
        if self.format not in FORMATS:
            raise ConfigError(f"cannot export to {self.name}: the file name must end in one"
                              f" of {', '.join(FORMATS)}", file=self.name)
        extra = FORMATS[self.format]
        if extra is not None:  # before anything is read: a missing extra is a clear error
            require_extra("openpyxl" if extra == "xlsx" else "pyarrow.parquet", extra)
        self.escape_formulas = escape_formulas
        self.capabilities = TargetCapabilities(can_rollback=True,
                                               empty=not self.path.exists())
        self._model: TargetModel | None = None
        self._records: dict[Key, Values] = {}
        self._temp: Path | None = None
        self._changed = False

    # -- the Target protocol ------------------------------------------------------------
    def check_inputs(self, inputs: Sequence[tuple[Path, str]]) -> None:
        """Refuse a file that is an input of the run (the source file or database) or
        cannot be written (RELIABILITY row 36), before anything is read."""
        check_path(self.path, inputs, option="DEST", noun="export")

    def open(self, model: TargetModel) -> None:
        self._model = model

    def read(self) -> Iterator[Values]:
        """The file's records, canonical; each is kept to be written again on commit."""
        model = self._require_model()
        if not self.path.exists():
            return
        coercers = model.coercers(_reading_types(self.format, model.types))
        key_index = model.key_index
        for line, raw in self._raw_rows(model):
            try:
                values = tuple(c(v) for c, v in zip(coercers, raw, strict=True))
            except SynclineError as exc:
                raise SourceError(f"{self.name} row {line}: {exc.message}; the file is not"
                                  " what this export writes (nothing was written)",
                                  file=self.name, row=line, field=exc.field,
                                  value=exc.value) from exc
            self._records[tuple(values[i] for i in key_index)] = values
            yield values

    def begin(self) -> None:
        """Nothing to do: every change is held in memory until :meth:`commit`."""

    def apply(self, changes: ChangeSet, applied: Applied) -> None:
        records = self._records
        self._changed = self._changed or bool(changes)
        for create in changes.creates:
            records[create.key] = create.values
            applied.created.append(create.key)
        for update in changes.updates:
            records.pop(tuple(update.old_values[i] for i in self._require_model().key_index),
                        None)
            records[update.key] = update.new_values
            applied.updated.append(update.key)
        for delete in changes.deletes:
            records.pop(delete.key, None)
            applied.deleted.append(delete.key)

    def commit(self) -> None:
        """Write every record in key order to a temporary file, fsync, rename over (a
        file that exists and did not change is left as it is)."""
        model = self._require_model()
        if not self._changed and self.path.exists():
            return
        rows = [self._records[k] for k in sorted(self._records, key=_sort_key)]
        try:
            handle = tempfile.NamedTemporaryFile(
                "wb", dir=self.path.resolve().parent, prefix=f".{self.path.name}.",
                suffix=".tmp", delete=False)
            self._temp = Path(handle.name)
            with handle:
                _WRITERS[self.format](self, model, rows, handle)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(self._temp, self.path)
            self._temp = None
            _fsync_folder(self.path.resolve().parent)
        except OSError as exc:
            self.rollback()
            raise OutputError(f"cannot write {self.name}: {exc.strerror or exc}; the file"
                              " is as it was", file=self.name) from exc
        except ValueError as exc:  # a value the format cannot hold (control characters)
            self.rollback()
            raise OutputError(f"cannot write {self.name}: {exc}; the file is as it was",
                              file=self.name) from exc

    def rollback(self) -> None:
        if self._temp is not None:
            self._temp.unlink(missing_ok=True)
            self._temp = None

    def close(self) -> None:
        self.rollback()
        self._records = {}

    # -- reading --------------------------------------------------------------------
    def _require_model(self) -> TargetModel:
        if self._model is None:
            raise ConfigError(f"{self.name}: open(model) comes first")
        return self._model

    def _raw_rows(self, model: TargetModel) -> Iterator[tuple[int, list[Any]]]:
        """(row number, raw values in ``fields`` order); a field the file lacks is None
        (its records are then updated: the column is added)."""
        names, rows = _READERS[self.format](self)
        missing = [k for k in model.key if k not in names]
        if missing:
            raise SourceError(f"{self.name} has no column {', '.join(missing)} (the key);"
                              " it was not written by this export (nothing was written)",
                              file=self.name)
        where = [names.index(f) if f in names else None for f in model.fields]
        unescape = self.escape_formulas and self.format in (".csv", ".xlsx")
        for line, row in rows:
            values = [None if i is None or i >= len(row) else row[i] for i in where]
            if unescape:
                values = [_unescaped(v) if isinstance(v, str) else v for v in values]
            yield line, values


RowsReader = tuple[list[str], Iterator[tuple[int, Sequence[Any]]]]


def _read_csv(target: FileTarget) -> RowsReader:
    with target.path.open(newline="", encoding="utf-8") as handle:
        names = next(csv.reader(handle), [])

    def rows() -> Iterator[tuple[int, Sequence[Any]]]:
        with target.path.open(newline="", encoding="utf-8") as handle:
            reader = csv.reader(handle)
            next(reader, None)
            for row in reader:
                yield reader.line_num, [None if v == "" else v for v in row]

    return names, rows()


def _read_jsonl(target: FileTarget) -> RowsReader:
    names = list(target._require_model().fields)
    key = target._require_model().key

    def rows() -> Iterator[tuple[int, Sequence[Any]]]:
        with target.path.open(encoding="utf-8") as handle:
            for line, text in enumerate(handle, start=1):
                if not text.strip():
                    continue
                try:
                    record = json.loads(text)
                except json.JSONDecodeError as exc:
                    raise SourceError(f"{target.name} line {line}: not JSON ({exc.msg})",
                                      file=target.name, row=line) from exc
                if not isinstance(record, dict) or any(k not in record for k in key):
                    raise SourceError(f"{target.name} line {line}: not a record with the key"
                                      f" {', '.join(key)}", file=target.name, row=line)
                yield line, [record.get(n) for n in names]

    return names, rows()


def _read_xlsx(target: FileTarget) -> RowsReader:
    openpyxl = require_extra("openpyxl", "xlsx")

    def sheet_rows() -> Generator[tuple[Any, ...], None, None]:
        book = openpyxl.load_workbook(target.path, read_only=True, data_only=True)
        try:
            yield from book.worksheets[0].iter_rows(values_only=True)
        finally:
            book.close()

    header = sheet_rows()
    names = [str(n) for n in next(header, ()) if n is not None]
    header.close()

    def rows() -> Iterator[tuple[int, Sequence[Any]]]:
        cells = sheet_rows()
        next(cells, None)
        for line, row in enumerate(cells, start=2):
            if any(v is not None for v in row):
                yield line, row

    return names, rows()


def _read_parquet(target: FileTarget) -> RowsReader:
    parquet = require_extra("pyarrow.parquet", "parquet")
    table = parquet.read_table(target.path)
    names = list(table.column_names)

    def rows() -> Iterator[tuple[int, Sequence[Any]]]:
        line = 0
        for batch in table.to_batches():
            columns = [c.to_pylist() for c in batch.columns]
            for row in zip(*columns, strict=True):
                line += 1
                yield line, row

    return names, rows()


_READERS: dict[str, Callable[[FileTarget], RowsReader]] = {
    ".csv": _read_csv, ".jsonl": _read_jsonl, ".xlsx": _read_xlsx, ".parquet": _read_parquet}


def _reading_types(fmt: str, types: TypeOptions) -> TypeOptions:
    """A CSV cell holds text, never NULL: its empty cell is read as NULL; text is never
    stripped (the file holds what was exported)."""
    from dataclasses import replace

    return replace(types, strip_text=False, typed_source=fmt != ".csv")


# -- writing --------------------------------------------------------------------------
def _sort_key(key: Key) -> tuple[Any, ...]:
    # keys never hold NULL; (False, value) keeps a mixed-type part from failing the sort
    return tuple((type(p).__name__, p) for p in key)


def _cell_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True)
    return to_text(value)


def _write_csv(target: FileTarget, model: TargetModel, rows: list[Values],
               handle: IO[bytes]) -> None:
    import io

    text = io.TextIOWrapper(handle, encoding="utf-8", newline="", write_through=True)
    writer = csv.writer(text)
    writer.writerow(model.fields)
    escape = target.escape_formulas
    for count, values in enumerate(rows):
        writer.writerow([_escaped(v) if escape and isinstance(v, str) else _cell_text(v)
                         for v in values])
        if count == len(rows) // 2:
            pause_point("mid_export")
    text.flush()
    text.detach()  # the caller closes the file after fsync


def _json_value(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str | dict | list):
        return value
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    return _cell_text(value)  # Decimal exactly, as text; uuid, interval...


def _write_jsonl(target: FileTarget, model: TargetModel, rows: list[Values],
                 handle: IO[bytes]) -> None:
    for count, values in enumerate(rows):
        record = {f: _json_value(v) for f, v in zip(model.fields, values, strict=True)}
        handle.write(json.dumps(record, ensure_ascii=False).encode("utf-8") + b"\n")
        if count == len(rows) // 2:
            pause_point("mid_export")


def _xlsx_value(value: Any, spec: ColumnSpec, escape: bool) -> Any:
    if value is None or isinstance(value, bool | float | date | time):
        if isinstance(value, datetime) and value.tzinfo is not None:
            return value.replace(tzinfo=None)  # the wall time in the run's zone
        if isinstance(value, time) and value.tzinfo is not None:
            return value.replace(tzinfo=None)
        return value
    if isinstance(value, int):
        return value if abs(value) <= _EXACT_INT else str(value)
    if isinstance(value, Decimal):
        digits = len(value.as_tuple().digits)
        return float(value) if digits <= _EXACT_DIGITS else _cell_text(value)
    if isinstance(value, str):
        return _escaped(value) if escape else value
    return _cell_text(value)


def _write_xlsx(target: FileTarget, model: TargetModel, rows: list[Values],
                handle: IO[bytes]) -> None:
    openpyxl = require_extra("openpyxl", "xlsx")
    book = openpyxl.Workbook(write_only=True)
    sheet = book.create_sheet(model.name[:31] or "export")
    sheet.append(list(model.fields))
    specs = [model.specs[f] for f in model.fields]
    escape = target.escape_formulas
    illegal = require_extra("openpyxl.utils.exceptions", "xlsx").IllegalCharacterError
    for values in rows:
        try:
            sheet.append([_xlsx_value(v, s, escape)
                          for v, s in zip(values, specs, strict=True)])
        except illegal as exc:
            key = tuple(values[i] for i in model.key_index)
            raise ValueError(f"record {key!r} holds a control character an XLSX cell cannot"
                             " hold") from exc
    pause_point("mid_export")
    book.save(handle)


def _arrow_type(spec: ColumnSpec) -> Any:
    """The Parquet column's type: the canonical Arrow type of the kind
    (:func:`syncline.columnar.arrow_type`), else one for the kinds it has none for."""
    pa = require_extra("pyarrow", "parquet")
    known = arrow_type(spec)
    if known is not None:
        return known
    kind = spec.kind
    if kind == "integer":
        return pa.int64()
    if kind == "datetime":
        return pa.timestamp("us", tz="UTC" if spec.timezone else None)
    if kind == "time":
        return pa.time64("us")
    if kind == "binary":
        return pa.binary()
    return pa.string()


def _arrow_value(value: Any, spec: ColumnSpec, arrow_type: Any) -> Any:
    pa = require_extra("pyarrow", "parquet")
    if value is None:
        return None
    if isinstance(value, datetime) and value.tzinfo is not None:
        if spec.timezone:
            return value
        return value.replace(tzinfo=None)  # the wall time in the run's zone
    if arrow_type == pa.string() and not isinstance(value, str):
        return _cell_text(value)
    return value


def _write_parquet(target: FileTarget, model: TargetModel, rows: list[Values],
                   handle: IO[bytes]) -> None:
    pa = require_extra("pyarrow", "parquet")
    parquet = require_extra("pyarrow.parquet", "parquet")
    specs = [model.specs[f] for f in model.fields]
    types = [_arrow_type(s) for s in specs]
    columns = [pa.array([_arrow_value(r[i], s, t) for r in rows], type=t)
               for i, (s, t) in enumerate(zip(specs, types, strict=True))]
    table = pa.Table.from_arrays(columns, names=list(model.fields))
    pause_point("mid_export")
    parquet.write_table(table, handle)


_WRITERS: dict[str, Callable[[FileTarget, TargetModel, list[Values], IO[bytes]], None]] = {
    ".csv": _write_csv, ".jsonl": _write_jsonl, ".xlsx": _write_xlsx,
    ".parquet": _write_parquet}


def _fsync_folder(folder: Path) -> None:
    """The rename itself survives a power cut once the folder is synced (POSIX)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some file systems cannot sync a folder; the rename is still atomic
    finally:
        os.close(fd)
