"""Every error syncline raises, under one root.

::

    SynclineError                 root: carries model, key, row, field, value, file
    ├── ConfigError               bad options, importer or handler definition
    ├── SourceError               a source could not be read (the run aborts)
    │   ├── SourceDecodeError     undecodable bytes (line, byte offset)
    │   ├── SourceParseError      malformed file (line)
    │   └── HeaderError           missing key/required column, unknown column (strict)
    ├── CoercionError             a value does not fit the target column
    ├── KeyProblemError           NULL/blank keys or duplicate keys in the source
    ├── HookError                 a user hook raised or returned something unusable (``hook``)
    ├── RowErrors                 several row errors reported together (``errors``)
    ├── GuardError                a guard refused the change set (``guard``, ``flag``)
    ├── OutputError               an output file (rejects) could not be written
    ├── TargetError               the target refused a write (driver error translated)
    │   └── TransientTargetError  connection lost, deadlock, lock timeout: retry may help
    └── AlreadyRunningError       another run holds the lock (``pid``, ``host``, ``since``)

Errors are raised with what is known at the place they happen; callers that know more
(the importer knows the model, the reader knows the row) fill it in with :meth:`locate`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


class SynclineError(Exception):
    """Root of every syncline error; the attributes say where it happened."""

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


class SourceError(SynclineError):
    """The source could not be read completely; nothing is computed from a partial read."""


class SourceDecodeError(SourceError):
    """Bytes in a file that the declared encoding cannot decode."""


class SourceParseError(SourceError):
    """A file that is not well-formed (unterminated quote, wrong field count...)."""


class HeaderError(SourceError):
    """The header lacks the key or a required column, or has an unknown one (strict)."""


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
    """The target refused a write; the driver's error is the ``__cause__``."""


class TransientTargetError(TargetError):
    """A failure that may pass on retry: lost connection, deadlock, lock timeout."""


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
