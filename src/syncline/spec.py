"""What syncline knows about a target column (:class:`ColumnSpec`) and how values are read
(:class:`TypeOptions`), with the helpers every rule module shares. The rules themselves
are the rule book in :mod:`syncline.types`."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from typing import TYPE_CHECKING, Any, Literal, Protocol, get_args

from syncline.errors import CoercionError, ConfigError

if TYPE_CHECKING:
    import sqlalchemy as sa

Kind = Literal["integer", "decimal", "float", "boolean", "date", "datetime", "time", "text",
               "json", "uuid", "interval", "binary", "other"]
_KINDS = frozenset(get_args(Kind))
Fn = Callable[[Any], Any]

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
                    dialect: ColumnTyping) -> ColumnSpec:
        """The spec of a reflected or declared Core column (or an ``inspect().get_columns``
        entry) of the database ``dialect`` describes (a target's ``SqlTarget.dialect``, or
        ``syncline.targets.registry.dialect_for(engine.dialect.name)``)."""
        return dialect.column_spec(column)


class ColumnTyping(Protocol):
    """Knows how a database's column types hold values (a target's dialect)."""

    def column_spec(self, column: sa.Column[Any] | Mapping[str, Any]) -> ColumnSpec:
        """The spec of one of the database's columns."""
        ...


# -- helpers of the rule modules -------------------------------------------------------------

def quoted(value: Any) -> str:
    """A value as an error message shows it."""
    return repr(value) if isinstance(value, str) else repr(str(value))


def coercion_error(spec: ColumnSpec, raw: Any, message: str) -> CoercionError:
    return CoercionError(message, field=spec.name, value=raw)


def blank(spec: ColumnSpec, options: TypeOptions, raw: str, what: str) -> None:
    """Check a source string that is empty after stripping: None, or an error."""
    if not options.empty_as_null:
        raise coercion_error(spec, raw, f"an empty value is not {what}")


def identity(value: Any) -> Any:
    return value


def is_identity(function: Fn) -> bool:
    """True for a coercer/normalizer/to_db function that returns its value unchanged."""
    return function is identity


def missing_hint(s: str) -> str:
    """A hint for a value that looks like a missing-value token nobody configured."""
    if s.strip().lower() in _MISSING_LOOKALIKES:
        return f"; if it means a missing value, pass --null {s.strip()!r}"
    return ""
