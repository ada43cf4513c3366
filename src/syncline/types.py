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

import json
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta, timezone, tzinfo
from decimal import Context, Decimal, Inexact, InvalidOperation
from typing import Any, Literal, get_args

import sqlalchemy as sa
from sqlalchemy.dialects import mysql
from sqlalchemy.sql import sqltypes

from syncline import structured
from syncline.errors import CoercionError, ConfigError

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
]

Kind = Literal["integer", "decimal", "float", "boolean", "date", "datetime", "time", "text",
               "json", "uuid", "interval", "binary", "other"]
_KINDS = frozenset(get_args(Kind))
Fn = Callable[[Any], Any]

BOOLEAN_TRUE: frozenset[str] = frozenset({"1", "true", "t", "yes", "y", "on"})
BOOLEAN_FALSE: frozenset[str] = frozenset({"0", "false", "f", "no", "n", "off"})
_BOOL = {**dict.fromkeys(BOOLEAN_TRUE, True), **dict.fromkeys(BOOLEAN_FALSE, False)}

_PLAIN_DECIMAL = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)")
_SCIENTIFIC = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)[eE][+-]?[0-9]+")


#: spellings of a missing value that hint at ``null_tokens`` in an error message
_MISSING_LOOKALIKES = frozenset({"na", "n/a", "#n/a", "null", "none", "nil", "nan", "\\n",
                                 "-", "--", "?", ".", "missing"})


@dataclass(frozen=True)
class TypeOptions:
    """How values are read: text stripping, the zone of naive datetimes, empty strings,
    missing-value tokens."""

    #: strip surrounding whitespace from source text; None (the default): strip text read
    #: from files, copy text from typed (SQL) sources exactly. Keys read from files are
    #: always stripped (see docs/types.md)
    strip_text: bool | None = None
    zone: tzinfo = UTC
    empty_as_null: bool = True
    #: source strings (compared after stripping surrounding whitespace) that mean NULL in
    #: every column, e.g. ``frozenset({"NA", "\\N"})``; the empty string is governed by
    #: ``empty_as_null``
    null_tokens: frozenset[str] = frozenset()
    #: values come from a typed source (a database): text is copied exactly unless
    #: ``strip_text`` is True, and an empty string stays an empty string in text columns
    typed_source: bool = False

    @property
    def strips(self) -> bool:
        """Whether source text is stripped (``strip_text`` resolved for the source)."""
        return not self.typed_source if self.strip_text is None else self.strip_text


