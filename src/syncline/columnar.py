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

Covered: text (stripped or not, ``fixed``, length, NUL, bytes; not ENUM values or narrow
character sets), integer (up to 64 bits), decimal with a known precision of at most 38,
64-bit float, boolean and date; every kind honours ``empty_as_null`` and ``null_tokens``.
How each is read is in :mod:`syncline.columnar_rules`.
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
    from syncline import columnar_rules as rules

    kind = rules.KINDS.get(spec.kind)
    if kind is None or arrow_type(spec) is None:
        return None
    core = kind(spec, options)
    if core is None:
        return None
    tokens = sorted(options.null_tokens)
    blank_is_null = options.empty_as_null

    def coerce(raw: pa.Array) -> tuple[pa.Array, pa.Array | None]:
        import pyarrow as pa
        import pyarrow.compute as pc

        if isinstance(raw, pa.ChunkedArray):
            raw = raw.combine_chunks()
        if raw.type != pa.string():
            raw = raw.cast(pa.string())
        stripped = rules.strip(raw)
        values, bad, blank = core(raw, stripped)
        if blank is not None and pc.any(blank).as_py():
            # kinds other than text: a blank is NULL, or refused
            if blank_is_null:
                values = rules.null_where(blank, values)
                bad = pc.and_not(bad, blank)
            else:
                bad = pc.or_(bad, blank)
        if tokens:  # a missing-value token is NULL whatever the kind and the options
            token = pc.is_in(stripped, value_set=pa.array(tokens, pa.string()))
            values = rules.null_where(token, values)
            bad = pc.and_not(bad, token)
        return values, (bad if pc.any(bad).as_py() else None)

    return coerce


def arrow_type(spec: ColumnSpec) -> Any:
    """The Arrow type of this column's canonical values, or None where it has none."""
    import pyarrow as pa

    kind = spec.kind
    if kind == "text":
        return pa.string()
    if kind == "integer":
        if not 1 <= spec.int_bits <= 64:
            return None
        return pa.uint64() if spec.unsigned and spec.int_bits == 64 else pa.int64()
    if kind == "decimal":
        precision = spec.precision
        scale = spec.scale if spec.scale is not None else 0
        if precision is None or not 0 <= scale <= precision or not 1 <= precision <= 38:
            return None
        return pa.decimal128(precision, scale)
    if kind == "float":
        return pa.float64()
    if kind == "boolean":
        return pa.bool_()
    if kind == "date":
        return pa.date32()
    return None
