"""CSV records as Arrow record batches, for the columnar path (see ``CsvSource.read_arrow``).

Yields ``(lines, batch)``: ``lines`` a ``pyarrow.Int64Array`` of the line each record starts
on, ``batch`` a ``pyarrow.RecordBatch`` of the raw text of ``fields`` (``pa.string()``, no
nulls: an empty field is ""), exactly the records and line numbers
:meth:`CsvSource.read` gives, and the same errors.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pyarrow as pa

ArrowBatch = tuple["pa.Array", "pa.RecordBatch"]


def arrow_batches(source: Any, fields: Sequence[str]) -> Iterator[ArrowBatch]:
    """The records of ``source`` (a :class:`CsvSource`) as Arrow batches."""
    import pyarrow as pa

    for batch in source.read(fields):
        numbers = pa.array([row for row, _ in batch], pa.int64())
        columns = [pa.array(list(col), pa.string())
                   for col in zip(*(values for _, values in batch), strict=True)]
        yield numbers, pa.RecordBatch.from_arrays(columns, names=list(fields))