@dataclass(frozen=True)
class ColumnSpec:
    """What syncline needs to know about one target column to coerce values for it."""

    name: str
    kind: Kind
    precision: int | None = None
    scale: int | None = None
    length: int | None = None
    timezone: bool = False
    fsp: int = 6
    nullable: bool = True
    int_bits: int = 64
    sql_type: Any = field(default=None, compare=False, repr=False)
    unsigned: bool = False
    #: CHAR(n): blank-padded, so trailing spaces are not part of the value
    fixed: bool = False
    #: 32 for a 4-byte REAL/FLOAT column: values are compared as the column stores them
    float_bits: int = 64
    #: significant digits the server returns for a float (MySQL FLOAT: 6); values are
    #: compared and written at that precision, or a re-sync would update them every time
    float_digits: int | None = None
    #: False where the database refuses the NUL character in text (PostgreSQL)
    nul_allowed: bool = True
    #: the most bytes (UTF-8) a text column holds (MySQL TINYTEXT/TEXT/MEDIUMTEXT)
    max_bytes: int | None = None
    #: the column's character set where it cannot hold every character (MySQL utf8mb3,
    #: latin1, ascii); other character sets are not checked
    charset: str | None = None
    #: the values an ENUM column allows
    choices: tuple[str, ...] | None = None
    #: ENUM values match whatever their case (MySQL/MariaDB), stored as declared
    fold_choices: bool = False
    #: the driver hands JSON values back decoded (psycopg), so a str read from the column
    #: is a JSON string, not JSON text
    json_decoded: bool = False
    #: the earliest and latest instant (aware, UTC) a date/datetime column holds
    bounds: tuple[datetime, datetime] | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if self.kind not in _KINDS:
            raise ConfigError(f"unknown column kind {self.kind!r}; use one of "
                              f"{', '.join(sorted(_KINDS))}", field=self.name)
        if not 0 <= self.fsp <= 6:
            raise ConfigError(f"fractional-second digits must be 0 to 6, not {self.fsp}",
                              field=self.name)

    @classmethod
    def from_column(cls, column: sa.Column[Any] | Mapping[str, Any],
                    dialect_name: str) -> ColumnSpec:
        """The spec of a reflected or declared Core column (or an ``inspect().get_columns``
        entry) on ``dialect_name`` ("sqlite", "postgresql", "mysql"; "mariadb" = "mysql")."""
        if isinstance(column, Mapping):
            name, t, nullable = column["name"], column["type"], column.get("nullable", True)
        else:
            name, t, nullable = column.name, column.type, column.nullable
        is_mysql = dialect_name in ("mysql", "mariadb")
        base: dict[str, Any] = dict(name=name, nullable=bool(nullable), sql_type=t)
        if dialect_name == "postgresql":
            base["nul_allowed"] = False
        if isinstance(t, sa.Boolean) or (isinstance(t, mysql.TINYINT)
                                         and t.display_width == 1):
            return cls(kind="boolean", **base)
        if isinstance(t, sa.Integer):
            bits = 64
            if dialect_name != "sqlite":
                if isinstance(t, mysql.TINYINT):
                    bits = 8
                elif isinstance(t, sa.SmallInteger):
                    bits = 16
                elif isinstance(t, mysql.MEDIUMINT):
                    bits = 24
                elif not isinstance(t, sa.BigInteger):
                    bits = 32
            return cls(kind="integer", int_bits=bits,
                       unsigned=bool(getattr(t, "unsigned", False)), **base)
        if isinstance(t, sa.Float):
            real = dialect_name != "sqlite" and (
                isinstance(t, sa.REAL) or (is_mysql and isinstance(t, mysql.FLOAT))
                or (t.precision is not None and t.precision <= 24))
            digits = 6 if real and is_mysql else None
            return cls(kind="float", float_bits=32 if real else 64, float_digits=digits,
                       **base)
        if isinstance(t, sa.Numeric):
            scale = t.scale if t.scale is not None or t.precision is None else 0
            return cls(kind="decimal", precision=t.precision, scale=scale, **base)
        if isinstance(t, sa.DateTime | sa.Time):
            kind: Kind = "datetime" if isinstance(t, sa.DateTime) else "time"
            fsp = getattr(t, "fsp", None) if is_mysql else getattr(t, "precision", None)
            if fsp is None:
                fsp = 0 if is_mysql else 6
            if is_mysql and kind == "datetime":
                base["bounds"] = (_MYSQL_TIMESTAMP if isinstance(t, sa.TIMESTAMP)
                                  else _MYSQL_DATETIME)
            return cls(kind=kind, fsp=fsp, timezone=bool(t.timezone), **base)
        if isinstance(t, sa.Date):
            if is_mysql:
                base["bounds"] = _MYSQL_DATETIME
            return cls(kind="date", **base)
        if isinstance(t, sa.Enum):
            return cls(kind="text", choices=tuple(t.enums), fold_choices=is_mysql, **base)
        if isinstance(t, sa.String):
            if is_mysql:
                base["max_bytes"] = _MYSQL_TEXT_BYTES.get(type(t).__name__)
            return cls(kind="text", length=t.length,
                       fixed=isinstance(t, sa.CHAR | sa.NCHAR), **base)
        if isinstance(t, sa.JSON):
            return cls(kind="json", json_decoded=dialect_name == "postgresql", **base)
        if isinstance(t, sa.Uuid):
            return cls(kind="uuid", **base)
        if isinstance(t, sqltypes._AbstractInterval):
            return cls(kind="interval", **base)
        if isinstance(t, sqltypes._Binary):
            return cls(kind="binary", length=t.length if is_mysql else None, **base)
        return cls(kind="other", **base)


