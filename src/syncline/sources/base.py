"""What every source offers the engine.

A source yields *batches* of records; a record is ``(row_number, values)`` where
``values`` is a tuple in the order of the ``fields`` asked for, holding raw values
(strings from a file, Python values from a database). The row number is what a person
uses to find the record: the line a CSV record starts on, the 1-based position in a
query result or an iterable.

A source raises :class:`~syncline.errors.SourceError` when it cannot be read
completely; the engine never computes deletes from a partial read.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

Record = tuple[int, tuple[Any, ...]]
Batch = list[Record]
#: rows a source yields, and a target reads, at a time
BATCH = 10_000


@dataclass(frozen=True)
class SourceColumn:
    """A column the source offers; ``sql_type`` is known for SQL sources only."""

    name: str
    sql_type: Any = None


@runtime_checkable
class Source(Protocol):
    """A readable source of records."""

    #: what messages call it: a file path, ``table x`` or ``query``
    name: str

    def columns(self) -> list[SourceColumn]:
        """The columns the source offers, in its own order (reads only the header)."""
        ...

    def read(self, fields: Sequence[str]) -> Iterator[Batch]:
        """All records, in batches, with values in ``fields`` order."""
        ...
