"""Column types for a new target table, inferred from a sample of CSV text
(``syncline sync --create-table`` with a file source). The rules are part of the rule
book in :mod:`syncline.types`."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any

import sqlalchemy as sa

from syncline.errors import ConfigError
from syncline.types import ColumnSpec, Kind, _parse_date

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
                _parse_date(s)
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


# -- column types for a new table, from a typed source ----------------------------------

#: significant digits a SQLite NUMERIC column keeps (it stores them as a 64-bit float)
SQLITE_DECIMAL_DIGITS = 15
#: VARCHAR(n) on MySQL/MariaDB up to this length; longer text is MEDIUMTEXT or LONGTEXT
#: (the row size limit of 65,535 bytes is shared by all VARCHAR columns of a table)
_MYSQL_VARCHAR = 255
#: a key column is indexed: InnoDB indexes at most 3,072 bytes (768 utf8mb4 characters)
_MYSQL_KEY_CHARS = 768


def faithful_type(name: str, source_type: Any, dialect: str, *, key: bool = False) -> Any:
    """A column type of ``dialect`` that holds every value of ``source_type`` exactly:
    precision, scale, fraction digits, length — or the widest type the target has. A
    :class:`~syncline.errors.ConfigError` naming the column and its type when there is
    none (nothing has been created yet). Rules: docs/types.md, "Creating a table"."""
    from sqlalchemy.dialects import mysql, postgresql

    my, lite = dialect in ("mysql", "mariadb"), dialect == "sqlite"
    t = source_type

    def refuse(why: str) -> ConfigError:
        return ConfigError(
            f"--create-table cannot create column {name!r} ({_spelled(t)}) on {dialect}"
            f" without losing values: {why}; nothing was created. Create the table yourself"
            " with a type you choose", field=name)

    if isinstance(t, sa.Boolean) or (isinstance(t, mysql.TINYINT) and t.display_width == 1):
        return sa.Boolean()
    if isinstance(t, sa.Integer):
        return _integer(t, dialect, refuse)
    if isinstance(t, sa.Float):
        real = isinstance(t, sa.REAL) or (t.precision is not None and t.precision <= 24) or (
            isinstance(t, mysql.FLOAT))
        return sa.REAL() if real and not lite else sa.Double()
    if isinstance(t, sa.Numeric):
        return _decimal(t.precision, t.scale, dialect, refuse)
    if isinstance(t, sa.DateTime):
        fsp = _fraction_digits(t)
        if my:
            return mysql.DATETIME(fsp=fsp)  # a zone is not kept: the wall time in --zone
        if lite:
            return sa.DateTime()  # text with microseconds
        return postgresql.TIMESTAMP(timezone=bool(t.timezone), precision=fsp)
    if isinstance(t, sa.Time):
        fsp = _fraction_digits(t)
        if my:
            return mysql.TIME(fsp=fsp)
        return sa.Time() if lite else postgresql.TIME(precision=fsp)
    if isinstance(t, sa.Date):
        return sa.Date()
    if isinstance(t, sa.Enum):
        return _text(max((len(e) for e in t.enums), default=1), False, dialect, key, refuse)
    if isinstance(t, sa.String):
        return _text(t.length, isinstance(t, sa.CHAR | sa.NCHAR), dialect, key, refuse)
    if isinstance(t, sa.JSON):
        if my or lite:
            return sa.JSON()
        return postgresql.JSONB() if isinstance(t, postgresql.JSONB) else postgresql.JSON()
    if isinstance(t, sa.Uuid):
        if my or lite:
            raise refuse(f"{dialect} has no uuid type")
        return postgresql.UUID()
    if isinstance(t, sa.LargeBinary | sa.BINARY | sa.VARBINARY):
        if my:
            return mysql.LONGBLOB()
        return sa.LargeBinary()
    if isinstance(t, sa.Interval) and dialect == "postgresql":
        return postgresql.INTERVAL()
    if isinstance(t, sa.ARRAY) and dialect == "postgresql":
        return t
    raise refuse(f"{dialect} has no type that holds it")


def _spelled(t: Any) -> str:
    """The type as its own database spells it (``numeric``, ``TIMESTAMP WITH TIME ZONE``)."""
    module = type(t).__module__.split(".")
    if len(module) > 2 and module[1] == "dialects":
        from sqlalchemy.dialects import mysql, postgresql, sqlite

        dialect = {"postgresql": postgresql.dialect, "mysql": mysql.dialect,
                   "sqlite": sqlite.dialect}.get(module[2])
        if dialect is not None:
            try:
                return str(t.compile(dialect=dialect()))
            except sa.exc.CompileError:
                pass
    try:
        return str(t)
    except sa.exc.CompileError:
        return type(t).__name__


def _fraction_digits(t: Any) -> int:
    """Fraction digits of a source's datetime/time column (6 where it does not say)."""
    fsp = getattr(t, "fsp", None)
    if fsp is None:
        fsp = getattr(t, "precision", None)
    if fsp is None:
        module = type(t).__module__
        fsp = 0 if ".mysql" in module else 6  # MySQL's DATETIME without fsp has none
    return int(fsp)