_MYSQL_TEXT_BYTES = {"TINYTEXT": 255, "TEXT": 65_535, "MEDIUMTEXT": 16_777_215,
                     "LONGTEXT": 4_294_967_295}
#: TIMESTAMP holds instants (aware bounds); DATETIME and DATE hold wall times (naive bounds)
_MYSQL_TIMESTAMP = (datetime(1970, 1, 1, 0, 0, 1, tzinfo=UTC),
                    datetime(2038, 1, 19, 3, 14, 7, 999999, tzinfo=UTC))
_MYSQL_DATETIME = (datetime(1000, 1, 1), datetime(9999, 12, 31, 23, 59, 59, 999999))


# ----------------------------------------------------------------------------- helpers

def _q(value: Any) -> str:
    return repr(value) if isinstance(value, str) else repr(str(value))


def _error(spec: ColumnSpec, raw: Any, message: str) -> CoercionError:
    return CoercionError(message, field=spec.name, value=raw)


def _blank(spec: ColumnSpec, options: TypeOptions, raw: str, what: str) -> None:
    """Check a source string that is empty after stripping: None, or an error."""
    if not options.empty_as_null:
        raise _error(spec, raw, f"an empty value is not {what}")


def _identity(value: Any) -> Any:
    return value


def is_identity(function: Fn) -> bool:
    """True for a coercer/normalizer/to_db function that returns its value unchanged."""
    return function is _identity


def _numeric_label(spec: ColumnSpec) -> str:
    if spec.precision is None:
        return "numeric" if spec.scale is None else f"numeric with scale {spec.scale}"
    return f"numeric({spec.precision},{spec.scale or 0})"


def _int_bounds(spec: ColumnSpec) -> tuple[int, int]:
    if spec.unsigned:
        return 0, 2 ** spec.int_bits - 1
    return -(2 ** (spec.int_bits - 1)), 2 ** (spec.int_bits - 1) - 1


# ----------------------------------------------------------------------------- source

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


def _missing_hint(s: str) -> str:
    """A hint for a value that looks like a missing-value token nobody configured."""
    if s.strip().lower() in _MISSING_LOOKALIKES:
        return f"; if it means a missing value, pass --null {s.strip()!r}"
    return ""


def _src_integer(spec: ColumnSpec, options: TypeOptions) -> Fn:
    lo, hi = _int_bounds(spec)
    what = "a whole number"
    sign = "unsigned " if spec.unsigned else ""

    def slow(raw: Any) -> Any:
        if isinstance(raw, bool):
            raise _error(spec, raw, f"{raw} is a boolean, not {what}")
        if isinstance(raw, str):
            s = raw.strip()
            if not s:
                _blank(spec, options, raw, what)
                return None
            if _PLAIN_DECIMAL.fullmatch(s):
                d = Decimal(s)
                if d != d.to_integral_value():
                    raise _error(spec, raw, f"{_q(raw)} is not {what}")
                return int(d)
            if _SCIENTIFIC.fullmatch(s):
                raise _error(spec, raw, f"{_q(raw)} is in scientific notation; "
                                        f"write {what} out in full")
            raise _error(spec, raw, f"{_q(raw)} is not {what} (digits with an optional "
                                    f"sign; no thousands separators){_missing_hint(s)}")
        if isinstance(raw, int):
            return int(raw)
        if isinstance(raw, float | Decimal):
            finite = raw.is_finite() if isinstance(raw, Decimal) else math.isfinite(raw)
            if not finite or raw != int(raw):
                raise _error(spec, raw, f"{raw} is not {what}")
            return int(raw)
        raise _error(spec, raw, f"a {type(raw).__name__} is not {what}")

    def coerce(raw: Any) -> Any:
        if raw is None:
            return None
        cls = raw.__class__
        if cls is int:
            v = raw
        elif cls is str and raw.isascii() and "_" not in raw:
            try:
                v = int(raw)
            except ValueError:
                v = slow(raw)
                if v is None:
                    return None
        else:
            v = slow(raw)
            if v is None:
                return None
        if lo <= v <= hi:
            return v
        raise _error(spec, raw, f"{_q(raw)} is out of range for a {sign}{spec.int_bits}-bit "
                                f"integer column ({lo} to {hi})")

    return coerce


