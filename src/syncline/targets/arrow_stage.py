"""Staging a ``pyarrow.RecordBatch`` of canonical values: what the dialects'
:meth:`~syncline.targets.dialect.Dialect.bulk_load_arrow` share.

A batch is taken only when every column has one of the canonical Arrow types the dialects
know how to store exactly as :meth:`~syncline.targets.dialect.Dialect.bulk_load` stores
the same values (:func:`supported`); any other type: the caller stages the rows the old way.
pyarrow is imported inside the functions (the CLI starts without it).
"""

from __future__ import annotations

from typing import Any


def supported(batch: Any) -> bool:
    """Every column of ``batch`` is text, int64, decimal128 (scale >= 0), bool, date32 or
    float64: the canonical types :mod:`syncline.columnar` gives."""
    import pyarrow as pa

    for field in batch.schema:
        t = field.type
        if t == pa.string() or t == pa.int64() or t == pa.bool_() or t == pa.date32() \
                or t == pa.float64():
            continue
        if pa.types.is_decimal128(t) and t.scale >= 0:
            continue
        return False
    return True


def csv_bytes(batch: Any, *, null: str = "") -> Any:
    """``batch`` as CSV without a header, ``\\n`` ending each record: every text value
    quoted (``""`` is the empty string, quotes doubled, nothing else escaped), a NULL written
    as ``null`` unquoted, numbers, decimals (exact, at their scale), dates (ISO) and floats
    (shortest round-trip) plain, booleans as ``true``/``false``. A ``pyarrow.Buffer``."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    sink = pa.BufferOutputStream()
    pacsv.write_csv(batch, sink, pacsv.WriteOptions(
        include_header=False, quoting_style="needed", null_string=null, eol="\n"))
    return sink.getvalue()


def booleans_as_integers(batch: Any) -> Any:
    """``batch`` with its boolean columns as int8 (1/0, NULL kept)."""
    import pyarrow as pa

    columns = [c.cast(pa.int8()) if c.type == pa.bool_() else c for c in batch.columns]
    return pa.RecordBatch.from_arrays(columns, names=batch.schema.names)
