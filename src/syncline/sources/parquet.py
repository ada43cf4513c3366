"""A Parquet file as a source, read with pyarrow in bounded batches.

Values are typed as the file types them: decimals stay ``Decimal`` (never a binary float),
timestamps are datetimes (aware where the column has a time zone), dates are dates. Row
numbers count records from 1.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from typing import Any

from syncline.errors import ConfigError, HeaderError, SourceParseError
from syncline.sources.base import BATCH, Batch, SourceColumn


def _parquet() -> Any:
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise ConfigError("reading .parquet files needs pyarrow (a dependency of"
                          " syncline): pip install pyarrow") from None
    return pq


class ParquetSource:
    """Records of a Parquet file (see the module's docstring)."""

    typed = True

    def __init__(self, path: str | os.PathLike[str], *, batch_size: int = BATCH) -> None:
        self.name = os.fspath(path)
        self.batch_size = batch_size

    def _file(self) -> Any:
        pq = _parquet()
        import pyarrow as pa

        try:
            return pq.ParquetFile(self.name)
        except (pa.ArrowException, OSError) as exc:
            raise SourceParseError(f"not a readable Parquet file: {exc}",
                                   file=self.name) from None

    def columns(self) -> list[SourceColumn]:
        names = list(self._file().schema_arrow.names)
        if len(set(names)) != len(names):
            raise HeaderError(f"the file has duplicate column names: {names}", file=self.name)
        return [SourceColumn(n) for n in names]

    def read(self, fields: Sequence[str]) -> Iterator[Batch]:
        import pyarrow as pa

        parquet = self._file()
        row = 0
        try:
            for part in parquet.iter_batches(batch_size=self.batch_size, columns=list(fields)):
                columns = [part.column(f).to_pylist() for f in fields]
                batch: Batch = []
                for values in zip(*columns, strict=True):
                    row += 1
                    batch.append((row, values))
                yield batch
        except pa.ArrowException as exc:
            raise SourceParseError(f"reading failed after {row} records: {exc}",
                                   file=self.name, row=row + 1) from None