def _decimal_parts(spec: ColumnSpec) -> tuple[Decimal | None, int | None, Context]:
    scale = spec.scale if spec.scale is not None or spec.precision is None else 0
    quant = Decimal(1).scaleb(-scale) if scale is not None else None
    maxadj = spec.precision - (scale or 0) if spec.precision is not None else None
    prec = max(spec.precision or 0, 60) + 40
    ctx = Context(prec=prec, traps=[InvalidOperation, Inexact])
    return quant, maxadj, ctx


def _src_decimal(spec: ColumnSpec, options: TypeOptions) -> Fn:
    quant, maxadj, ctx = _decimal_parts(spec)
    label = _numeric_label(spec)
    what = "a decimal number"

    def slow(raw: Any) -> Decimal | None:
        if isinstance(raw, bool):
            raise _error(spec, raw, f"{raw} is a boolean, not {what}")
        if isinstance(raw, str):
            s = raw.strip()
            if not s:
                _blank(spec, options, raw, what)
                return None
            if _PLAIN_DECIMAL.fullmatch(s):
                return Decimal(s)
            if _SCIENTIFIC.fullmatch(s):
                raise _error(spec, raw, f"{_q(raw)} is in scientific notation; write the "
                                        f"number out in full")
            if s.lower().lstrip("+-") in ("nan", "snan", "inf", "infinity"):
                raise _error(spec, raw, f"{_q(raw)} is not a finite number")
            raise _error(spec, raw, f"{_q(raw)} is not {what} (digits, an optional sign and "
                                    f"a '.' decimal point; no thousands separators)"
                                    f"{_missing_hint(s)}")
        if isinstance(raw, float):
            raw_d = Decimal(repr(raw))
        elif isinstance(raw, int | Decimal):
            raw_d = Decimal(raw)
        else:
            raise _error(spec, raw, f"a {type(raw).__name__} is not {what}")
        if not raw_d.is_finite():
            raise _error(spec, raw, f"{raw} is not a finite number")
        return raw_d

    def coerce(raw: Any) -> Any:
        if raw is None:
            return None
        d: Decimal | None
        if raw.__class__ is str and raw.isascii() and "_" not in raw and "e" not in raw \
                and "E" not in raw:
            try:
                d = Decimal(raw)
            except InvalidOperation:
                d = slow(raw)
            else:
                if quant is None:
                    return d if d.is_finite() else slow(raw)
                if d.same_quantum(quant):  # fast path: already at the column's scale
                    if maxadj is not None and d.adjusted() >= maxadj and d:
                        raise too_big(raw)
                    return d
                if not d.is_finite():
                    d = slow(raw)
        elif raw.__class__ is Decimal and raw.is_finite():
            d = raw
        else:
            d = slow(raw)
        if d is None:
            return None
        if quant is not None:
            try:
                d = d.quantize(quant, context=ctx)
            except Inexact:
                raise _error(spec, raw, f"{_q(raw)} has more decimal places than {label} "
                                        f"allows") from None
            except InvalidOperation:
                raise too_big(raw) from None
        if maxadj is not None and d.adjusted() >= maxadj and d:
            raise too_big(raw)
        return d

    def too_big(raw: Any) -> CoercionError:
        more = f" (at most {maxadj} digits before the decimal point)" if maxadj else ""
        return _error(spec, raw, f"{_q(raw)} does not fit {label}{more}")

    return coerce


