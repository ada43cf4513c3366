"""Whole-column coercion on Apache Arrow: the rule book of :mod:`syncline.types`, a column
at a time in compiled code.

:func:`arrow_coercer` gives, for a column whose kind it can do exactly, a function from a
column of raw source text (a ``pyarrow.StringArray`` without nulls, as a file gives it)
to ``(values, bad)``: ``values`` is the column's canonical values as an Arrow array, and
``bad`` a boolean mask of the rows the rule book refuses (None when there are none); a
refused row's entry in ``values`` is meaningless. The per-value coercer
(:func:`syncline.types.source_coercer`) stays the specification: for every row not in
``bad`` the value equals what it gives, and for every row in ``bad`` it raises — the
caller runs it on those rows only, for the error that names the value
(``tests/test_columnar.py`` proves the two agree, value for value).

Returns None for a column it cannot do exactly: the caller coerces that one per value.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from syncline.spec import ColumnSpec, TypeOptions

if TYPE_CHECKING:
    import pyarrow as pa

ArrowCoercer = Callable[["pa.Array"], tuple["pa.Array", "pa.Array | None"]]


def arrow_coercer(spec: ColumnSpec, options: TypeOptions) -> ArrowCoercer | None:
    """The whole-column coercer of this column, or None (coerce it per value)."""
    return None


def arrow_type(spec: ColumnSpec) -> Any:
    """The Arrow type of this column's canonical values, or None where it has none."""
    import pyarrow as pa

    simple = {"text": pa.string(), "integer": pa.int64(), "boolean": pa.bool_(),
              "date": pa.date32(), "float": pa.float64()}
    if spec.kind in simple:
        return simple[spec.kind]
    if (spec.kind == "decimal" and spec.scale is not None and spec.precision is not None
            and spec.precision <= 38):
        return pa.decimal128(spec.precision, spec.scale)
    return None
