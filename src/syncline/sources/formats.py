"""A source file by its format: ``--format``, else the file's extension, else CSV."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from syncline.errors import ConfigError

#: the formats ``--format`` takes
FORMATS = ("csv", "jsonl", "parquet", "xlsx")
_BY_EXTENSION = {".csv": "csv", ".tsv": "csv", ".txt": "csv", ".jsonl": "jsonl",
                 ".ndjson": "jsonl", ".parquet": "parquet", ".pq": "parquet", ".xlsx": "xlsx",
                 ".xlsm": "xlsx", ".xls": "xlsx", ".ods": "xlsx"}


def format_of(path: str | os.PathLike[str], given: str | None = None) -> str:
    """``given``, else the format the extension names, else ``csv``."""
    if given is not None:
        if given not in FORMATS:
            raise ConfigError(f"unknown format {given!r} (formats: {', '.join(FORMATS)})")
        return given
    return _BY_EXTENSION.get(Path(path).suffix.lower(), "csv")


def file_source(path: str | os.PathLike[str], *, format: str | None = None,
                encoding: str = "utf-8", delimiter: str = ",", sheet: str | None = None,
                allow_no_final_newline: bool = False) -> Any:
    """The source that reads ``path`` (see :func:`format_of`)."""
    kind = format_of(path, format)
    if sheet is not None and kind != "xlsx":
        raise ConfigError(f"--sheet is for spreadsheets; {os.fspath(path)} is read as {kind}")
    if kind == "jsonl":
        from syncline.sources.jsonl import JsonLinesSource

        return JsonLinesSource(path, encoding=encoding,
                               allow_no_final_newline=allow_no_final_newline)
    if kind == "parquet":
        from syncline.sources.parquet import ParquetSource

        return ParquetSource(path)
    if kind == "xlsx":
        from syncline.sources.excel import ExcelSource

        return ExcelSource(path, sheet=sheet)
    from syncline.sources.csv import CsvSource

    if delimiter == "," and Path(path).suffix.lower() == ".tsv":
        delimiter = "\t"
    return CsvSource(path, encoding=encoding, delimiter=delimiter,
                     allow_no_final_newline=allow_no_final_newline)