def _src_float(spec: ColumnSpec, options: TypeOptions) -> Fn:
    what = "a number"
    real = spec.float_bits == 32
    digits = f".{spec.float_digits}g" if spec.float_digits else None

    def coerce(raw: Any) -> Any:
        if raw is None:
            return None
        cls = raw.__class__
        if cls is float:
            v = raw
        elif cls is str:
            s = raw.strip()
            if not s:
                _blank(spec, options, raw, what)
                return None
            if "_" in s or not s.isascii():
                raise _error(spec, raw, f"{_q(raw)} is not {what}")
            try:
                v = float(s)
            except ValueError:
                raise _error(spec, raw, f"{_q(raw)} is not {what}{_missing_hint(s)}"
                             ) from None
        elif isinstance(raw, bool):
            raise _error(spec, raw, f"{raw} is a boolean, not {what}")
        elif isinstance(raw, int | float | Decimal):
            try:
                v = float(raw)
            except OverflowError:
                raise _error(spec, raw, f"{raw} is too large for a float column") from None
        else:
            raise _error(spec, raw, f"a {type(raw).__name__} is not {what}")
        if v - v != 0.0:  # NaN or infinity
            raise _error(spec, raw, f"{_q(raw)} is not a finite number")
        if real:
            try:
                v32 = structured.to_float32(v)
                if v32 == 0.0 and v != 0.0:
                    raise _error(spec, raw, f"{_q(raw)} is too small for a 4-byte real column"
                                            " (it would be stored as 0)")
                return structured.to_float32(float(format(v32, digits))) if digits else v32
            except OverflowError:
                raise _error(spec, raw, f"{_q(raw)} is too large for a 4-byte real column"
                             ) from None
        return v

    return coerce


def _src_boolean(spec: ColumnSpec, options: TypeOptions) -> Fn:
    get = _BOOL.get
    what = "true or false"
    spellings = ("use one of " + "/".join(sorted(BOOLEAN_TRUE)) + " for true, "
                 + "/".join(sorted(BOOLEAN_FALSE)) + " for false")

    def coerce(raw: Any) -> Any:
        if raw is None:
            return None
        cls = raw.__class__
        if cls is bool:
            return raw
        if cls is str:
            v = get(raw)
            if v is not None:
                return v
            s = raw.strip()
            if not s:
                _blank(spec, options, raw, what)
                return None
            v = get(s.lower())
            if v is not None:
                return v
            raise _error(spec, raw, f"{_q(raw)} is not {what}: {spellings}{_missing_hint(s)}")
        if isinstance(raw, int) and raw in (0, 1):
            return raw == 1
        raise _error(spec, raw, f"{raw!r} is not {what}: only 0 and 1 are read as booleans")

    return coerce


def _parse_date(s: str) -> date:
    if len(s) == 10 and s[4] == "-" and s[7] == "-" and s.isascii():
        return date.fromisoformat(s)
    raise ValueError(s)


def _src_date(spec: ColumnSpec, options: TypeOptions) -> Fn:
    one = _date(spec, options)
    if spec.bounds is None:
        return one
    low, high = spec.bounds[0].date(), spec.bounds[1].date()

    def bounded(raw: Any) -> Any:
        d = one(raw)
        if d is None or low <= d <= high:
            return d
        raise _error(spec, raw, f"{_q(raw)} is outside the column's range ({low} to {high})")

    return bounded


def _date(spec: ColumnSpec, options: TypeOptions) -> Fn:
    what = "a date"

    def coerce(raw: Any) -> Any:
        if raw is None:
            return None
        cls = raw.__class__
        if cls is str:
            s = raw.strip()
            if not s:
                _blank(spec, options, raw, what)
                return None
            try:
                return _parse_date(s)
            except ValueError:
                raise _error(spec, raw, f"{_q(raw)} is not a date written as YYYY-MM-DD"
                                        f"{_missing_hint(s)}") from None
        if cls is date:
            return raw
        if isinstance(raw, datetime):
            if raw.time() == time(0):
                return raw.date()
            raise _error(spec, raw, f"{raw.isoformat(' ')} has a time of day; the column "
                                    f"holds dates only")
        if isinstance(raw, date):
            return date(raw.year, raw.month, raw.day)
        raise _error(spec, raw, f"a {type(raw).__name__} is not {what}")

    return coerce


