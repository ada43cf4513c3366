"""Every error syncline raises, under one root.

::

    SynclineError                 root: carries model, key, row, field, value, file, result
    ├── ConfigError               bad options, importer or handler definition
    ├── SourceError               a source could not be read (the run aborts; ``code``)
    │   ├── SourceDecodeError     undecodable bytes (line, byte offset)
    │   ├── SourceParseError      malformed file (line)
    │   ├── HeaderError           missing key/required column, unknown column (strict)
    │   └── TransientSourceError  connection lost, server down or busy: retry may help
    ├── CoercionError             a value does not fit the target column
    ├── KeyProblemError           NULL/blank keys or duplicate keys in the source
    ├── HookError                 a user hook raised or returned something unusable (``hook``)
    ├── RowErrors                 several row errors reported together (``errors``, ``total``)
    ├── GuardError                a guard refused the change set (``guard``, ``flag``)
    ├── OutputError               an output file (rejects) could not be written
    ├── TargetError               the target refused a write (driver error translated; ``code``)
    │   ├── RefusedRow            the target refused one row (``values``, ``unique``)
    │   ├── PartlyAppliedError    a target that cannot roll back failed mid-run (``applied``)
    │   └── TransientTargetError  connection lost, deadlock, lock timeout: retry may help
    ├── TransientError            what both transient errors are: ``isinstance`` is the
    │                             whole retry policy of a daemon
    └── AlreadyRunningError       another run holds the lock (``pid``, ``host``, ``since``)

Errors are raised with what is known at the place they happen; callers that know more
(the importer knows the model, the reader knows the row) fill it in with :meth:`locate`.
A failed run's :class:`~syncline.result.Result` is the error's ``result``. Every error
pickles with its data (a consumer in another process gets the same error back).

Whether a database error is transient is decided by the driver's error code — SQLSTATE
(psycopg), errno (PyMySQL), result code (sqlite3) — never by the words of its message:
:data:`DRIVER_CODES` is the table (docs/errors.md shows the same), :func:`classify` looks
a driver's exception up in it by its attributes; no driver is imported here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def _restore(cls: type[BaseException], args: tuple[Any, ...]) -> BaseException:
    """Unpickle an error without calling its ``__init__`` (whose keyword arguments the
    pickled ``args`` do not hold); its attributes come back as pickled state."""
    return cls.__new__(cls, *args)


class SynclineError(Exception):
    """Root of every syncline error; the attributes say where it happened."""

    #: the failed run's :class:`~syncline.result.Result` (counts so far, errors), when the
    #: error ended a run (typed loosely: results name errors, errors never import results)
    result: Any = None

    def __init__(
        self,
        message: str,
        *,
        model: str | None = None,
        key: Any = None,
        row: int | None = None,
        field: str | None = None,
        value: Any = None,
        file: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.model = model
        self.key = key
        self.row = row
        self.field = field
        self.value = value
        self.file = file

    def __reduce__(self) -> tuple[Any, ...]:
        # every attribute is data: it travels as state (``result`` and ``__notes__`` too)
        return _restore, (type(self), self.args), dict(self.__dict__)

    def locate(self, **where: Any) -> SynclineError:
        """Fill in location attributes that are still unknown; returns ``self``."""
        for name, value in where.items():
            if getattr(self, name, None) is None and value is not None:
                setattr(self, name, value)
        return self

    def where(self) -> str:
        """The location as words: ``file x.csv, row 7, key 'A1', column price``."""
        parts = []
        if self.file is not None:
            parts.append(f"file {self.file}")
        if self.model is not None:
            parts.append(f"model {self.model}")
        if self.row is not None:
            parts.append(f"row {self.row}")
        if self.key is not None:
            parts.append(f"key {format_key(self.key)}")
        if self.field is not None:
            parts.append(f"column {self.field}")
        if self.value is not None:
            parts.append(f"value {self.value!r}")
        return ", ".join(parts)

    def __str__(self) -> str:
        where = self.where()
        return f"{self.message} ({where})" if where else self.message

    def as_dict(self) -> dict[str, Any]:
        """A JSON-friendly description of the error."""
        return {
            "type": type(self).__name__,
            "message": self.message,
            "model": self.model,
            "key": _jsonable_key(self.key),
            "row": self.row,
            "field": self.field,
            "column": self.field,
            "value": None if self.value is None else str(self.value),
            "file": self.file,
        }


class ConfigError(SynclineError):
    """The options, importer or handler are not usable as given."""


class TransientError(SynclineError):
    """A failure that may pass on retry (a lost connection, a server that is down or
    starting, a deadlock, a lock wait over ``--lock-timeout``, a row changed by another
    session); nothing was written. Every other error fails the same way again until
    something is fixed: a daemon retries exactly ``isinstance(exc, TransientError)``."""


class SourceError(SynclineError):
    """The source could not be read completely; nothing is computed from a partial read.
    ``code``: the database driver's error code, when a database refused the read."""

    def __init__(self, message: str, *, code: str | int | None = None, **where: Any) -> None:
        super().__init__(message, **where)
        self.code = code

    def as_dict(self) -> dict[str, Any]:
        return {**super().as_dict(), "code": self.code}


