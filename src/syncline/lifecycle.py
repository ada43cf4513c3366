"""The import lifecycle's values: the context hooks receive, and each row's outcome.

The order in which the hooks are called is in docs/lifecycle.md. A leaf: it imports only
values (options, errors), so the importer, the engines, the result and the handler can
all use it.

* :class:`Context` is what ``before_run``, ``before_import`` and ``before_row`` receive.
* :class:`RowResult` is one row's outcome: ``new``, ``update``, ``delete``, ``skip`` or
  ``error``, with its key, source row number, the changed fields (old → new) and the error.
* :class:`RowsFile` is ``--rows-out FILE.jsonl``: one JSON object a line, streamed to a
  temporary file beside the final one and renamed into place after the commit.
* :func:`call_hook` runs one user hook: what it raises becomes a :class:`HookError`
  naming the hook, the model, the row and the key.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Literal

from syncline.errors import HookError, OutputError, SynclineError
from syncline.options import RunOptions

RowOp = Literal["new", "update", "delete", "skip", "error"]


@dataclass
class Context:
    """What a run tells its hooks: the handler, the options, the models of the run, the
    model being imported (None in ``before_run``), and ``state``: a dict the hooks of one
    run share (put what ``before_run`` looks up there for ``before_row`` to use)."""

    handler: str
    options: RunOptions
    models: list[str]
    model: str | None = None
    state: dict[str, Any] = field(default_factory=dict)

    @property
    def dry_run(self) -> bool:
        return self.options.dry_run

    def for_model(self, model: str) -> Context:
        """The same run, one model: ``state`` is shared, not copied."""
        return Context(self.handler, self.options, self.models, model, self.state)


@dataclass(frozen=True, slots=True)
class RowResult:
    """One row's outcome in one run.

    ``op`` is ``new``, ``update``, ``delete``, ``skip`` (left out by ``before_row``,
    treated as unchanged by ``skip_row``, or unchanged under ``--report-skipped``) or
    ``error``. ``row`` is the source row number (None for the delete of a target record
    the source lacks); ``changes`` maps each changed field to (old, new): every field
    with old None for ``new``, every field with new None for ``delete``."""

    model: str
    op: RowOp
    key: tuple[Any, ...]
    row: int | None = None
    changes: dict[str, tuple[Any, Any]] = field(default_factory=dict)
    error: str | None = None
    #: why a row was skipped (``before_row``, ``skip_row``, ``unchanged``)
    reason: str | None = None
    #: an error's Python traceback, where it has one (a hook's exception, its cause)
    traceback: str | None = field(default=None, repr=False)

    def as_dict(self, tracebacks: bool = False) -> dict[str, Any]:
        """JSON-friendly: the line ``--rows-out`` writes (the traceback with
        ``tracebacks``, as ``--traceback`` asks)."""
        data: dict[str, Any] = {"model": self.model, "op": self.op,
                                "key": [_plain(k) for k in self.key], "row": self.row}
        if self.changes:
            data["changes"] = {f: [_plain(a), _plain(b)] for f, (a, b) in self.changes.items()}
        if self.error is not None:
            data["error"] = self.error
        if self.reason is not None:
            data["reason"] = self.reason
        if tracebacks and self.traceback is not None:
            data["traceback"] = self.traceback
        return data


def _plain(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


def call_hook(hook: Callable[..., Any], name: str, *args: Any, **where: Any) -> Any:
    """Call the user hook ``hook`` (called ``name``); what it raises becomes a
    :class:`HookError` naming the hook and ``where`` (model, row, key), the hook's own
    exception as its ``__cause__`` (shown with ``--traceback``)."""
    try:
        return hook(*args)
    except HookError:
        raise
    except Exception as exc:  # the user's code: any failure is named
        error = HookError(f"{name} raised {type(exc).__name__}: {exc}", hook=name, **where)
        raise error from exc


def call_after_run(hook: Callable[[Any, BaseException | None], None], result: Any,
                   error: BaseException | None) -> None:
    """A handler's ``after_run`` hook: what it raises after a run that succeeded is the
    run's error (the commit stands); after a failed run, a note on the run's error. A
    failed run's error is the result's (a SynclineError) and carries it (``.result``: the
    CLI must know whether it committed), before the hook sees either."""
    if error is not None:
        if isinstance(error, SynclineError):
            result.error = error
        error.result = result  # type: ignore[attr-defined]
    try:
        call_hook(hook, "after_run", result, error)
    except HookError as exc:
        if error is None:
            exc.result = result
            raise
        error.add_note(f"after_run failed too: {exc}")

class RowsFile:
    """``--rows-out FILE.jsonl``: row results streamed to a temporary file in the same
    folder (bounded memory: a line at a time), fsynced, and renamed into place after the
    commit. A dry run, a refused or a failed run leave no file."""

    def __init__(self, path: Path, tracebacks: bool = False) -> None:
        self.path = path
        self.tracebacks = tracebacks
        self._temp: Path | None = None
        self._handle: IO[str] | None = None

    def _open(self) -> IO[str]:
        """The temporary file beside the destination, made on first use."""
        if self._handle is None:
            self._handle = tempfile.NamedTemporaryFile(
                "w", encoding="utf-8", dir=self.path.parent, prefix=f".{self.path.name}.",
                suffix=".tmp", delete=False)
            self._temp = Path(self._handle.name)
        return self._handle

    def write(self, row: RowResult) -> None:
        try:
            self._open().write(json.dumps(row.as_dict(self.tracebacks), default=str) + "\n")
        except OSError as exc:
            self.discard()
            raise OutputError(f"cannot write the rows file {self.path}: {exc.strerror or exc};"
                              " nothing was written", file=str(self.path)) from exc

    def finish(self) -> None:
        """Flush and fsync the temporary file (before the commit); an empty run's file is
        created empty."""
        try:
            handle = self._open()
            handle.flush()
            os.fsync(handle.fileno())
            handle.close()
        except OSError as exc:
            self.discard()
            raise OutputError(f"cannot write the rows file {self.path}: {exc.strerror or exc};"
                              " nothing was written", file=str(self.path)) from exc

    def publish(self) -> None:
        """Put the written file in place (after the commit)."""
        if self._temp is None:
            return
        try:
            os.replace(self._temp, self.path)
        except OSError as exc:
            raise OutputError(f"the run committed, but the rows file could not be renamed to"
                              f" {self.path} ({exc.strerror or exc}); the rows are in"
                              f" {self._temp}", file=str(self.path)) from exc
        self._temp = None

    def discard(self) -> None:
        """Remove the temporary file (a run that did not commit writes nothing)."""
        if self._handle is not None:
            self._handle.close()
            self._handle = None
        if self._temp is not None:
            self._temp.unlink(missing_ok=True)
            self._temp = None