def _truncator(fsp: int) -> Callable[[Any], Any] | None:
    if fsp >= 6:
        return None
    unit = 10 ** (6 - fsp)

    def truncate(v: Any) -> Any:
        r = v.microsecond % unit
        return v.replace(microsecond=v.microsecond - r) if r else v

    return truncate


def _canon_datetime(spec: ColumnSpec, options: TypeOptions) -> Callable[[datetime], datetime]:
    """Aware datetime in ``options.zone`` (that tzinfo object), truncated to ``spec.fsp``."""
    zone = options.zone
    fixed = isinstance(zone, timezone)
    truncate = _truncator(spec.fsp)

    unit = 10 ** (6 - spec.fsp)

    def canon(dt: datetime) -> datetime:
        tz = dt.tzinfo
        if tz is None:  # truncate and attach the zone in one step
            us = dt.microsecond
            dt = dt.replace(microsecond=us - us % unit, tzinfo=zone)
            # through UTC: sets fold and moves wall times out of DST gaps
            return dt if fixed else dt.astimezone(UTC).astimezone(zone)
        if tz is not zone:
            dt = dt.astimezone(zone)
        elif not fixed:
            dt = dt.astimezone(UTC).astimezone(zone)
        return truncate(dt) if truncate is not None else dt

    return canon


def _src_datetime(spec: ColumnSpec, options: TypeOptions) -> Fn:
    one = _datetime(spec, options)
    if spec.bounds is None:
        return one
    low, high = spec.bounds
    instant = low.tzinfo is not None

    def bounded(raw: Any) -> Any:
        v = one(raw)
        if v is None or low <= (v if instant else v.replace(tzinfo=None)) <= high:
            return v
        raise _error(spec, raw, f"{_q(raw)} is outside the column's range"
                                f" ({low.isoformat(' ')} to {high.isoformat(' ')})")

    return bounded


def _datetime(spec: ColumnSpec, options: TypeOptions) -> Fn:
    canon = _canon_datetime(spec, options)
    what = "a date and time"

    def coerce(raw: Any) -> Any:
        try:
            return convert(raw)
        except OverflowError:  # e.g. 0001-01-01T00:00:00+05:00 is before year 1 in UTC
            raise _error(spec, raw, f"{_q(raw)} is outside the range of dates syncline can"
                                    " convert (years 1 to 9999 in the run's time zone)"
                         ) from None

    def convert(raw: Any) -> Any:
        if raw is None:
            return None
        if isinstance(raw, str):
            s = raw.strip()
            if not s:
                _blank(spec, options, raw, what)
                return None
            try:
                if not s.isascii() or len(s) < 10:
                    raise ValueError(s)
                return canon(datetime.fromisoformat(s))
            except ValueError:
                raise _error(spec, raw, f"{_q(raw)} is not a date and time in ISO 8601 form "
                                        f"(YYYY-MM-DD HH:MM:SS, optionally with an offset)"
                                        f"{_missing_hint(s)}") from None
        if isinstance(raw, datetime):
            return canon(raw)
        if isinstance(raw, date):
            return canon(datetime(raw.year, raw.month, raw.day))
        raise _error(spec, raw, f"a {type(raw).__name__} is not {what}")

    return coerce


def _time_from_timedelta(td: timedelta) -> time:
    if timedelta(0) <= td < timedelta(days=1):
        return (datetime.min + td).time()
    raise ValueError(td)


