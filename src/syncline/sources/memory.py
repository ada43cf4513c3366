"""Any Python iterable of mappings as a source (tests, scripts, API clients)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from syncline.sources.base import Batch, SourceColumn

BATCH = 10_000


class IterableSource:
    """Records from an iterable of dicts; row numbers count from 1."""

    def __init__(self, records: Iterable[Mapping[str, Any]], *, name: str = "records",
                 columns: Sequence[str] | None = None) -> None:
        self._records = records
        self.name = name
        self._names = list(columns) if columns is not None else None

    def columns(self) -> list[SourceColumn]:
        if self._names is None:
            if not isinstance(self._records, Sequence):
                self._records = list(self._records)
            names: dict[str, None] = {}
            for record in self._records:
                names.update(dict.fromkeys(record))
            self._names = list(names)
        return [SourceColumn(n) for n in self._names]

    def read(self, fields: Sequence[str]) -> Iterator[Batch]:
        batch: Batch = []
        for row, record in enumerate(self._records, start=1):
            batch.append((row, tuple(record.get(f) for f in fields)))
            if len(batch) >= BATCH:
                yield batch
                batch = []
        if batch:
            yield batch