class SourceDecodeError(SourceError):
    """Bytes in a file that the declared encoding cannot decode."""


class SourceParseError(SourceError):
    """A file that is not well-formed (unterminated quote, wrong field count...)."""


class HeaderError(SourceError):
    """The header lacks the key or a required column, or has an unknown one (strict)."""


class TransientSourceError(SourceError, TransientError):
    """The source database could not be read for a reason that may pass: the connection
    was lost, the server is down, starting up or has too many connections."""


class CoercionError(SynclineError):
    """A source value that does not fit the target column's type."""


class KeyProblemError(SynclineError):
    """Source keys that cannot be trusted: NULL, blank or duplicate."""

    def __init__(self, message: str, *, problems: Sequence[tuple[Any, list[int]]] = (),
                 **where: Any) -> None:
        super().__init__(message, **where)
        self.problems = list(problems)


class HookError(SynclineError):
    """A user hook (``normalize_source``, ``normalize_target``) raised, or returned what is
    not a record; ``hook`` names it, the hook's own exception is the ``__cause__``."""

    def __init__(self, message: str, *, hook: str, **where: Any) -> None:
        super().__init__(message, **where)
        self.hook = hook

    def as_dict(self) -> dict[str, Any]:
        return {**super().as_dict(), "hook": self.hook}


class RowErrors(SynclineError):
    """Several row errors found in one run, reported together."""

    def __init__(self, message: str, errors: Sequence[SynclineError], *,
                 total: int | None = None, **where: Any) -> None:
        super().__init__(message, **where)
        #: the errors kept (a capped list); ``total`` counts all of them
        self.errors = list(errors)
        self.total = max(total or 0, len(self.errors))


class GuardError(SynclineError):
    """A guard refused the change set before anything was written."""

    def __init__(self, message: str, *, guard: str, flag: str, **where: Any) -> None:
        super().__init__(message, **where)
        self.guard = guard
        self.flag = flag


class OutputError(SynclineError):
    """An output of the run (the rejects file) could not be written; the run rolls back."""


class TargetError(SynclineError):
    """The target refused a write; the driver's error is the ``__cause__`` and its code
    (SQLSTATE, errno, SQLite result code) is ``code``."""

    def __init__(self, message: str, *, code: str | int | None = None, **where: Any) -> None:
        super().__init__(message, **where)
        self.code = code

    def as_dict(self) -> dict[str, Any]:
        return {**super().as_dict(), "code": self.code}


class RefusedRow(TargetError):
    """One row the target refused; ``values`` are the row's (for the rejects file)."""

    def __init__(self, message: str, *, values: tuple[Any, ...] = (), unique: bool = False,
                 **where: Any) -> None:
        super().__init__(message, **where)
        self.values = values
        #: a unique key refused it: never skipped (see ``targets.refusals.refused_row``)
        self.unique = unique


class PartlyAppliedError(TargetError):
    """A target that cannot roll back (a web API) failed while applying: ``applied`` maps
    ``created``/``updated``/``deleted`` to the keys it applied, which stay applied."""

    def __init__(self, message: str, *, applied: dict[str, list[list[Any]]] | None = None,
                 **where: Any) -> None:
        super().__init__(message, **where)
        self.applied = applied or {"created": [], "updated": [], "deleted": []}

    def as_dict(self) -> dict[str, Any]:
        return {**super().as_dict(), "applied": self.applied}


class TransientTargetError(TargetError, TransientError):
    """A failure that may pass on retry: lost connection, deadlock, lock timeout."""


class QueueError(SynclineError):
    """The datasync queue could not be completed as claimed: another consumer took the
    changes over (this consumer's lease had expired). The run rolled back; the changes stay
    queued."""


class AlreadyRunningError(SynclineError):
    """Another run of the same importer against the same target holds the lock."""

    def __init__(self, message: str, *, pid: int | None, host: str | None,
                 since: str | None, **where: Any) -> None:
        super().__init__(message, **where)
        self.pid = pid
        self.host = host
        self.since = since


def format_key(key: Any) -> str:
    """A key as a person reads it: ``'A1'`` or ``('A1', 3)``."""
    if isinstance(key, tuple) and len(key) == 1:
        return repr(key[0])
    return repr(key)


def _jsonable_key(key: Any) -> Any:
    if key is None:
        return None
    if isinstance(key, tuple):
        return [str(part) if part is not None else None for part in key]
    return str(key)