def _integer(t: Any, dialect: str, refuse: Callable[[str], ConfigError]) -> Any:
    from sqlalchemy.dialects import mysql

    if dialect in ("mysql", "mariadb") and ".mysql" in type(t).__module__:
        return t  # the same type, unsigned or not
    unsigned = bool(getattr(t, "unsigned", False))
    if isinstance(t, mysql.TINYINT):
        bits = 8
    elif isinstance(t, sa.SmallInteger):
        bits = 16
    elif isinstance(t, mysql.MEDIUMINT):
        bits = 24
    elif isinstance(t, sa.BigInteger):
        bits = 64
    else:
        bits = 32 if ".sqlite" not in type(t).__module__ else 64
    bits += unsigned
    if bits <= 16:
        return sa.SmallInteger()
    if bits <= 32:
        return sa.Integer()
    if bits <= 64:
        return sa.BigInteger()
    return _decimal(20, 0, dialect, refuse)  # BIGINT UNSIGNED


def _decimal(precision: int | None, scale: int | None, dialect: str,
             refuse: Callable[[str], ConfigError]) -> Any:
    from sqlalchemy.dialects import mysql

    if precision is None:
        if dialect in ("mysql", "mariadb"):
            return mysql.DECIMAL(65, 30)  # the widest; a value beyond it is a row error
        if dialect == "sqlite":
            raise refuse(f"SQLite keeps only {SQLITE_DECIMAL_DIGITS} significant digits of a"
                         " decimal")
        return sa.Numeric()
    scale = scale or 0
    if dialect in ("mysql", "mariadb") and (precision > 65 or scale > 30):
        raise refuse("MySQL/MariaDB decimals hold at most 65 digits, 30 after the point")
    if dialect == "sqlite" and precision > SQLITE_DECIMAL_DIGITS:
        raise refuse(f"SQLite keeps only {SQLITE_DECIMAL_DIGITS} significant digits of a"
                     " decimal")
    return sa.Numeric(precision, scale)


def _text(length: int | None, fixed: bool, dialect: str, key: bool,
          refuse: Callable[[str], ConfigError]) -> Any:
    from sqlalchemy.dialects import mysql

    if dialect not in ("mysql", "mariadb"):
        if length is None:
            return sa.Text()
        return sa.CHAR(length) if fixed else sa.String(length)
    if key:  # an indexed column must be VARCHAR: TEXT cannot be a key without a prefix
        if length is None or length > _MYSQL_KEY_CHARS:
            raise refuse(f"a key column on MySQL/MariaDB holds at most {_MYSQL_KEY_CHARS}"
                         " characters")
        return mysql.CHAR(length) if fixed and length <= 255 else mysql.VARCHAR(length)
    if length is not None and length <= _MYSQL_VARCHAR:
        return mysql.CHAR(length) if fixed else mysql.VARCHAR(length)
    # 4 bytes a character (utf8mb4): MEDIUMTEXT holds 16 MiB, LONGTEXT 4 GiB
    if length is not None and length * 4 <= 16_777_215:
        return mysql.MEDIUMTEXT()
    return mysql.LONGTEXT()
