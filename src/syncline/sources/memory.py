"""Any Python iterable of mappings as a source (tests, scripts, API clients).

A list (any re-iterable collection) can be read by every run. An iterator or a generator
can be read only once: a second read is an error, never an empty source — an empty source
with deletes on would ask to delete every target record.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from syncline.errors import SourceError
from syncline.sources.base import BATCH, Batch, SourceColumn


class IterableSource:
    """Records from an iterable of dicts; row numbers count from 1."""

    def __init__(self, records: Iterable[Mapping[str, Any]], *, name: str = "records",
                 columns: Sequence[str] | None = None) -> None:
        self._records = records
        self.name = name
        self._names = list(columns) if columns is not None else None
        self._read = False

    @property
    def one_shot(self) -> bool:
        """True for an iterator or generator: its records can be read only once."""
        return iter(self._records) is self._records

    def columns(self) -> list[SourceColumn]:
        if self._names is None:
            if self.one_shot and self._read:
                raise self._exhausted()
            if not isinstance(self._records, Sequence):
                self._records = list(self._records)  # the names need every record
            names: dict[str, None] = {}
            for record in self._records:
                names.update(dict.fromkeys(record))
            self._names = list(names)
        return [SourceColumn(n) for n in self._names]

    def read(self, fields: Sequence[str]) -> Iterator[Batch]:
        if self.one_shot:
            if self._read:
                raise self._exhausted()
            self._read = True
        return self._batches(fields)

    def _batches(self, fields: Sequence[str]) -> Iterator[Batch]:
        batch: Batch = []
        for row, record in enumerate(self._records, start=1):
            batch.append((row, tuple(record.get(f) for f in fields)))
            if len(batch) >= BATCH:
                yield batch
                batch = []
        if batch:
            yield batch

    def _exhausted(self) -> SourceError:
        return SourceError(
            f"{self.name} was already read: an iterator or generator can be read only once;"
            " give a list, or a new source for each run (nothing was written)")