def _src_time(spec: ColumnSpec, options: TypeOptions) -> Fn:
    truncate = _truncator(spec.fsp) or _identity
    what = "a time of day"

    def coerce(raw: Any) -> Any:
        if raw is None:
            return None
        if isinstance(raw, str):
            s = raw.strip()
            if not s:
                _blank(spec, options, raw, what)
                return None
            try:
                if not s.isascii() or len(s) < 5 or s[2] != ":":
                    raise ValueError(s)
                return truncate(time.fromisoformat(s))
            except ValueError:
                raise _error(spec, raw, f"{_q(raw)} is not a time written as HH:MM:SS"
                                        f"{_missing_hint(s)}") from None
        if isinstance(raw, time):
            return truncate(raw)
        if isinstance(raw, timedelta):
            try:
                return truncate(_time_from_timedelta(raw))
            except ValueError:
                raise _error(spec, raw, f"{raw} is not a time of day") from None
        raise _error(spec, raw, f"a {type(raw).__name__} is not {what}")

    return coerce


def _to_text(raw: Any) -> str:
    """A non-str SQL value as text (raises TypeError for bytes)."""
    if isinstance(raw, str):
        return str.__str__(raw)
    if isinstance(raw, bool):
        return "true" if raw else "false"
    if isinstance(raw, Decimal):
        return format(raw, "f")
    if isinstance(raw, float):
        return repr(raw)
    if isinstance(raw, datetime | date | time):
        return raw.isoformat()
    if isinstance(raw, bytes | bytearray | memoryview):
        raise TypeError(raw)
    if isinstance(raw, dict | list):
        return json.dumps(raw, ensure_ascii=False)
    return str(raw)


def _src_text(spec: ColumnSpec, options: TypeOptions) -> Fn:
    length = spec.length
    strip = options.strips
    #: a typed source's text is copied exactly: "" and blanks stay what they are
    exact = options.typed_source and not strip
    empty_as_null = options.empty_as_null and not exact
    blank_is_null = empty_as_null and not strip
    fixed, nul_allowed, max_bytes = spec.fixed, spec.nul_allowed, spec.max_bytes
    choices = _choices(spec)
    unfit = unstorable(spec)

    def coerce(raw: Any) -> Any:
        if raw is None:
            return None
        if raw.__class__ is str:
            s = raw.strip() if strip else raw
        else:
            try:
                s = _to_text(raw)
            except TypeError:
                raise _error(spec, raw, "binary data is not text") from None
            if strip:
                s = s.strip()
        if fixed:
            s = s.rstrip(" ")  # CHAR(n) pads with spaces: they are not part of the value
        if not s:
            return None if empty_as_null else s
        if blank_is_null and s.isspace():
            return None
        if length is not None and len(s) > length:
            raise _error(spec, raw, f"{_q(s[:30] + '...' if len(s) > 40 else s)} is "
                                    f"{len(s)} characters long; the column allows at most "
                                    f"{length}")
        if not nul_allowed and "\x00" in s:
            raise _error(spec, raw, f"{_q(s[:40])} contains a NUL character (\\x00), which "
                                    f"the column cannot store")
        if max_bytes is not None and len(s) * 4 > max_bytes:
            size = len(s.encode("utf-8"))
            if size > max_bytes:
                raise _error(spec, raw, f"{_q(s[:30] + '...')} is {size} bytes long in"
                                        f" UTF-8; the column holds at most {max_bytes}")
        if unfit is not None:
            bad = unfit(s)
            if bad is not None:
                raise _error(spec, raw, f"{_q(s[:40])} contains {bad!r}"
                                        f" (U+{ord(bad):04X}), which the column's character"
                                        f" set {spec.charset} cannot hold")
        if choices is not None:
            found = choices.get(s)
            if found is None:
                found = choices.get(s.casefold()) if spec.fold_choices else None
                if found is None:
                    raise _error(spec, raw, f"{_q(s)} is not one of the column's values"
                                            f" ({', '.join(spec.choices or ())})")
            return found
        return s

    return coerce


