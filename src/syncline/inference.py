"""Column types for a new target table, inferred from a sample of CSV text
(``syncline sync --create-table`` with a file source). The rules are part of the rule
book in :mod:`syncline.types`; the types of the target database that hold them are its
dialect's (``faithful_type`` in :mod:`syncline.targets.column_types`)."""

from __future__ import annotations

import re
from collections.abc import Iterable

import sqlalchemy as sa

from syncline.spec import ColumnSpec, Kind
from syncline.temporal import parse_date

_INFER_INT = re.compile(r"[+-]?(?:0|[1-9][0-9]*)")
_INFER_DEC = re.compile(r"[+-]?(?:0|[1-9][0-9]*)?\.([0-9]+)|[+-]?(?:0|[1-9][0-9]*)")
_INFER_DATETIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}"
                             r"(?::[0-9]{2}(?:\.[0-9]{1,6})?)?(Z|[+-][0-9]{2}:?[0-9]{2})?")
_BOOL_WORDS = {"true": True, "false": False, "yes": True, "no": False, "on": True,
               "off": False}
_I64 = 2 ** 63


def _infer(values: Iterable[str]) -> tuple[Kind, int, int, int, bool]:
    """(kind, integer digits, scale, longest text, aware) of a sample of source text."""
    ints = decs = dates = datetimes = bools = True
    aware = False
    int_digits = scale = longest = seen = 0
    for raw in values:
        if raw is None:
            continue
        s = raw.strip()
        if not s:
            continue
        seen += 1
        longest = max(longest, len(s))
        if ints or decs:
            if ints and not (_INFER_INT.fullmatch(s) and -_I64 <= int(s) < _I64):
                ints = False
            m = _INFER_DEC.fullmatch(s) if decs else None
            if m is None:
                ints = decs = False
            else:
                places = len(m.group(1) or "")
                scale = max(scale, places)
                int_digits = max(int_digits, len(s.lstrip("+-")) - places - (places > 0))
        if dates:
            try:
                parse_date(s)
            except ValueError:
                dates = False
        if datetimes:
            m = _INFER_DATETIME.fullmatch(s)
            if m is None:
                datetimes = False
            else:
                aware = aware or m.group(1) is not None
        if bools and s.lower() not in _BOOL_WORDS:
            bools = False
    kind: Kind = "text"
    if not seen:
        kind = "text"
    elif ints:
        kind = "integer"
    elif decs:
        kind = "decimal"
    elif bools:
        kind = "boolean"
    elif dates:
        kind = "date"
    elif datetimes:
        kind = "datetime"
    return kind, int_digits, scale, longest, aware


def infer_kind(values: Iterable[str]) -> Kind:
    """The kind of column for a sample of source text (see the module docs)."""
    return _infer(values)[0]


def infer_spec(name: str, values: Iterable[str], *, least_precision: int = 18) -> ColumnSpec:
    """A column spec, with a portable SQLAlchemy type, for a sample of source text.

    Decimals get the sample's largest scale and a precision of at least
    ``least_precision`` (18; SQLite: 15, what its NUMERIC keeps exactly); text up to
    255 characters becomes VARCHAR(255) (length enforced), longer text becomes TEXT.
    """
    kind, int_digits, scale, longest, aware = _infer(values)
    if kind == "integer":
        return ColumnSpec(name, kind, sql_type=sa.BigInteger())
    if kind == "decimal":
        precision = max(int_digits + scale, least_precision)
        return ColumnSpec(name, kind, precision=precision, scale=scale,
                          sql_type=sa.Numeric(precision, scale))
    if kind == "boolean":
        return ColumnSpec(name, kind, sql_type=sa.Boolean())
    if kind == "date":
        return ColumnSpec(name, kind, sql_type=sa.Date())
    if kind == "datetime":
        return ColumnSpec(name, kind, timezone=aware, sql_type=sa.DateTime(timezone=aware))
    if longest <= 255:
        return ColumnSpec(name, "text", length=255, sql_type=sa.String(255))
    return ColumnSpec(name, "text", sql_type=sa.Text())
