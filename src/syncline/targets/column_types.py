"""A database's column types, both ways: what a column of it holds (:meth:`column_spec`,
the :class:`~syncline.spec.ColumnSpec` the rule book coerces for) and which of its types
holds every value of a source column (:meth:`faithful_type`, for ``--create-table``;
rules in docs/types.md, "Creating a table").

:class:`ColumnTypes` reads SQLAlchemy's generic types; a database's dialect class
(:mod:`syncline.targets.dialect`) adds its own types and limits by overriding the hooks.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql import sqltypes

from syncline.errors import ConfigError
from syncline.spec import ColumnSpec, Kind

#: earliest and latest values a date/datetime column holds
Bounds = tuple[datetime, datetime]
#: builds the error for a source column no type of the target holds, from the reason
Refuse = Callable[[str], ConfigError]


class ColumnTypes:
    """How a database's column types hold values: SQLAlchemy's generic types."""

    #: the database's name, for messages
    name: str
    #: text may hold the NUL character (PostgreSQL refuses it)
    nul_allowed = True
    #: fraction digits of a DATETIME/TIME column that does not say (MySQL: none)
    default_fsp = 6
    #: significant digits a 4-byte float is given back with (MySQL FLOAT: 6)
    real_digits: int | None = None
    #: ENUM values match whatever their case (MySQL/MariaDB), stored as declared
    fold_enum_choices = False
    #: a binary column's declared length is its limit (MySQL BINARY/VARBINARY)
    binary_length = False
    #: the driver hands JSON values back decoded (psycopg)
    json_decoded = False
    #: the least precision --create-table gives a decimal column inferred from a file
    least_decimal_precision = 18

    # -- reading a column ---------------------------------------------------------------
    def column_spec(self, column: sa.Column[Any] | Mapping[str, Any]) -> ColumnSpec:
        """The spec of a reflected or declared Core column (or an
        ``inspect().get_columns`` entry) of this database."""
        if isinstance(column, Mapping):
            name, t, nullable = column["name"], column["type"], column.get("nullable", True)
        else:
            name, t, nullable = column.name, column.type, column.nullable
        base: dict[str, Any] = dict(name=name, nullable=bool(nullable), sql_type=t)
        if not self.nul_allowed:
            base["nul_allowed"] = False
        if self.is_boolean(t):
            return ColumnSpec(kind="boolean", **base)
        if isinstance(t, sa.Integer):
            return ColumnSpec(kind="integer", int_bits=self.int_bits(t),
                              unsigned=bool(getattr(t, "unsigned", False)), **base)
        if isinstance(t, sa.Float):
            real = self.is_real(t)
            return ColumnSpec(kind="float", float_bits=32 if real else 64,
                              float_digits=self.real_digits if real else None, **base)
        if isinstance(t, sa.Numeric):
            scale = t.scale if t.scale is not None or t.precision is None else 0
            return ColumnSpec(kind="decimal", precision=t.precision, scale=scale, **base)
        if isinstance(t, sa.DateTime | sa.Time):
            kind: Kind = "datetime" if isinstance(t, sa.DateTime) else "time"
            fsp = self.fraction_digits(t)
            if kind == "datetime":
                base["bounds"] = self.datetime_bounds(t)
            return ColumnSpec(kind=kind, fsp=fsp, timezone=bool(t.timezone), **base)
        if isinstance(t, sa.Date):
            return ColumnSpec(kind="date", bounds=self.date_bounds(), **base)
        if isinstance(t, sa.Enum):
            return ColumnSpec(kind="text", choices=tuple(t.enums),
                              fold_choices=self.fold_enum_choices, **base)
        if isinstance(t, sa.String):
            return ColumnSpec(kind="text", length=t.length, max_bytes=self.text_max_bytes(t),
                              fixed=isinstance(t, sa.CHAR | sa.NCHAR), **base)
        if isinstance(t, sa.JSON):
            return ColumnSpec(kind="json", json_decoded=self.json_decoded, **base)
        if isinstance(t, sa.Uuid):
            return ColumnSpec(kind="uuid", **base)
        if isinstance(t, sqltypes._AbstractInterval):
            return ColumnSpec(kind="interval", **base)
        if isinstance(t, sqltypes._Binary):
            return ColumnSpec(kind="binary", length=t.length if self.binary_length else None,
                              **base)
        return ColumnSpec(kind="other", **base)

    def is_boolean(self, t: Any) -> bool:
        """The type holds true/false."""
        return isinstance(t, sa.Boolean)

    def int_bits(self, t: Any) -> int:
        """Bits an integer type holds (without its sign bit's doubling when unsigned)."""
        if isinstance(t, sa.SmallInteger):
            return 16
        return 64 if isinstance(t, sa.BigInteger) else 32

    def is_real(self, t: Any) -> bool:
        """A float type stores 4 bytes."""
        return isinstance(t, sa.REAL) or (t.precision is not None and t.precision <= 24)

    def fraction_digits(self, t: Any) -> int:
        """Fraction digits a datetime/time column of this database keeps."""
        fsp = getattr(t, "precision", None)
        return self.default_fsp if fsp is None else int(fsp)

    def datetime_bounds(self, t: Any) -> Bounds | None:
        """The range a datetime column holds, where narrower than Python's."""
        return None

    def date_bounds(self) -> Bounds | None:
        """The range a date column holds, where narrower than Python's."""
        return None

    def text_max_bytes(self, t: Any) -> int | None:
        """The most bytes (UTF-8) a text column holds, where less than its length says."""
        return None

    def spelled(self, t: Any) -> str:
        """The type as its own database spells it (``numeric``, ``TIMESTAMP WITH TIME
        ZONE``)."""
        compiler = self.type_compiler()
        if compiler is not None:
            try:
                return str(t.compile(dialect=compiler))
            except sa.exc.CompileError:
                pass
        try:
            return str(t)
        except sa.exc.CompileError:
            return type(t).__name__

    def type_compiler(self) -> sa.Dialect | None:
        """A SQLAlchemy dialect that spells this database's own types."""
        return None

    # -- creating a column -----------------------------------------------------------------
    def faithful_type(self, name: str, source_type: Any, source: ColumnTypes, *,
                      key: bool = False) -> Any:
        """A column type of this database that holds every value of ``source_type`` (a
        type of the database ``source``) exactly: precision, scale, fraction digits,
        length — or the widest type it has. A :class:`~syncline.errors.ConfigError` naming
        the column and its type when there is none (nothing has been created yet)."""
        t = source_type

        def refuse(why: str) -> ConfigError:
            return ConfigError(
                f"--create-table cannot create column {name!r} ({source.spelled(t)}) on"
                f" {self.name} without losing values: {why}; nothing was created. Create the"
                " table yourself with a type you choose", field=name)

        if source.is_boolean(t):
            return sa.Boolean()
        if isinstance(t, sa.Integer):
            return self.created_integer(t, source, refuse)
        if isinstance(t, sa.Float):
            return self.created_float(source.is_real(t))
        if isinstance(t, sa.Numeric):
            return self.created_decimal(t.precision, t.scale, refuse)
        if isinstance(t, sa.DateTime):
            return self.created_datetime(bool(t.timezone), _source_fsp(t, source))
        if isinstance(t, sa.Time):
            return self.created_time(_source_fsp(t, source))
        if isinstance(t, sa.Date):
            return sa.Date()
        if isinstance(t, sa.Enum):
            return self.created_text(max((len(e) for e in t.enums), default=1), False, key,
                                     refuse)
        if isinstance(t, sa.String):
            return self.created_text(t.length, isinstance(t, sa.CHAR | sa.NCHAR), key, refuse)
        if isinstance(t, sa.JSON):
            return self.created_json(t)
        if isinstance(t, sa.Uuid):
            return self.created_uuid(refuse)
        if isinstance(t, sa.LargeBinary | sa.BINARY | sa.VARBINARY):
            return self.created_binary()
        return self.created_other(t, refuse)

    def created_integer(self, t: Any, source: ColumnTypes, refuse: Refuse) -> Any:
        bits = source.int_bits(t) + bool(getattr(t, "unsigned", False))
        if bits <= 16:
            return sa.SmallInteger()
        if bits <= 32:
            return sa.Integer()
        if bits <= 64:
            return sa.BigInteger()
        return self.created_decimal(20, 0, refuse)  # BIGINT UNSIGNED

    def created_float(self, real: bool) -> Any:
        return sa.REAL() if real else sa.Double()

    def created_decimal(self, precision: int | None, scale: int | None, refuse: Refuse
                        ) -> Any:
        if precision is None:
            return sa.Numeric()
        return sa.Numeric(precision, scale or 0)

    def created_datetime(self, timezone: bool, fsp: int) -> Any:
        return sa.DateTime(timezone=timezone)

    def created_time(self, fsp: int) -> Any:
        return sa.Time()

    def created_text(self, length: int | None, fixed: bool, key: bool, refuse: Refuse) -> Any:
        if length is None:
            return sa.Text()
        return sa.CHAR(length) if fixed else sa.String(length)

    def created_json(self, t: Any) -> Any:
        return sa.JSON()

    def created_uuid(self, refuse: Refuse) -> Any:
        raise refuse(f"{self.name} has no uuid type")

    def created_binary(self) -> Any:
        return sa.LargeBinary()

    def created_other(self, t: Any, refuse: Refuse) -> Any:
        """A type none of the above is (intervals, arrays, ...)."""
        raise refuse(f"{self.name} has no type that holds it")


def _source_fsp(t: Any, source: ColumnTypes) -> int:
    """Fraction digits of a source's datetime/time column (its database's default where it
    does not say)."""
    fsp = getattr(t, "fsp", None)
    if fsp is None:
        fsp = getattr(t, "precision", None)
    return source.default_fsp if fsp is None else int(fsp)