#: MySQL character sets that cannot hold every character -> the Python codec (None: the
#: Basic Multilingual Plane, what MySQL's 3-byte utf8 holds)
_NARROW_CHARSETS: dict[str, str | None] = {"utf8": None, "utf8mb3": None, "ucs2": None,
                                           "latin1": "cp1252", "ascii": "ascii"}


def unstorable(spec: ColumnSpec) -> Callable[[str], str | None] | None:
    """A function giving the first character of a text the column's character set cannot
    store (None when all fit), or None when the column holds every character."""
    if spec.charset is None or spec.charset.lower() not in _NARROW_CHARSETS:
        return None
    codec = _NARROW_CHARSETS[spec.charset.lower()]
    if codec is None:
        def bmp(s: str) -> str | None:
            if s.isascii() or max(s) <= "\uffff":
                return None
            return next(c for c in s if c > "\uffff")
        return bmp

    def encodable(s: str) -> str | None:
        try:
            s.encode(codec)
        except UnicodeEncodeError as exc:
            return s[exc.start]
        return None
    return encodable


def _choices(spec: ColumnSpec) -> dict[str, str] | None:
    if spec.choices is None:
        return None
    found = {c: c for c in spec.choices}
    if spec.fold_choices:  # MySQL compares ENUM values without case and trailing spaces
        for c in reversed(spec.choices):
            found.setdefault(c.casefold(), c)
            found.setdefault(c.rstrip(" ").casefold(), c)
    return found


def _src_other(spec: ColumnSpec, options: TypeOptions) -> Fn:
    return _identity


_SOURCE: dict[str, Callable[[ColumnSpec, TypeOptions], Fn]] = {
    "integer": _src_integer, "decimal": _src_decimal, "float": _src_float,
    "boolean": _src_boolean, "date": _src_date, "datetime": _src_datetime,
    "time": _src_time, "text": _src_text, "other": _src_other,
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
                    return (v if v.__class__ is str else _to_text(v)).rstrip(" ")
                except TypeError:
                    return v
            return fixed

        def text(v: Any) -> Any:
            if v is None or v.__class__ is str:
                return v
            try:
                return _to_text(v)
            except TypeError:
                return v
        return text
    if kind == "decimal":
        return _tgt_decimal(spec)
    if kind == "datetime":
        return _tgt_datetime(spec, options)
    # The remaining kinds read like the source with strict errors, falling back to the raw
    # value; their fast paths handle the values SQLAlchemy returns.
    lenient = TypeOptions(strip_text=False, zone=options.zone, empty_as_null=False)
    strict = source_coercer(replace(spec, bounds=None), lenient)
    fast: type = {"integer": int, "float": float, "boolean": bool, "date": date,
                  "time": time}[kind]
    truncate = _truncator(spec.fsp) if kind == "time" else None

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


def _tgt_decimal(spec: ColumnSpec) -> Fn:
    quant, _, _ = _decimal_parts(spec)
    ctx = Context(prec=max(spec.precision or 0, 60) + 40, traps=[InvalidOperation])

    def normalize(v: Any) -> Any:
        try:
            if v.__class__ is Decimal:
                d = v
            elif isinstance(v, float):
                d = Decimal(repr(v))
            elif isinstance(v, int | str) and not isinstance(v, bool):
                d = Decimal(v.strip() if isinstance(v, str) else v)
            else:
                return v
            if quant is not None and d.is_finite():
                d = d.quantize(quant, context=ctx)
            return d
        except (InvalidOperation, ValueError):
            return v

    return normalize


def _tgt_datetime(spec: ColumnSpec, options: TypeOptions) -> Fn:
    canon = _canon_datetime(spec, options)

    def normalize(v: Any) -> Any:
        try:
            if isinstance(v, datetime):
                return canon(v)
            if isinstance(v, str):
                return canon(datetime.fromisoformat(v))
        except (ValueError, OverflowError):
            pass
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
