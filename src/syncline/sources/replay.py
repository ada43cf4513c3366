"""A source read ahead, then replayed: what was read first is never read again.

Planning sometimes needs records before the run reads them: a sample to infer the column
types of ``--create-table``, or the first record a ``normalize_source`` hook returns, whose
fields are the ones the importer writes. A source that can be read only once (a generator)
would be empty after that; one read twice could differ between the reads. So the head is
read from the source's one and only read, kept, and replayed before the rest of that read.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from syncline.errors import HeaderError, SourceError
from syncline.sources.base import Batch, Record, Source, SourceColumn


class ReplaySource:
    """Wraps a source: :meth:`head` reads ahead, :meth:`read` replays it, then goes on."""

    def __init__(self, source: Source) -> None:
        self.source = source
        self.name = source.name
        self._names = [c.name for c in source.columns()]
        self._head: list[Batch] = []
        self._rest: Iterator[Batch] | None = None
        self._done = False  # the source's read has ended: no more batches
        self._replayed = False

    def __getattr__(self, name: str) -> Any:
        # what the source declares (``typed``, ``check_header``...) is the wrapper's too
        return getattr(self.source, name)

    def columns(self) -> list[SourceColumn]:
        return self.source.columns()

    def head(self, rows: int) -> list[Record]:
        """At least ``rows`` records (fewer when the source has fewer), in whole batches."""
        if self._replayed:
            raise SourceError(f"{self.name} is being read: it cannot be read ahead")
        if self._rest is None:
            self._rest = iter(self.source.read(self._names))
        while not self._done and sum(len(b) for b in self._head) < rows:
            batch = next(self._rest, None)
            if batch is None:
                self._done = True
            else:
                self._head.append(batch)
        return [record for batch in self._head for record in batch]

    def read(self, fields: Sequence[str]) -> Iterator[Batch]:
        """The records read ahead, then the rest of the same read, in ``fields`` order."""
        missing = [f for f in fields if f not in self._names]
        if missing:
            raise HeaderError(f"{self.name} has no column {', '.join(missing)}")
        if self._replayed:
            raise SourceError(f"{self.name} was already read in this run")
        self._replayed = True
        if self._rest is None:
            self._rest = iter(self.source.read(self._names))
        return self._replay(fields)

    def _replay(self, fields: Sequence[str]) -> Iterator[Batch]:
        assert self._rest is not None
        pick = None if list(fields) == self._names else [self._names.index(f) for f in fields]
        head, self._head = self._head, []
        for batch in head:
            yield _project(batch, pick)
        if not self._done:
            for batch in self._rest:
                yield _project(batch, pick)


def _project(batch: Batch, pick: list[int] | None) -> Batch:
    if pick is None:
        return batch
    return [(row, tuple(values[i] for i in pick)) for row, values in batch]
