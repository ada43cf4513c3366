"""Value coercion per column type: one rule book, applied to every value of every row.

syncline compares *typed* values, never strings. Each column has a :class:`ColumnSpec`
(usually read from the target table with :meth:`ColumnSpec.from_column`), and three
functions built once per column turn values into the column's **canonical** form:

* :func:`source_coercer` - a raw source value (a ``str`` from a file, or a Python value
  from a SQL source) to the canonical value; a value that does not fit the column raises
  :class:`~syncline.errors.CoercionError` naming the column and the value. Nothing is
  rounded, truncated or guessed silently, except the documented datetime truncation.
* :func:`target_normalizer` - a value read back from the target to the canonical value.
  It never raises and never strips text: a target value it cannot read is returned as it
  is, so it compares unequal to the source value and the sync fixes it.
* :func:`to_db` - a canonical value to the value bound in INSERT/UPDATE.

The rules (also in ``docs/types.md``)::

    all kinds   None -> None. A source string that is empty or only whitespace -> None
                (``empty_as_null=True``, the default); with ``empty_as_null=False`` it is
                "" for text and an error for every other kind.
                Surrounding whitespace is ignored when reading numbers, booleans, dates
                and times; for text it is stripped when ``strip_text=True`` (default).
    integer     -> int. "12", " 12 ", "+12", "-3", and "12.0"/"12.00" (whole decimals).
                Python int, and Decimal/float with no fractional part. Rejected: "12.5",
                "1e3" (scientific notation), "1_000", "1,000", "abc", bool values (True
                is not a number), values outside the column's range (int_bits, unsigned).
    decimal     -> Decimal, read from the text itself, never through float (a Python float
                is read as ``Decimal(repr(f))``). Plain decimals only: optional sign,
                digits, optional "." and digits ("1.4", "-0.5", ".5", "5."). Rejected:
                thousands separators ("1,234.5"), scientific notation ("1e3"), NaN,
                Infinity. With a known scale the value is given exactly that scale:
                trailing zeros are fine ("1.400" -> 1.40 in numeric(10,2)), but more
                non-zero decimal places than the scale allows is an error, never rounding
                ("12.345" into numeric(10,2)). More digits before the point than
                precision - scale allows is an error ("does not fit numeric(12,2)").
                numeric(p) without a scale means scale 0, as in PostgreSQL and MySQL.
    float       -> float. Text as Python reads it (scientific notation allowed, "1_0" not);
                NaN and infinity are rejected (NaN never equals itself, so it would be
                updated on every run).
    boolean     -> bool. Case-insensitive, after stripping:
                true: 1 true t yes y on     false: 0 false f no n off
                Anything else ("2", "maybe", "tru") is an error, never False. Python bool
                passes; int 0 and 1 pass; other numbers are errors.
    date        -> datetime.date, from "YYYY-MM-DD" only. A Python date passes; a datetime
                from a SQL source at exactly midnight gives its date; any other time of
                day is an error.
    datetime    -> an aware datetime whose tzinfo is ``options.zone`` (the same object),
                truncated - not rounded - to the column's fractional-second digits
                (``fsp``: 6 by default, 0 for MySQL/MariaDB DATETIME without fsp).
                Text is ISO 8601 as ``datetime.fromisoformat`` reads it ("T" or a space
                between date and time; a date alone means midnight). Naive values (text
                without an offset, naive Python datetimes, naive values read from the
                target) are read in ``options.zone``; aware values (an offset or "Z") are
                converted to it. A wall time that does not exist in the zone (the hour
                skipped when clocks go forward) moves forward by the gap, as PostgreSQL
                does: 02:30 on the spring-forward night in Europe/Berlin is 03:30 CEST.
                A wall time that happens twice (clocks go back) is the first of the two
                unless the value says otherwise (an offset, or ``fold=1``).
                Python compares datetimes that share a tzinfo object by wall time, so the
                repeated hour compares equal whichever occurrence it is: exactly what a
                column without a time zone can store, so a round trip is an empty diff
                (in a column with a time zone, two instants in that hour compare equal).
                to_db gives timezone=False columns the naive wall time in the zone and
                timezone=True columns the aware value.
    time        -> datetime.time, from ISO "HH:MM[:SS[.ffffff]]", truncated to ``fsp``.
                A Python time passes; a timedelta from a MySQL driver (0 to 24 h) is read
                as a time of day.
    text        -> str. Non-str values from SQL sources: int as digits, Decimal in plain
                notation (never "1E+2"), float via repr, bool as "true"/"false",
                date/datetime/time in ISO format; bytes are an error. Text that looks like
                a number is kept as it is: "66" stays "66", "007" stays "007". Longer than
                the column's length (in characters, after stripping) is an error.
    json, uuid, interval, binary -> see :mod:`syncline.structured`.
    other       -> the value unchanged (arrays, ranges...).

Whitespace, missing-value tokens, CHAR(n), 4-byte floats and the checks against column
limits (NUL, ENUM, MySQL TEXT bytes, TIMESTAMP range) are described in ``docs/types.md``.

:func:`syncline.inference.infer_spec` picks a column type from a sample of CSV text when
syncline creates a table: integer when every non-empty value is a whole number without
leading zeros that fits 64 bits ("007" is a code, so text; larger whole numbers are
decimal); decimal when every value is a plain decimal (scale = the most decimal places
seen); boolean only from words (true/false, yes/no, on/off - never from 0/1 or single
letters); date when every value is YYYY-MM-DD;
datetime when every value is an ISO datetime; otherwise text.

Every function here is built once per column and returns a small closure with the common
case first; they run for every value of every row.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import date, datetime, time
from typing import Any

from syncline import structured
from syncline.errors import CoercionError
from syncline.numeric import (
    BOOLEAN_FALSE,
    BOOLEAN_TRUE,
    src_boolean,
    src_decimal,
    src_float,
    src_integer,
    tgt_decimal,
)
from syncline.spec import ColumnSpec, Fn, Kind, TypeOptions, is_identity
from syncline.spec import identity as _identity
from syncline.temporal import src_date, src_datetime, src_time, tgt_datetime, truncator
from syncline.text import src_text, to_text, unstorable

__all__ = [
    "BOOLEAN_FALSE",
    "BOOLEAN_TRUE",
    "ColumnSpec",
    "Kind",
    "TypeOptions",
    "is_identity",
    "source_coercer",
    "target_normalizer",
    "to_db",
    "unstorable",
]


def source_coercer(spec: ColumnSpec, options: TypeOptions) -> Fn:
    """The function turning one raw source value of this column into its canonical value;
    it raises :class:`CoercionError` (``field`` = column, ``value`` = the raw value)."""
    maker = _SOURCE.get(spec.kind) or structured.SOURCE[spec.kind]
    coerce = maker(spec, options)
    tokens = options.null_tokens
    if not tokens:
        return coerce

    def with_tokens(raw: Any) -> Any:
        if raw.__class__ is str and raw.strip() in tokens:
            return None
        return coerce(raw)

    return with_tokens


def _src_other(spec: ColumnSpec, options: TypeOptions) -> Fn:
    return _identity


_SOURCE: dict[str, Callable[[ColumnSpec, TypeOptions], Fn]] = {
    "integer": src_integer, "decimal": src_decimal, "float": src_float,
    "boolean": src_boolean, "date": src_date, "datetime": src_datetime,
    "time": src_time, "text": src_text, "other": _src_other,
}


# ----------------------------------------------------------------------------- target

def target_normalizer(spec: ColumnSpec, options: TypeOptions) -> Fn:
    """The function turning a value read from the target into its canonical value. It
    never raises and never strips: a value it cannot read comes back unchanged."""
    kind = spec.kind
    if kind == "other":
        return _identity
    if kind in structured.TARGET:
        return structured.TARGET[kind](spec, options)
    if kind == "text":
        if spec.fixed:
            def fixed(v: Any) -> Any:
                if v is None:
                    return v
                try:
                    return (v if v.__class__ is str else to_text(v)).rstrip(" ")
                except TypeError:
                    return v
            return fixed

        def text(v: Any) -> Any:
            if v is None or v.__class__ is str:
                return v
            try:
                return to_text(v)
            except TypeError:
                return v
        return text
    if kind == "decimal":
        return tgt_decimal(spec)
    if kind == "datetime":
        return tgt_datetime(spec, options)
    # The remaining kinds read like the source with strict errors, falling back to the raw
    # value; their fast paths handle the values SQLAlchemy returns.
    lenient = TypeOptions(strip_text=False, zone=options.zone, empty_as_null=False)
    strict = source_coercer(replace(spec, bounds=None), lenient)
    fast: type = {"integer": int, "float": float, "boolean": bool, "date": date,
                  "time": time}[kind]
    truncate = truncator(spec.fsp) if kind == "time" else None

    real = kind == "float" and spec.float_bits == 32

    def normalize(v: Any) -> Any:
        if v is None or (v.__class__ is fast and truncate is None and not real):
            return v
        if kind == "integer" and isinstance(v, bool):
            return int(v)
        try:
            return strict(v)
        except CoercionError:
            return v

    return normalize


# ----------------------------------------------------------------------------- to_db

def to_db(spec: ColumnSpec, options: TypeOptions) -> Fn:
    """The function turning a canonical value into the value bound for this column."""
    if spec.kind == "json":
        return structured.db_json
    if spec.kind != "datetime":
        return _identity
    zone = options.zone
    if spec.timezone:
        def aware(v: Any) -> Any:
            if isinstance(v, datetime):
                if v.tzinfo is None:
                    return v.replace(tzinfo=zone)
                if v.tzinfo is not zone:
                    return v.astimezone(zone)
            return v
        return aware

    def naive(v: Any) -> Any:
        if isinstance(v, datetime) and v.tzinfo is not None:
            if v.tzinfo is not zone:
                v = v.astimezone(zone)
            return v.replace(tzinfo=None)
        return v

    return naive
